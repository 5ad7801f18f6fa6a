"""Errors and diagnostics.

Every user-facing error in Landscape is a :class:`LandscapeError`. Errors that come
from a config file carry a :class:`Location` (file, 1-based line and column) and the
dotted key path inside that file, and render as ``file:line:col: key.path: message`` —
the shape docs/commands.md describes. The CLI prints them and exits 1; it never shows a
traceback for them unless ``--debug`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a config file: absolute ``file`` path, 1-based ``line`` and ``col``."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        name = rel(self.file)
        if not self.line:
            return name
        return f"{name}:{self.line}:{self.col}"

    @property
    def short(self) -> str:
        """``file:line`` — the form provenance (``from``) uses in ``resolve --explain``."""
        return f"{self.file}:{self.line}" if self.line else self.file


def format_key_path(path: Sequence[object]) -> str:
    """Render a key path like ``("tools", "blender", "packages", 0)`` as
    ``tools.blender.packages[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class LandscapeError(Exception):
    """A user error: bad config, unsolvable request, missing image, engine refusal.

    ``location`` (optional) says where in a config file; ``key_path`` which key.
    ``str(err)`` is the one-line ``file:line:col: key.path: message`` form.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        key_path: Sequence[object] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.key_path = tuple(key_path)
        self.hint = hint

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.key_path:
            parts.append(format_key_path(self.key_path))
        parts.append(self.message + (f" ({self.hint})" if self.hint else ""))
        return ": ".join(parts)

    def sort_key(self) -> tuple:
        loc = self.location or Location("")
        return (loc.file, loc.line, loc.col, self.message)


class ConfigError(LandscapeError):
    """An error in a config file (syntax, schema, merge tag, template, policy)."""


class ResolveError(LandscapeError):
    """A package request rez cannot satisfy, or a rez error while solving (message is rez's).

    ``reason`` holds rez's own words (the failure description or the exception text).
    """

    reason: str = ""


class EngineError(LandscapeError):
    """The Docker engine or Compose refused or failed (message says which and why)."""


class ErrorGroup(LandscapeError):
    """Several errors reported together (``check`` reports all errors, not the first)."""

    def __init__(self, errors: Iterable[LandscapeError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} error(s)")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in sorted(self.errors, key=LandscapeError.sort_key))

    @classmethod
    def raise_if_any(cls, errors: Iterable[LandscapeError]) -> None:
        """Raise the single error, or an :class:`ErrorGroup` of all, if ``errors`` is non-empty."""
        errors = list(errors)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise cls(errors)


def flatten(err: LandscapeError) -> list[LandscapeError]:
    """The individual errors inside ``err`` (itself unless it is an :class:`ErrorGroup`)."""
    if isinstance(err, ErrorGroup):
        out: list[LandscapeError] = []
        for e in err.errors:
            out.extend(flatten(e))
        return out
    return [err]


def rel(path: str | Path) -> str:
    """A path shown to users: relative to the working directory when below it, else absolute."""
    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)
