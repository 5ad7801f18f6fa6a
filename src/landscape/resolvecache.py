"""The resolve cache: a resolved context kept on disk, keyed by every input it was made from.

``resolve`` and ``launch`` of a context that has not changed since the last time read the
answer back instead of solving again — without importing rez, parsing YAML or hashing a
payload (``landscape resolve --json`` in well under 0.2 s).

An entry (``<cache>/resolve/<request digest>.json``) holds:

- the **request**: the context path, tool, variants, command-line extras, ``--time``,
  ``--staging``/``--dev``, ``--root``, the user (name, uid, gid, ``HOME``), Landscape's
  version and a stamp of its code and recipes, rez's version, and the environment variables
  that steer rez or the engine (``REZ_*``, ``DOCKER_HOST``);
- the **inputs** the resolve read (recorded by :func:`landscape.memo.recording`): every
  config, variant and manifest path looked at, with the sha256 of its content (or its
  absence); every path whose real path (symlinks resolved) was used; every host variable a
  config file expanded; the studio root's hidden entries; every package repository
  searched, by a listing of its families, versions and package definition files (names,
  sizes, modification and change times — what rez itself watches); every package folder
  whose content digest went into the image key, by :func:`landscape.digest.tree_signature`;
- the **answer**: ``resolve --json`` (and ``--explain``) output and the launch inputs
  (:class:`~landscape.context.LaunchInputs`).

A lookup recomputes every input and uses the answer only when all of them are unchanged; a
relative ``--time``/``rez.time`` (``-10d``) is never cached. An entry that cannot be read,
is not an entry of this format, or names another request is ignored and overwritten (never
trusted); a cache folder that cannot be written degrades to no cache, with one warning.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

from .digest import ignored
from .memo import Inputs, recording
from .resources import atomic_write, cache_dir, data_dir

#: Bumped when the entry layout changes. 4: launch inputs carry ``user_state`` and payload
#: mounts.
CACHE_FORMAT = 4
_warned = False


def enabled() -> bool:
    """Whether the cache is used: not when ``LANDSCAPE_NO_RESOLVE_CACHE`` is set (to
    anything but empty or ``0``)."""
    return os.environ.get("LANDSCAPE_NO_RESOLVE_CACHE", "") in ("", "0")


# -- what identifies a request ----------------------------------------------------------------

def code_stamp() -> str:
    """sha256 over the names, sizes and modification times of Landscape's own modules and
    data folders (templates, image recipes, service catalog): an edited checkout is another
    Landscape, as another version is."""
    from . import __version__  # read at call time: the running version

    return hashlib.sha256(f"{__version__}\0{_files_stamp()}".encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _files_stamp() -> str:
    """The file part of :func:`code_stamp`, walked once per process (a process runs one
    code; ``resolve`` then ``launch`` ask twice)."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    roots = [package] + [data_dir(n) for n in ("templates", "images", "compose")]
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not ignored(d))
            for name in sorted(f for f in filenames if not ignored(f)):
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                h.update(f"{full}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def _rez_stamp() -> str:
    """The installed rez's version file, by path and content (no import of rez)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("rez")
    except (ImportError, ValueError):
        return "none"
    if spec is None or not spec.submodule_search_locations:
        return "none"
    version_file = Path(list(spec.submodule_search_locations)[0]) / "utils" / "_version.py"
    return f"{version_file}:{_path_state(str(version_file))}"


def request_key(request: dict) -> dict:
    """``request`` (what the command asked: context, tool, variants, extras, time, staging,
    dev, root) with everything of this process that changes an answer: user, ids, home,
    Landscape's code, rez's version, ``REZ_*`` and ``DOCKER_HOST``."""
    from .identity import user_name

    host = {k: v for k, v in os.environ.items() if k.startswith("REZ_") or k == "DOCKER_HOST"}
    return {"format": CACHE_FORMAT, **request, "user": user_name(), "uid": os.getuid(),
            "gid": os.getgid(), "home": os.path.expanduser("~"), "host_env": host,
            "code": code_stamp(), "rez": _rez_stamp(), "python": sys.version}


def _entry_path(key: dict) -> Path:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return cache_dir() / "resolve" / (hashlib.sha256(blob.encode()).hexdigest() + ".json")


# -- the state of each kind of input ---------------------------------------------------------

def _path_state(path: str) -> str | None:
    """``None`` for no such path, ``dir`` for a folder, ``other`` for a non-regular file,
    else the sha256 of the file's content (config files and manifests are small; a file
    larger than 4 MiB is summarised by size and times instead)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if not stat.S_ISREG(st.st_mode):
        return "other"
    if st.st_size > 4 * 1024 * 1024:
        return f"large:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return "unreadable"


def repository_listing(path: str) -> str:
    """sha256 of what rez's filesystem repository sees of ``path``: each entry at the top
    (families, single-file families), each entry of each family folder (versions, or an
    unversioned package's files), and each package definition file of each version — by
    name, type, size, modification and change time. A released, removed or edited package
    changes it; payload files inside a version do not (see :func:`landscape.digest.tree_signature`
    for those)."""
    h = hashlib.sha256()

    def listing(folder: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            h.update(f"!{folder}:{e.errno}\0".encode())
            return
        for e in entries:
            try:
                st = e.stat(follow_symlinks=True)
            except OSError:
                h.update(f"?{e.name}\0".encode())
                continue
            h.update(f"{depth}:{e.name}\0{st.st_mode:o}\0{st.st_size}\0{st.st_mtime_ns}\0"
                     f"{st.st_ctime_ns}\0".encode())
            if stat.S_ISDIR(st.st_mode) and depth < 2 and not e.name.startswith("."):
                listing(e.path, depth + 1)  # a family's versions; a version's files

    listing(path, 0)
    return h.hexdigest()


def _checks() -> dict[str, Callable[[str], Any]]:
    """Each kind of recorded input (an :class:`~landscape.memo.Inputs` set) → how its
    current state is read: recording and checking an entry use the same functions."""
    from .digest import tree_signature
    from .paths import hidden_entries, real

    return {"paths": _path_state, "reals": real, "env": os.environ.get,
            "listings": lambda p: list(hidden_entries(p)),
            "repositories": repository_listing, "trees": tree_signature}


def _states(inputs: Inputs) -> dict:
    """The current state of every recorded input (see the module doc)."""
    return {kind: {name: check(name) for name in sorted(getattr(inputs, kind))}
            for kind, check in _checks().items()}


def _unchanged(recorded: dict) -> bool:
    """Whether every input of a stored entry is as it was recorded."""
    checks = _checks()
    if set(recorded) != set(checks):
        return False
    for kind, check in checks.items():
        table = recorded[kind]
        if not isinstance(table, dict):
            return False
        for name, state in table.items():
            if check(name) != state:
                return False
    return True


# -- lookup and store -----------------------------------------------------------------------

def lookup(request: dict, want: str) -> Any | None:
    """The cached answer ``want`` (``json``, ``explain`` or ``launch``) of ``request``
    (see :func:`request_key`), or ``None`` when there is no valid entry with it."""
    if not enabled():
        return None
    key = request_key(request)
    path = _entry_path(key)
    try:
        st = os.stat(path)
        if st.st_uid != os.getuid() or st.st_mode & 0o022 or not _private(path.parent):
            return None  # another user's file, or one others may write: never trusted
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("request") != key:
        return None  # another request's entry, or not an entry at all
    answers = entry.get("answers")
    inputs = entry.get("inputs")
    if not isinstance(answers, dict) or want not in answers or not isinstance(inputs, dict):
        return None
    try:
        if not _unchanged(inputs):
            return None
    except (OSError, TypeError, ValueError):
        return None
    return answers[want]


def _private(folder: Path) -> bool:
    """Whether ``folder`` (the cache's ``resolve/``) is this user's and no one else may
    write it: only then can an entry be the user's own answer."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def store(request: dict, inputs: Inputs, answers: dict) -> None:
    """Keep ``answers`` (``want`` → JSON-able value) of ``request`` with the state of the
    ``inputs`` it was made from. Nothing is kept for an uncacheable resolve; a cache that
    cannot be written is reported once (on stderr) and then left alone."""
    global _warned
    if not enabled() or inputs.uncacheable:
        return
    key = request_key(request)
    entry = {"request": key, "inputs": _states(inputs), "answers": answers}
    path = _entry_path(key)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(entry, default=str), mode=0o600)  # the user's own
    except OSError as e:
        if not _warned:
            _warned = True
            print(f"warning: the resolve cache is off: cannot write {path.parent}: "
                  f"{e.strerror or e}", file=sys.stderr)


def resolved(request: dict, want: str, make: Callable[[], dict]) -> Any:
    """The answer ``want`` of ``request``: from the cache when every input is unchanged,
    else from ``make()`` (which resolves and returns every answer it can give, e.g.
    ``{"json": …, "launch": …}``), recorded and stored. Errors of ``make`` propagate (an
    error is never cached)."""
    hit = lookup(request, want)
    if hit is not None:
        return hit
    with recording() as inputs:
        answers = make()
    store(request, inputs, answers)
    return answers[want]


def request(command: str, context: str | os.PathLike, *, tool: str | None = None,
            variants: list[str] | tuple[str, ...] = (), add: list[str] | tuple[str, ...] = (),
            env: list[str] | tuple[str, ...] = (), time: str | None = None,
            staging: bool = False, dev: bool = False, root: Path | None = None) -> dict:
    """The request of a ``resolve``/``launch``/``shell`` command as the cache keys it: the
    context as an absolute path (what :func:`landscape.cascade.context_path` makes of it)."""
    from .paths import absolute, context_path

    return {"command": command, "context": str(context_path(context, root)),
            "tool": "/".join(p for p in tool.split("/") if p) if tool else None,
            "variants": list(variants), "add": list(add), "set_env": list(env), "time": time,
            "staging": staging, "dev": dev, "root": str(absolute(root)) if root else None}


def launch_inputs(req: dict, resolve: Callable[[], Any]) -> Any:
    """The :class:`~landscape.context.LaunchInputs` of ``req``: read back from the cache,
    else from ``resolve()`` (a :class:`~landscape.context.ResolvedContext` with a tool),
    then kept. An entry whose record does not read back is resolved again."""
    from .errors import LandscapeError
    from .launchinputs import LaunchInputs

    def make() -> dict:
        rc = resolve()
        return {"launch": rc.launch_inputs().to_record(), "json": rc.to_json()}

    record = resolved(req, "launch", make)
    try:
        return LaunchInputs.from_record(record)
    except (KeyError, TypeError, ValueError, LandscapeError):
        with recording() as inputs:
            answers = make()
        store(req, inputs, answers)
        return LaunchInputs.from_record(answers["launch"])
