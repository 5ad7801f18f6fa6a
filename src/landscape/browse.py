"""The studio as a tree to browse, and an index of its context paths to search.

:func:`children` lists one folder's context folders lazily: one ``os.scandir`` of the folder,
then for each subfolder a look at its own entries and a read of its own config file
(:func:`landscape.cascade.load_config`: bounded, never opening a FIFO, refusing a link that
leaves the studio root) — never the whole tree, so a sequence of 10,000 shots lists without
walking anything below them. A context folder is what ``plan`` and ``check`` call one
(:func:`landscape.plan.enumerate_contexts`): a folder holding ``landscape.yaml`` or a
``landscape.<variant>.yaml``. A folder without one is listed too when one of its own
subfolders holds one (``projects/`` between the studio root and its projects), and so is
every subfolder of a folder whose file says ``child_level`` (a shot folder without a file
of its own is a shot the cascade resolves and launches); hidden
folders (``.git``, ``.landscape``) and links to folders are never entered, as the walks of
``plan`` and ``check`` never enter them.

A folder's own broken file (YAML syntax, schema) does not hide it: its entry carries the
errors as ``file:line:col: message`` lines, and its siblings are unaffected. What a folder's
file says (``name``, ``level``, ``metadata.label``, ``metadata.icon``) is untrusted text
from below the studio root: only plain strings are taken, as data.

:class:`ContextIndex` finds every context path below the root in one walk (``os.scandir``,
no YAML read but that of the few files that mention ``child_level``) that can be
cancelled, and matches several terms against those paths.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from .cascade import CONFIG_NAME, VARIANT_NAME, load_config
from .errors import LandscapeError, flatten
from .nodes import read_file
from .paths import absolute, real
from .policy import under


@dataclass(frozen=True)
class BrowseEntry:
    """One folder of the studio tree.

    ``path`` is absolute; ``name`` is the ``name`` its own ``landscape.yaml`` gives (a plain
    string), else the folder's name; ``level`` the ``level`` it declares (``None`` when
    none); ``label`` and ``icon`` its own file's ``metadata.label`` / ``metadata.icon`` (plain
    strings, else ``None``). ``has_children`` may be optimistic (a subfolder exists, which
    may hold no context). ``errors`` are the problems of this folder's own config files and
    listing, each ``file:line:col: message`` (the cascade's deeper errors show when the
    context is resolved). ``outline`` is True for an entry handed out before its config
    files were read (:func:`children` with ``update``): ``name`` is then the folder's name,
    ``level`` only what the parent's ``child_level`` gives, no label, icon or file errors."""

    path: Path
    name: str
    level: str | None = None
    label: str | None = None
    icon: str | None = None
    has_children: bool = False
    errors: tuple[str, ...] = ()
    outline: bool = False


def _is_config_name(name: str) -> bool:
    return name == CONFIG_NAME or VARIANT_NAME.match(name) is not None


def _is_folder(entry: os.DirEntry) -> bool:
    """A real folder (not a link to one: the walks of ``plan``/``check`` do not follow
    links, and a link loop must not be entered); ``False`` when it cannot be told."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _listing(folder: str, links: set[str] | None = None, stamps: list | None = None
             ) -> tuple[list[str], list[str], str | None]:
    """``(config file names, visible subfolder names, error)`` of ``folder``: one
    ``os.scandir``. A folder named like a config file counts as a config file (the cascade
    reports it). Config names that are symbolic links are added to ``links``; with
    ``stamps``, each config entry's ``[name, inode, mtime, ctime, size]`` is appended (its
    ``lstat``)."""
    configs: list[str] = []
    subfolders: list[str] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if _is_config_name(name):
                    configs.append(name)
                    if links is not None and entry.is_symlink():
                        links.add(name)
                    if stamps is not None:
                        st = entry.stat(follow_symlinks=False)
                        stamps.append([name, st.st_ino, st.st_mtime_ns, st.st_ctime_ns,
                                       st.st_size])
                elif not name.startswith(".") and _is_folder(entry):
                    subfolders.append(name)
    except OSError as e:
        return [], [], f"{folder}: cannot list this folder: {e.strerror or e}"
    return configs, subfolders, None


#: the most characters of a ``name``, label or icon name an entry keeps (a title, not a
#: document: a 2 MB label would slow every repaint of the tree)
TEXT_LIMIT = 200


def _text(value: object) -> str | None:
    """``value`` when it is a plain string (config text is data: nothing else is taken),
    cut to :data:`TEXT_LIMIT` characters (``…`` marks the cut)."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT - 1] + "…"


def _entry(path: Path, root: Path | None, configs: list[str], subfolders: list[str],
           error: str | None, checked: set[str] | None = None) -> BrowseEntry:
    """The entry of folder ``path`` from its listing: its own plain file read for ``name``,
    ``level`` and metadata, every own config file's errors collected. A file whose real path
    may leave the studio ``root`` is refused unread; those named in ``checked`` are known
    not to (a plain file in a real folder inside the root's real path)."""
    errors: list[str] = [error] if error else []
    name, level, label, icon = path.name or str(path), None, None, None
    for config in sorted(configs):
        m = VARIANT_NAME.match(config)
        try:
            cfg = load_config(path / config, m.group(1) if m else None,
                              root=None if checked is not None and config in checked
                              else root)
        except LandscapeError as e:  # load_config collects; kept for safety
            errors.extend(str(x) for x in flatten(e))
            continue
        except OSError as e:
            errors.append(f"{path / config}: {e.strerror or e}")
            continue
        errors.extend(str(e) for e in cfg.errors)
        if m is None and cfg.node is not None:
            name = _text(cfg.get("name")) or name
            level = _text(cfg.get("level"))
            metadata = cfg.node.get("metadata")
            if metadata is not None and metadata.is_map:
                label = _text(metadata.get("label").value) if metadata.get("label") else None
                icon = _text(metadata.get("icon").value) if metadata.get("icon") else None
    return BrowseEntry(path, name, level, label, icon, bool(subfolders),
                       tuple(dict.fromkeys(errors)))


def _child_level(folder: Path, root: Path | None) -> str | None:
    """The ``child_level`` the plain file of ``folder`` declares (a plain string), else
    ``None``: its subfolders are then contexts of that level, with or without a file of
    their own (:func:`landscape.cascade.build_cascade` gives them the level)."""
    try:
        value = load_config(folder / CONFIG_NAME, root=root).get("child_level")
    except (LandscapeError, OSError):
        return None
    return value if isinstance(value, str) else None


def _holds_context(folder: str, subfolders: list[str]) -> bool:
    """Whether one of ``folder``'s own subfolders holds a config file (one ``os.scandir``
    of each until one does)."""
    for sub in subfolders:
        configs, _subs, _error = _listing(os.path.join(folder, sub))
        if configs:
            return True
    return False


def _root_of(root: Path | None) -> Path | None:
    return absolute(root) if root is not None else None


def studio_entry(root: Path) -> BrowseEntry:
    """The entry of the studio root folder ``root`` itself (its ``errors`` say when it
    cannot be listed, does not exist or its file is broken). Never raises."""
    root = absolute(root)
    if not root.is_dir():
        return BrowseEntry(root, root.name or str(root), errors=(
            f"{root}: the studio root does not exist or is not a folder",))
    configs, subfolders, error = _listing(str(root))
    entry = _entry(root, root, configs, subfolders, error)
    if CONFIG_NAME not in configs and error is None:
        entry = BrowseEntry(entry.path, entry.name, entry.level, entry.label, entry.icon,
                            entry.has_children, entry.errors + (
                                f"{root / CONFIG_NAME}: no studio root file here",))
    return entry


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (as it was before, after): a listing makes tens
    of thousands of small objects, none in a cycle, and each collection would walk every
    object the process holds (a launcher holds many parsed files)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


#: entries per ``batch`` call of :func:`children`
BATCH = 200


def folder_order(name: str) -> tuple[str, str]:
    """The sort key of a subfolder ``name`` in a listing's batches (case-insensitive, then
    exact): a viewer appending batches keeps its rows in this order."""
    return (name.casefold(), name)


def children(folder: Path, root: Path,
             batch: Callable[[list[BrowseEntry]], None] | None = None,
             update: Callable[[list[BrowseEntry]], None] | None = None) -> list[BrowseEntry]:
    """The context folders directly below ``folder`` (see the module doc), sorted by name
    (then folder name). ``root`` is the studio root: a config file whose real path leaves it
    is refused unread.

    With ``batch``, the entries are also handed over while they are made, :data:`BATCH` at
    a time in :func:`folder_order` of their folder names, so a viewer shows the first rows
    of a folder of 10,000 shots before the last file is read. With ``update`` too, the
    listing runs in two passes: the first looks only at folders (one ``os.scandir`` per
    subfolder) and hands every row to ``batch``, an entry whose files were not read before
    (:class:`_Listings`) as an :attr:`BrowseEntry.outline`; the second reads those files
    and hands the finished entries to ``update``, :data:`BATCH` at a time, in the same
    order. A viewer so shows every row of a 10,000-shot folder before the files are read.

    Never raises (but what ``batch`` or ``update`` raises): a subfolder that cannot be
    listed or read is an entry whose ``errors`` say so; ``folder`` itself not being
    listable gives ``[]`` (its own entry carries that error)."""
    with _gc_paused():
        return _children(absolute(folder), _root_of(root), batch, update)


class _Pending:
    """Entries handed to ``call`` (when there is one) :data:`BATCH` at a time, the rest
    by :meth:`flush`."""

    def __init__(self, call: Callable[[list[BrowseEntry]], None] | None) -> None:
        self.call = call
        self.items: list[BrowseEntry] = []

    def add(self, entry: BrowseEntry) -> None:
        if self.call is not None:
            self.items.append(entry)
            if len(self.items) >= BATCH:
                self.flush()

    def flush(self) -> None:
        if self.call is not None and self.items:
            items, self.items = self.items, []
            self.call(items)


def _children(folder: Path, studio: Path | None,
              batch: Callable[[list[BrowseEntry]], None] | None = None,
              update: Callable[[list[BrowseEntry]], None] | None = None) -> list[BrowseEntry]:
    own, subfolders, error = _listing(str(folder))
    if error is not None:
        return []
    subfolders.sort(key=folder_order)
    child_level = _child_level(folder, studio) if CONFIG_NAME in own else None
    # A subfolder listed here is a real folder (links are not entered): when this folder's
    # real path is inside the root's, so is a plain (not linked) file in a subfolder — one
    # real-path look for the whole listing, not one per file.
    inside = studio is not None and under(real(folder), real(studio))
    cache = _Listings(folder, studio) if inside else None
    def leveled(entry: BrowseEntry) -> BrowseEntry:   # as the cascade gives it
        if child_level is not None and entry.level is None:
            return replace(entry, level=child_level)
        return entry

    two_pass = batch is not None and update is not None
    shown = _Pending(batch)
    updated = _Pending(update)
    out: list[BrowseEntry] = []
    to_read: list[tuple[int, Path, list[str], list[str], str | None, set[str],
                        list | None]] = []
    for name in subfolders:
        path = folder / name
        links: set[str] = set()
        stamps: list = []
        try:
            configs, subs, sub_error = _listing(str(path), links, stamps)
        except OSError as e:  # a config entry that vanished or cannot be looked at
            configs, subs, sub_error = [], [], f"{path}: cannot list this folder: {e.strerror}"
            stamps = []
        if not configs and sub_error is None and child_level is None \
                and not _holds_context(str(path), subs):
            continue  # a folder of files (a repository, a work area): no context here
        stamp = sorted(stamps) if configs and not links and sub_error is None else None
        entry = cache.get(name, stamp, path, bool(subs)) if cache is not None and stamp \
            else None
        if entry is None and two_pass and configs:
            to_read.append((len(out), path, configs, subs, sub_error, links, stamp))
            entry = BrowseEntry(path, name, has_children=bool(subs),
                                errors=(sub_error,) if sub_error else (), outline=True)
        elif entry is None:
            entry = _read_entry(path, studio, configs, subs, sub_error, links, inside,
                                cache, stamp)
        entry = leveled(entry)
        out.append(entry)
        shown.add(entry)
    shown.flush()
    for i, path, configs, subs, sub_error, links, stamp in to_read:
        entry = out[i] = leveled(_read_entry(path, studio, configs, subs, sub_error, links,
                                             inside, cache, stamp))
        updated.add(entry)
    updated.flush()
    if cache is not None:
        cache.save({e.path.name for e in out})
    out.sort(key=lambda e: (e.name.casefold(), e.name, e.path.name))
    return out


def _read_entry(path: Path, studio: Path | None, configs: list[str], subs: list[str],
                error: str | None, links: set[str], inside: bool,
                cache: "_Listings | None", stamp: list | None) -> BrowseEntry:
    """The entry of subfolder ``path`` with its own config files read (:func:`_entry`),
    kept in ``cache`` by its files' ``stamp`` (when there is one)."""
    checked = {c for c in configs if c not in links} if inside else None
    entry = _entry(path, studio, configs, subs, error, checked)
    if cache is not None and stamp:
        cache.put(path.name, stamp, entry)
    return entry


class _Listings:
    """What :func:`children` read of one folder's subfolders, kept on disk (the user cache,
    ``browse/``) so that the next launcher lists a folder of 10,000 shots without parsing
    10,000 files again: per subfolder, the ``lstat`` stamps of its config files and the
    entry made from them. A stamp that differs, a file added or removed, another version of
    Landscape, another working directory (errors name files relative to it) or another
    studio root: the entry is made again. An unreadable or malformed cache file is ignored;
    one that cannot be written is not an error."""

    FORMAT = 1

    def __init__(self, folder: Path, root: Path) -> None:
        import hashlib

        from .resolvecache import code_stamp
        from .resources import cache_dir

        key = "\0".join((str(self.FORMAT), code_stamp(), os.getcwd(), str(root), str(folder)))
        self.path = cache_dir() / "browse" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"
        self.folder = str(folder)
        self.entries: dict[str, list] = {}
        self.changed = False
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            if isinstance(data, dict) and data.get("folder") == str(folder) \
                    and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]
        except (OSError, ValueError, RecursionError):
            pass

    def get(self, name: str, stamp: list, path: Path, has_children: bool
            ) -> BrowseEntry | None:
        item = self.entries.get(name)
        if not isinstance(item, list) or len(item) != 6 or item[0] != stamp:
            return None
        _stamp, shown, level, label, icon, errors = item
        if not isinstance(shown, str) or not all(v is None or isinstance(v, str)
                                                 for v in (level, label, icon)) \
                or not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            return None
        return BrowseEntry(path, shown, level, label, icon, has_children, tuple(errors))

    def put(self, name: str, stamp: list, entry: BrowseEntry) -> None:
        self.entries[name] = [stamp, entry.name, entry.level, entry.label, entry.icon,
                              list(entry.errors)]
        self.changed = True

    def save(self, names: set[str]) -> None:
        """Write the entries of ``names`` (the subfolders listed now) when any changed."""
        if not self.changed and set(self.entries) <= names:
            return
        from .resources import atomic_write

        kept = {n: e for n, e in self.entries.items() if n in names}
        try:
            atomic_write(self.path, json.dumps({"folder": self.folder,
                                                "entries": kept}), 0o600)
        except OSError:
            pass


class ContextIndex:
    """Every context path below a studio root, for the launcher's filter.

    :meth:`build` walks the tree once (``os.scandir``; hidden folders and links to folders
    never entered, no YAML read) and keeps the paths relative to the root (``/``-separated,
    the root itself left out). :meth:`search` matches a query's terms against them."""

    #: how many folders the walk visits between two looks at ``cancel``
    CHECK_EVERY = 64

    def __init__(self, root: Path) -> None:
        self.root = absolute(root)
        self.paths: list[str] = []
        self._lowered: list[str] = []
        self.built = False
        self.cancelled = False
        self._lock = threading.Lock()
        self._real_root: Path | None = None

    def build(self, cancel: threading.Event | None = None) -> list[str]:
        """Walk the root once and return the context paths found, relative to the root and
        sorted. When ``cancel`` is set during the walk, it stops: what was found so far is
        returned (sorted), :attr:`cancelled` is true and the index stays as it was. Folders
        that cannot be listed are found (the tree shows them, with their error), not entered.
        Never raises."""
        found: list[str] = []
        # (folder, its path relative to the root, the parent folder when it has a plain file)
        stack: list[tuple[str, str, str | None]] = [(str(self.root), "", None)]
        declares: dict[str, bool] = {}  # folder → whether its file says child_level
        visited = 0
        while stack:
            if cancel is not None and visited % self.CHECK_EVERY == 0 and cancel.is_set():
                self.cancelled = True
                return sorted(found)
            visited += 1
            folder, rel, parent = stack.pop()
            configs, subfolders, error = _listing(folder)
            if error is not None:   # shown in the tree with its error: found by the filter
                if rel:
                    found.append(rel)
                continue
            if rel and (configs or (parent is not None and self._declares(parent, declares))):
                found.append(rel)
            mine = folder if CONFIG_NAME in configs else None
            for name in subfolders:
                stack.append((os.path.join(folder, name), f"{rel}/{name}" if rel else name,
                              mine))
        found.sort()
        with self._lock:
            self.paths = found
            self._lowered = [p.casefold() for p in found]
            self.built = True
            self.cancelled = False
        return list(found)

    def _declares(self, folder: str, memo: dict[str, bool]) -> bool:
        """Whether ``folder``'s plain file says ``child_level`` (its bytes are looked at;
        only a file that mentions the word is parsed), once per folder."""
        hit = memo.get(folder)
        if hit is None:
            path = Path(folder) / CONFIG_NAME
            if self._real_root is None:
                self._real_root = real(self.root)
            try:   # a file whose real path leaves the studio is not read (as in the tree)
                mentions = under(real(path), self._real_root) \
                    and b"child_level" in read_file(path)[1]
            except LandscapeError:
                mentions = False
            hit = memo[folder] = mentions and _child_level(Path(folder), self.root) is not None
        return hit

    @staticmethod
    def terms(query: str) -> list[str]:
        """The terms of ``query``: its whitespace-separated words, case-folded."""
        return [t.casefold() for t in query.split()]

    @staticmethod
    def match(rel: str, terms: list[str]) -> bool:
        """Whether every term of ``terms`` occurs in the relative path ``rel``, ignoring
        case (no terms: every path matches)."""
        lowered = rel.casefold()
        return all(t.casefold() in lowered for t in terms)

    def search(self, query: str, limit: int = 500) -> list[str]:
        """The context paths (relative, sorted) that hold every term of ``query``, at most
        ``limit`` of them. The index is built first when it never was."""
        if not self.built:
            self.build()
        terms = self.terms(query)
        with self._lock:
            paths, lowered = self.paths, self._lowered
        out: list[str] = []
        if limit <= 0:
            return out
        for path, low in zip(paths, lowered):
            if all(t in low for t in terms):
                out.append(path)
                if len(out) >= limit:
                    break
        return out
