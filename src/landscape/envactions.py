"""Environment actions applied over rez's environment (docs/config.md).

An action is ``(op, value)``: ``set`` (a string, or a list joined with ``:``), ``prepend``
and ``append`` (path elements), ``unset``. ``${VAR}`` in a value expands against the
environment as it stands when the action is applied, so
``PYTHONPATH: [/studio/python, "${PYTHONPATH}"]`` keeps what the packages set — the model of
rez's own ``setenv`` / ``prependenv`` / ``appendenv`` / ``unsetenv``. Empty path elements
(e.g. from an unset ``${VAR}``) are dropped. Containers are Linux: the separator is ``:``.

This module uses only the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, MutableMapping

SEP = ":"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class EnvAction:
    """One action on one variable: ``op`` in set/prepend/append/unset, ``value`` a string or
    list of strings (``None`` for unset), ``origin`` the ``file:line`` that wrote it."""

    var: str
    op: str
    value: Any
    origin: str = ""

    def to_json(self) -> dict:
        out = {"op": self.op, "from": self.origin}
        if self.op != "unset":
            out["value"] = self.value
        return out


def expand(text: str, environ: MutableMapping[str, str]) -> str:
    """``text`` with each ``${VAR}`` replaced by ``environ[VAR]`` (empty when unset)."""
    return _VAR.sub(lambda m: environ.get(m.group(1), ""), text)


def _elements(value: Any, environ: MutableMapping[str, str]) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        text = expand(_scalar(item), environ)
        out.extend(p for p in text.split(SEP) if p)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def apply_action(environ: MutableMapping[str, str], action: EnvAction) -> None:
    """Apply one action to ``environ`` in place."""
    if action.op == "unset":
        environ.pop(action.var, None)
    elif action.op == "set":
        if isinstance(action.value, (list, tuple)):
            environ[action.var] = SEP.join(_elements(action.value, environ))
        else:
            environ[action.var] = expand(_scalar(action.value), environ)
    elif action.op in ("prepend", "append"):
        current = [p for p in environ.get(action.var, "").split(SEP) if p]
        added = _elements(action.value, environ)
        parts = added + current if action.op == "prepend" else current + added
        environ[action.var] = SEP.join(parts)
    else:  # pragma: no cover - the merge layer only makes the four ops
        raise ValueError(f"unknown env action {action.op!r}")


def apply_actions(environ: MutableMapping[str, str], actions: Iterable[EnvAction]) -> None:
    """Apply ``actions`` to ``environ`` in order, in place."""
    for action in actions:
        apply_action(environ, action)
