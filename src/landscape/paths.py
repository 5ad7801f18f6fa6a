"""Host paths as Landscape names them (standard library only, light to import).

:func:`absolute` is the path a user wrote, made absolute (symlinks kept: storage paths stay
the paths users see); :func:`context_path` what a command-line context names;
:func:`real` the canonical form policy judges (symlinks resolved).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .memo import note as _note
from .memo import table as _memo


def absolute(path: str | Path) -> Path:
    """``path`` made absolute and normalised, without resolving symlinks (storage paths
    must stay the paths users see)."""
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(str(path)))))


def context_path(path: str | Path, root: Path | None = None) -> Path:
    """The absolute path a command-line ``path`` names. With ``root`` (``--root`` /
    ``LANDSCAPE_ROOT``), a relative path that does not lie below the root from the working
    directory is taken relative to the root instead (``projects/x/sh010`` from anywhere)."""
    p = absolute(path)
    if root is None or Path(path).is_absolute():
        return p
    root = absolute(root)
    if p == root or root in p.parents:
        return p
    return absolute(root / path)


def real(path: str | os.PathLike) -> str:
    """The canonical form of a host path: absolute, with every symlink resolved (memoised
    within a :func:`landscape.memo.scope`: one pass over many contexts asks for the same
    paths thousands of times)."""
    memo = _memo("real")
    key = os.fspath(path)
    _note("reals", key)
    if memo is None:
        return os.path.realpath(os.path.abspath(key))
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _real_memo(os.path.abspath(key), memo)
    return hit


def _real_memo(path: str, memo: dict[str, str]) -> str:
    """:func:`real` of the absolute ``path`` from its folder's memoised real path: the
    folder's real path joined with the last name, when that name is not a symlink (what
    ``os.path.realpath`` does, one ``lstat`` instead of one per component)."""
    path = os.path.normpath(path)
    head, name = os.path.split(path)
    if not name or name in (".", ".."):
        return os.path.realpath(path)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return os.path.realpath(path)
    except OSError:
        return os.path.realpath(path)
    parent = memo.get(head)
    if parent is None:
        parent = memo[head] = _real_memo(head, memo)
    return os.path.join(parent, name)


def hidden_entries(root: str | os.PathLike) -> tuple[str, ...]:
    """The hidden entries (``.git``, ``.landscape``…) at the top of folder ``root``, as
    paths, sorted; ``()`` when it cannot be listed."""
    try:
        return tuple(os.path.join(os.fspath(root), n) for n in sorted(os.listdir(root))
                     if n.startswith("."))
    except OSError:
        return ()
