"""The studio as a tree to browse, and an index of its context paths to search.

:func:`children` lists one folder's context folders lazily: one ``os.scandir`` of the folder,
then for each subfolder a look at its own entries and a read of its own config file
(:func:`landscape.cascade.load_config`: bounded, never opening a FIFO, refusing a link that
leaves the studio root) — never the whole tree, so a sequence of 10,000 shots lists without
walking anything below them. A context folder is what ``plan`` and ``check`` call one
(:func:`landscape.plan.enumerate_contexts`): a folder holding ``landscape.yaml`` or a
``landscape.<variant>.yaml``. A folder without one is listed too when one of its own
subfolders holds one (``projects/`` between the studio root and its projects); hidden
folders (``.git``, ``.landscape``) and links to folders are never entered, as the walks of
``plan`` and ``check`` never enter them.

A folder's own broken file (YAML syntax, schema) does not hide it: its entry carries the
errors as ``file:line:col: message`` lines, and its siblings are unaffected. What a folder's
file says (``name``, ``level``, ``metadata.label``, ``metadata.icon``) is untrusted text
from below the studio root: only plain strings are taken, as data.

:class:`ContextIndex` finds every context path below the root in one walk (``os.scandir``,
no YAML read) that can be cancelled, and matches several terms against those paths.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .cascade import CONFIG_NAME, VARIANT_NAME, load_config, walked_folders
from .errors import LandscapeError, flatten
from .paths import absolute


@dataclass(frozen=True)
class BrowseEntry:
    """One folder of the studio tree.

    ``path`` is absolute; ``name`` is the ``name`` its own ``landscape.yaml`` gives (a plain
    string), else the folder's name; ``level`` the ``level`` it declares (``None`` when
    none); ``label`` and ``icon`` its own file's ``metadata.label`` / ``metadata.icon`` (plain
    strings, else ``None``). ``has_children`` may be optimistic (a subfolder exists, which
    may hold no context). ``errors`` are the problems of this folder's own config files and
    listing, each ``file:line:col: message`` (the cascade's deeper errors show when the
    context is resolved)."""

    path: Path
    name: str
    level: str | None = None
    label: str | None = None
    icon: str | None = None
    has_children: bool = False
    errors: tuple[str, ...] = ()


def _is_config_name(name: str) -> bool:
    return name == CONFIG_NAME or VARIANT_NAME.match(name) is not None


def _is_folder(entry: os.DirEntry) -> bool:
    """A real folder (not a link to one: the walks of ``plan``/``check`` do not follow
    links, and a link loop must not be entered); ``False`` when it cannot be told."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _listing(folder: str) -> tuple[list[str], list[str], str | None]:
    """``(config file names, visible subfolder names, error)`` of ``folder``: one
    ``os.scandir``. A folder named like a config file counts as a config file (the cascade
    reports it)."""
    configs: list[str] = []
    subfolders: list[str] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if _is_config_name(name):
                    configs.append(name)
                elif not name.startswith(".") and _is_folder(entry):
                    subfolders.append(name)
    except OSError as e:
        return [], [], f"{folder}: cannot list this folder: {e.strerror or e}"
    return configs, subfolders, None


def _text(value: object) -> str | None:
    """``value`` when it is a plain string (config text is data: nothing else is taken)."""
    return value if isinstance(value, str) else None


def _entry(path: Path, root: Path | None, configs: list[str], subfolders: list[str],
           error: str | None) -> BrowseEntry:
    """The entry of folder ``path`` from its listing: its own plain file read for ``name``,
    ``level`` and metadata, every own config file's errors collected."""
    errors: list[str] = [error] if error else []
    name, level, label, icon = path.name or str(path), None, None, None
    for config in sorted(configs):
        m = VARIANT_NAME.match(config)
        try:
            cfg = load_config(path / config, m.group(1) if m else None, root=root)
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


def children(folder: Path, root: Path) -> list[BrowseEntry]:
    """The context folders directly below ``folder`` (see the module doc), sorted by name
    (then folder name). ``root`` is the studio root: a config file whose real path leaves it
    is refused unread. Never raises: a subfolder that cannot be listed or read is an entry
    whose ``errors`` say so; ``folder`` itself not being listable gives ``[]`` (its own entry
    carries that error)."""
    folder = absolute(folder)
    studio = _root_of(root)
    _configs, subfolders, error = _listing(str(folder))
    if error is not None:
        return []
    out: list[BrowseEntry] = []
    for name in subfolders:
        path = folder / name
        configs, subs, sub_error = _listing(str(path))
        if not configs and sub_error is None and not _holds_context(str(path), subs):
            continue  # a folder of files (a repository, a work area): no context here
        out.append(_entry(path, studio, configs, subs, sub_error))
    out.sort(key=lambda e: (e.name.casefold(), e.name, e.path.name))
    return out


def context_variants(context: Path, root: Path | None = None) -> list[str]:
    """The context variants that apply to ``context``: the ``<v>`` of every
    ``landscape.<v>.yaml`` in a folder of its walk up to the studio root (``parent:``
    redirects followed), sorted. ``[]`` when the walk fails (resolving reports why)."""
    try:
        walk = walked_folders(Path(context), root)
    except (LandscapeError, OSError):
        return []
    names: set[str] = set()
    for folder in walk:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        names.update(m.group(1) for m in map(VARIANT_NAME.match, entries) if m)
    return sorted(names)


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

    def build(self, cancel: threading.Event | None = None) -> list[str]:
        """Walk the root once and return the context paths found, relative to the root and
        sorted. When ``cancel`` is set during the walk, it stops: what was found so far is
        returned (sorted), :attr:`cancelled` is true and the index stays as it was. Folders
        that cannot be listed are skipped. Never raises."""
        found: list[str] = []
        stack = [(str(self.root), "")]
        visited = 0
        while stack:
            if cancel is not None and visited % self.CHECK_EVERY == 0 and cancel.is_set():
                self.cancelled = True
                return sorted(found)
            visited += 1
            folder, rel = stack.pop()
            configs, subfolders, error = _listing(folder)
            if error is not None:
                continue
            if configs and rel:
                found.append(rel)
            for name in subfolders:
                stack.append((os.path.join(folder, name), f"{rel}/{name}" if rel else name))
        found.sort()
        with self._lock:
            self.paths = found
            self._lowered = [p.casefold() for p in found]
            self.built = True
            self.cancelled = False
        return list(found)

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
