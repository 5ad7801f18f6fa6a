"""What the launcher keeps per user: recents, favourites, the last selection and the
window's layout — one JSON file, ``launcher.json``, in the user's config folder (no Qt).

The file is the user's own but is read as untrusted input: at most :data:`MAX_BYTES` are
read (never from a FIFO, a device or through a link), and every value must have its type
(paths and names are strings without NUL, exit codes integers, layout values base64). A
file that is not such a document is set aside as ``launcher.json.bad`` and the launcher
starts empty, with :attr:`LauncherSettings.message` saying so. Every change is written at
once, atomically (a temporary file renamed over the old one), so a crash never leaves half a
file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_NAME = "launcher.json"
#: the largest settings file read (a bigger one is set aside)
MAX_BYTES = 1 << 20
#: recents kept, newest first
MAX_RECENTS = 50
#: favourites kept (a file listing more is set aside)
MAX_FAVOURITES = 1000
#: the longest path or name accepted
MAX_TEXT = 4096
#: the longest layout value (base64 of Qt's saved geometry/state)
MAX_LAYOUT = 64 * 1024
FORMAT = 1
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


def default_folder() -> Path:
    """``$XDG_CONFIG_HOME/landscape``, else ``~/.config/landscape``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".config")
    return Path(base) / "landscape"


@dataclass(frozen=True)
class Recent:
    """One launch: ``context`` (an absolute path), ``tool`` and tool ``variant`` (``None``:
    the default), ``when`` it started (ISO 8601, UTC) and its ``exit_code`` (``None`` when
    it never started)."""

    context: str
    tool: str
    variant: str | None
    when: str
    exit_code: int | None


@dataclass(frozen=True)
class Favourite:
    """A starred ``context``, or a context with a ``tool`` (``None``: the context alone)."""

    context: str
    tool: str | None = None


@dataclass(frozen=True)
class Selection:
    """The last selected ``context`` and ``tool`` (``None``: none)."""

    context: str
    tool: str | None = None


class SettingsError(ValueError):
    """A settings file that is not a launcher settings document (the reason)."""


def _text(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or "\0" in value or len(value) > MAX_TEXT:
        raise SettingsError(f"{what} is not a string of at most {MAX_TEXT} characters")
    return value


def _exit_code(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(1 << 31) <= value < 1 << 31:
        raise SettingsError("an exit code is not an integer")
    return value


def _when(value: Any) -> str:
    text = _text(value, "a launch time")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError("a launch time is not an ISO date-time") from None
    return text


def _items(data: dict, key: str, limit: int) -> list:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise SettingsError(f"{key} is not a list")
    if len(items) > limit:
        raise SettingsError(f"{key} holds more than {limit} items")
    for item in items:
        if not isinstance(item, dict):
            raise SettingsError(f"an item of {key} is not an object")
    return items


def parse(data: Any) -> tuple[list[Recent], list[Favourite], Selection | None,
                              dict[str, str]]:
    """``(recents, favourites, last selection, layout)`` of a decoded settings document.
    Raises :class:`SettingsError` naming the first value that is not what it must be."""
    if not isinstance(data, dict):
        raise SettingsError("the file is not a JSON object")
    if data.get("format", FORMAT) != FORMAT:
        raise SettingsError(f"format {data.get('format')!r} is not {FORMAT}")
    recents = [Recent(_text(r.get("context"), "a recent context"),
                      _text(r.get("tool"), "a recent tool"),
                      _text(r.get("variant"), "a recent variant", optional=True),
                      _when(r.get("when")), _exit_code(r.get("exit_code")))
               for r in _items(data, "recents", MAX_RECENTS)]
    favourites = [Favourite(_text(f.get("context"), "a favourite context"),
                            _text(f.get("tool"), "a favourite tool", optional=True))
                  for f in _items(data, "favourites", MAX_FAVOURITES)]
    last = data.get("last_selection")
    if last is not None:
        if not isinstance(last, dict):
            raise SettingsError("last_selection is not an object")
        last = Selection(_text(last.get("context"), "the last context"),
                         _text(last.get("tool"), "the last tool", optional=True))
    return recents, list(dict.fromkeys(favourites)), last, _layout(data.get("layout", {}))


def _layout(layout: Any) -> dict[str, str]:
    """``layout`` when it is a small map of names to base64 text, else
    :class:`SettingsError`."""
    if not isinstance(layout, dict) or len(layout) > 64:
        raise SettingsError("layout is not an object of a few values")
    for k, v in layout.items():
        _text(k, "a layout name")
        if not isinstance(v, str) or len(v) > MAX_LAYOUT or not _BASE64.match(v):
            raise SettingsError(f"layout value {k[:40]!r} is not base64 text")
    return dict(layout)


def read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of the regular file ``path`` (``None`` when there is none). Raises
    :class:`SettingsError` for a link, a FIFO or another file that is not regular, or one
    larger than ``limit`` bytes; ``OSError`` when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        if os.path.islink(path):
            raise SettingsError("the file is a symbolic link") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SettingsError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SettingsError(f"larger than {limit} bytes")
    return data


class LauncherSettings:
    """The launcher's per-user state in ``folder`` (default :func:`default_folder`).

    Attributes (read them; change them with the methods, which save at once):
    ``recents`` (:class:`Recent`, newest first, at most :data:`MAX_RECENTS`),
    ``favourites`` (:class:`Favourite`), ``last_selection`` (:class:`Selection` or
    ``None``), ``layout`` (name → base64 text: the window's geometry, state, splitters) and
    ``message``: why the file was set aside or could not be written (``None`` when all is
    well). Thread-safe; never raises for a bad file or a folder that cannot be written."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self.path = self.folder / FILE_NAME
        self.recents: list[Recent] = []
        self.favourites: list[Favourite] = []
        self.last_selection: Selection | None = None
        self.layout: dict[str, str] = {}
        self.message: str | None = None
        self._lock = threading.RLock()
        self.load()

    # -- reading and writing ------------------------------------------------------------

    def load(self) -> None:
        """Read the file again (see the class doc: a bad one is set aside)."""
        with self._lock:
            self.recents, self.favourites, self.last_selection, self.layout = [], [], None, {}
            try:
                data = read_bounded(self.path)
                if data is None:
                    return
                try:
                    doc = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    raise SettingsError("not a JSON document") from None
                self.recents, self.favourites, self.last_selection, self.layout = parse(doc)
            except SettingsError as e:
                self._set_aside(str(e))
            except OSError as e:
                self.message = f"{self.path}: cannot be read ({e.strerror or e}); starting empty"

    def _set_aside(self, why: str) -> None:
        bad = self.path.with_name(FILE_NAME + ".bad")
        try:
            os.replace(self.path, bad)
            where = f"kept aside as {bad}"
        except OSError as e:
            where = f"could not be kept aside ({e.strerror or e})"
        self.message = f"{self.path}: {why}; {where}; starting empty"

    def to_json(self) -> dict:
        """The document :meth:`save` writes."""
        return {"format": FORMAT,
                "recents": [{"context": r.context, "tool": r.tool, "variant": r.variant,
                             "when": r.when, "exit_code": r.exit_code} for r in self.recents],
                "favourites": [{"context": f.context, "tool": f.tool}
                               for f in self.favourites],
                "last_selection": None if self.last_selection is None else {
                    "context": self.last_selection.context,
                    "tool": self.last_selection.tool},
                "layout": dict(self.layout)}

    def save(self) -> bool:
        """Write the file atomically (a temporary file in the folder, then renamed; mode
        0600; the folder made 0700 when missing). ``False`` (and :attr:`message` says why)
        when it cannot be written."""
        with self._lock:
            data = json.dumps(self.to_json(), indent=1).encode("ascii")
            tmp = None
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=self.folder)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                tmp = None
            except OSError as e:
                self.message = f"{self.path}: cannot be written ({e.strerror or e})"
                return False
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
            return True

    # -- changes ------------------------------------------------------------------------

    def add_recent(self, context: Path | str, tool: str, variant: str | None,
                   exit_code: int | None, when: str | None = None) -> Recent:
        """Record a launch (newest first; the same context, tool and variant launched before
        moves up; at most :data:`MAX_RECENTS` kept) and save. ``when`` defaults to now (UTC).
        Raises :class:`SettingsError` for a value that is not of its type."""
        when = when or datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        recent = Recent(_text(str(context), "a context"), _text(tool, "a tool"),
                        _text(variant or None, "a variant", optional=True), _when(when),
                        _exit_code(exit_code))
        with self._lock:
            same = (recent.context, recent.tool, recent.variant)
            self.recents = [recent] + [r for r in self.recents
                                       if (r.context, r.tool, r.variant) != same]
            del self.recents[MAX_RECENTS:]
            self.save()
        return recent

    def is_favourite(self, context: Path | str, tool: str | None = None) -> bool:
        """Whether ``context`` (with ``tool``, or alone) is a favourite."""
        return Favourite(str(context), tool or None) in self.favourites

    def toggle_favourite(self, context: Path | str, tool: str | None = None) -> bool:
        """Star or unstar ``context`` (with ``tool``, or alone) and save; whether it is a
        favourite now."""
        fav = Favourite(_text(str(context), "a context"), _text(tool or None, "a tool",
                                                                optional=True))
        with self._lock:
            if fav in self.favourites:
                self.favourites = [f for f in self.favourites if f != fav]
                on = False
            else:
                if len(self.favourites) >= MAX_FAVOURITES:
                    self.favourites.pop(0)
                self.favourites.append(fav)
                on = True
            self.save()
        return on

    def set_last_selection(self, context: Path | str | None, tool: str | None = None) -> None:
        """Remember the selection (``None``: none) and save."""
        with self._lock:
            self.last_selection = None if context is None else Selection(
                _text(str(context), "a context"), _text(tool or None, "a tool", optional=True))
            self.save()

    def set_layout(self, layout: dict[str, str]) -> None:
        """Remember the window's layout (name → base64 text) and save. Raises
        :class:`SettingsError` for a value that is not base64 text."""
        layout = _layout(layout)
        with self._lock:
            self.layout = layout
            self.save()
