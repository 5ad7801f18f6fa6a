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


class Inputs:
    """What one resolve read from the host, recorded by :func:`recording` for the resolve
    cache (:mod:`landscape.resolvecache`): every ``paths`` looked at (config files, variant
    files, manifests — present or not), every path whose ``reals`` (symlinks resolved) it
    used, the environment variables (``env``) config expanded, the folders whose hidden
    entries it listed (``listings``), the package ``repositories`` it searched, the package
    folders (``trees``) whose content digests went into the image key, and why the answer
    must not be kept at all (``uncacheable``, e.g. a relative ``--time``)."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.reals: set[str] = set()
        self.env: set[str] = set()
        self.listings: set[str] = set()
        self.repositories: set[str] = set()
        self.trees: set[str] = set()
        self.uncacheable: str | None = None


_INPUTS: contextvars.ContextVar[Inputs | None] = contextvars.ContextVar(
    "landscape_inputs", default=None)


@contextlib.contextmanager
def recording() -> Iterator[Inputs]:
    """Record, into the yielded :class:`Inputs`, what the layers read inside the block."""
    inputs = Inputs()
    token = _INPUTS.set(inputs)
    try:
        yield inputs
    finally:
        _INPUTS.reset(token)


def note(kind: str, value: str) -> None:
    """Record that ``value`` (a path, variable name…) of ``kind`` (an :class:`Inputs` set:
    ``paths``, ``reals``, ``env``, ``listings``, ``repositories``, ``trees``) was read —
    or, for ``uncacheable``, why nothing may be kept. Free outside :func:`recording`."""
    inputs = _INPUTS.get()
    if inputs is None:
        return
    if kind == "uncacheable":
        inputs.uncacheable = inputs.uncacheable or value
    else:
        getattr(inputs, kind).add(value)
