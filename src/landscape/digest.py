"""Content digests of package folders (standard library only).

Image keys and override companions name packages by what they contain, not where they are,
so the same repository checked out at two paths gives the same keys.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .memo import note

_DIGESTS: dict[str, str] = {}
#: Never part of a digest nor copied into an image: byte-code caches Python writes beside
#: sources whenever someone imports them (from a shared package repository, or from an
#: installed Landscape), so they differ between machines and installs.
IGNORED_DIRS = frozenset({"__pycache__"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


def ignored(name: str) -> bool:
    """Whether a file or folder ``name`` is left out of digests and image payloads."""
    return name in IGNORED_DIRS or name.endswith(IGNORED_SUFFIXES)


def tree_digest(path: str) -> str:
    """sha256 over the relative paths, contents, owner-executable bit and symlink targets of
    every file below ``path`` (sorted), memoised per process. Nothing else of a file counts:
    not its owner, group/other mode bits (umask), mtime or the folder it sits in, and
    :func:`ignored` entries (``__pycache__``, ``*.pyc``) are skipped — so the same content
    gives the same digest from any checkout, install or machine. A missing path digests its
    name.

    Kept on disk too (Landscape's cache, ``digests/``), keyed by the real path and its
    :func:`tree_signature`: a gigabyte payload is read once, not at every resolve."""
    note("trees", path)
    hit = _DIGESTS.get(path)
    if hit is not None:
        return hit
    signature = tree_signature(path)
    stored = _stored_digest(path, signature)
    if stored is not None:
        _DIGESTS[path] = stored
        return stored
    digest = _content_digest(path)
    _store_digest(path, signature, digest)
    _DIGESTS[path] = digest
    return digest


def fresh_tree_digest(path: str) -> str:
    """:func:`tree_digest` of ``path`` as it is on disk **now**: never from this process's
    memo (a launch agent lives for many launches), only from the on-disk digest cache entry
    of the path's current :func:`tree_signature` — one ``lstat`` per entry when nothing
    changed, the whole content read (and the entry kept) when anything did. What a launch
    verifies a mounted payload with (docs/locking.md, "Mounted payloads")."""
    signature = tree_signature(path)
    stored = _stored_digest(path, signature)
    if stored is not None:
        return stored
    digest = _content_digest(path)
    if tree_signature(path) == signature:  # unchanged while it was read: worth keeping
        _store_digest(path, signature, digest)
    return digest


#: The files of a package folder rez reads to load the package (its filesystem repository's
#: ``package_filenames`` in both formats): what an image keeps of a package whose payload is
#: mounted at launch instead (``delivery: mount``).
DEFINITION_FILES = ("package.py", "package.yaml")


def definition_digest(path: str) -> str:
    """sha256 over the definition files (:data:`DEFINITION_FILES`) at the top of package
    folder ``path``, as :func:`tree_digest` would count them (name, owner-executable bit and
    content, or a symlink's target); a file that is absent counts nothing. Reads a few small
    files and records each (``paths``) for the resolve cache; the payload is never read."""
    h = hashlib.sha256()
    for name in DEFINITION_FILES:
        full = os.path.join(path, name)
        note("paths", full)
        h.update(name.encode() + b"\0")
        if os.path.islink(full):
            h.update(b"L" + os.readlink(full).encode() + b"\0")
        elif os.path.isfile(full):
            with open(full, "rb") as f:
                data = f.read()
            h.update((b"X" if os.stat(full).st_mode & 0o100 else b"F") +
                     hashlib.sha256(data).digest())
        else:
            h.update(b"-")
    return h.hexdigest()


def definition_size(path: str) -> int:
    """Bytes of the regular definition files at the top of package folder ``path``."""
    total = 0
    for name in DEFINITION_FILES:
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue
        total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


def tree_signature(path: str) -> str:
    """sha256 over what ``stat`` tells of every entry below ``path`` (relative path, type,
    size, modification and change times in ns, inode, owner-x bit, symlink target) — what
    :func:`tree_digest` covers, without reading a byte of content. Any write to a file
    changes its change time, so an unchanged signature means unchanged content (short of
    someone resetting the clock and the inode)."""
    h = hashlib.sha256()
    root = Path(path)

    def entry(full: str, rel: str) -> None:
        try:
            st = os.lstat(full)
        except OSError:
            h.update(b"?" + rel.encode() + b"\0")
            return
        link = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
        h.update(f"{rel}\0{st.st_mode:o}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0"
                 f"{st.st_ino}\0{link}\0".encode())

    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not ignored(d))
            for name in sorted([f for f in filenames if not ignored(f)] + dirnames):
                full = os.path.join(dirpath, name)
                entry(full, os.path.relpath(full, root))
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    else:  # a file (a single-file family), through a link if it is one, as the digest reads it
        entry(os.path.realpath(root), ".")
    return h.hexdigest()


def _digest_file(path: str, signature: str) -> Path:
    from .resources import cache_dir

    # by real path: a folder reached through a symlinked repository and by its real path
    # (as a launch checks a mounted payload) is one entry
    name = hashlib.sha256(f"{os.path.realpath(path)}\0{signature}".encode()).hexdigest()
    return cache_dir() / "digests" / name[:2] / name


def _stored_digest(path: str, signature: str) -> str | None:
    """The content digest kept for ``path`` at ``signature``, ``None`` when there is none
    or the entry is not a digest (a corrupt entry is never trusted; it is rewritten)."""
    try:
        text = _digest_file(path, signature).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def _store_digest(path: str, signature: str, digest: str) -> None:
    from .resources import atomic_write

    target = _digest_file(path, signature)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, digest + "\n")
    except OSError:
        pass  # no cache: the digest is computed again next time


def _content_digest(path: str) -> str:
    h = hashlib.sha256()
    root = Path(path)
    if root.is_file():
        with open(root, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    elif root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not ignored(d))
            for name in sorted([f for f in filenames if not ignored(f)] + [
                    d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                full = os.path.join(dirpath, name)
                relname = os.path.relpath(full, root)
                h.update(relname.encode() + b"\0")
                if os.path.islink(full):
                    h.update(b"L" + os.readlink(full).encode() + b"\0")
                elif os.path.isfile(full):
                    h.update(b"X" if os.stat(full).st_mode & 0o100 else b"F")
                    fh = hashlib.sha256()
                    with open(full, "rb") as f:  # in chunks: payloads may be gigabytes
                        for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                            fh.update(chunk)
                    h.update(fh.digest())
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            dirnames.sort()
    else:
        h.update(b"missing:" + path.encode())
    return h.hexdigest()


def tree_size(path: str) -> int:
    """Bytes of the regular files below ``path`` (``lstat`` sizes; symlinks are not followed
    and count nothing), memoised per process; :func:`ignored` entries are left out, as from
    :func:`tree_digest` and image payloads. The same content gives the same size anywhere.
    A missing path is 0 bytes; a single file is its own size. Memoised beside the digests
    (one cache to clear when packages change)."""
    hit = _DIGESTS.get("<size>" + path)
    if hit is not None:
        return int(hit)
    total = 0
    if os.path.isfile(path) and not os.path.islink(path):
        total = os.lstat(path).st_size
    for dirpath, dirnames, filenames in os.walk(path):  # never follows symlinked folders
        dirnames[:] = [d for d in dirnames if not ignored(d)]
        for name in filenames:
            if not ignored(name):
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    _DIGESTS["<size>" + path] = str(total)
    return total
