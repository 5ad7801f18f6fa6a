"""Memo tables that live for one pass over many contexts (standard library only).

``plan`` and ``check`` walk thousands of contexts that share most of their inputs: the same
studio root, project and sequence files, the same symlink-free paths, the same requests.
Inside :func:`scope` the layers memoise such shared work in named tables (``table(name)``);
outside any scope ``table`` returns ``None`` and every call computes afresh — so a
long-running process (or a single ``resolve``) never sees a stale answer, and one pass never
sees a file change half-way through.

Tables are plain dicts keyed by the caller; a key built from object identities must hold a
reference to those objects in its value (ids are reused once an object is gone).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
from typing import Any, Iterator

_TABLES: contextvars.ContextVar[dict[str, dict] | None] = contextvars.ContextVar(
    "landscape_memo", default=None)


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Memoise shared work until the block ends (nested scopes share the outer tables).

    The block also runs without Python's automatic cyclic garbage collector (collected once
    at the end): a pass builds tens of thousands of small, acyclic node trees, and the
    collector's repeated scans of them cost as much as building them (measured: 40 % of a
    10,000-shot plan)."""
    if _TABLES.get() is not None:
        yield
        return
    token = _TABLES.set({})
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _TABLES.reset(token)
        if collecting:
            gc.enable()


def table(name: str) -> dict[Any, Any] | None:
    """The memo table ``name`` of the current scope, ``None`` outside any scope."""
    tables = _TABLES.get()
    if tables is None:
        return None
    return tables.setdefault(name, {})
