"""The cascade: discovery of config files above a context and their merge (docs/config.md).

For a context directory ``C`` (it need not exist), :func:`discover` walks from ``C`` up
through its ancestors collecting ``landscape.yaml`` and the asked-for variant files
``landscape.<variant>.yaml``; it stops at the file that says ``root: true``; a ``parent:``
key redirects the walk. :func:`build_cascade` then merges the files root first, leaf last
(in each directory the plain file, then the variants in the order asked) with the strategy
table of :mod:`landscape.merge`.

Errors are collected, not raised one by one: a :class:`Cascade` is only returned when
every file on the way loaded, validated and merged; otherwise an
:class:`~landscape.errors.ErrorGroup` lists every problem with ``file:line:col``.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .memo import note as _note
from .memo import table as _memo
from .errors import ConfigError, ErrorGroup, LandscapeError, Location, flatten
from .merge import CONFIG_STRATEGIES, TRUSTED_FILE, expand_host_vars, merge_maps
from .nodes import Node, load_file
from .paths import absolute, context_path, hidden_entries
from .policy import Policy, intersect, real, seed_defaults, under
from .schema import CONFIG_SCHEMA, validate
from .userstate import file_errors as _secret_errors

CONFIG_NAME = "landscape.yaml"
VARIANT_NAME = re.compile(r"^landscape\.([A-Za-z0-9_-]+)\.yaml\Z")  # \Z: no "…\n"


@dataclass
class ConfigFile:
    """One loaded config file: its ``path``, ``variant`` (``None`` for the plain file) and
    root ``node`` (``None`` when empty). ``errors`` holds every syntax/schema problem."""

    path: Path
    variant: str | None
    node: Node | None
    errors: list[LandscapeError] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.path.parent

    def get(self, key: str) -> Any:
        """Plain value of a top-level ``key`` of this file, or ``None``."""
        n = self.node.get(key) if self.node is not None else None
        return n.value if n is not None else None


_FILE_CACHE: dict[tuple[str, str | None], tuple[tuple[int, int], ConfigFile]] = {}


def load_config(path: Path, variant: str | None = None, root: Path | None = None
                ) -> ConfigFile:
    """Load and validate the config file at ``path``, a variant file when ``variant`` is
    given (memoised by path, variant, mtime and size; within a :func:`landscape.memo.scope`
    by path and variant alone: one pass sees each file once). With ``root`` (the studio root), a
    file whose real path lies outside the studio — a link to ``/etc/shadow`` — is refused
    without being read, so its content can never appear in an error.

    Never raises for content problems: they land in :attr:`ConfigFile.errors`.
    """
    _note("paths", str(path))
    memo = _memo("config")
    key = (str(path), variant)
    if memo is not None:
        hit = memo.get((key, root))
        if hit is not None:
            return hit
    cfg = _load_checked(path, variant, root, key)
    if memo is not None:
        memo[(key, root)] = cfg
    return cfg


def _load_checked(path: Path, variant: str | None, root: Path | None,
                  key: tuple[str, str | None]) -> ConfigFile:
    if root is not None and not under(real(path), real(root)):
        return ConfigFile(path, variant, None, [ConfigError(
            f"links to {real(path)}, outside the studio root: not read", Location(str(path)))])
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)
    hit = _FILE_CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    cfg = _load_config(path, variant)
    _FILE_CACHE[key] = (stamp, cfg)
    return cfg


def _load_config(path: Path, variant: str | None) -> ConfigFile:
    try:
        node, data = load_file(path)
    except LandscapeError as e:
        return ConfigFile(path, variant, None, flatten(e))
    errors: list[LandscapeError] = list(validate(node, CONFIG_SCHEMA, data))
    for key in ("root", "parent"):
        if node is not None and variant is not None and node.get(key) is not None:
            errors.append(ConfigError("may only be set in a plain landscape.yaml, not in a "
                                      "variant file", node.key_loc(key), (key,)))
    return ConfigFile(path, variant, node, errors)


def find_config_files(top: Path, errors: list[LandscapeError] | None = None) -> list[Path]:
    """Every ``landscape.yaml`` and ``landscape.<variant>.yaml`` below ``top`` (sorted),
    skipping hidden directories (``.landscape``, ``.git``). Folders that cannot be read are
    reported into ``errors`` (when given) rather than skipped silently."""
    found: list[Path] = []

    def unreadable(e: OSError) -> None:
        if errors is not None:
            errors.append(ConfigError(f"cannot search this folder for config files: "
                                      f"{e.strerror}", Location(str(e.filename))))

    for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        # a folder named like a config file is reported (as unreadable), not skipped
        for name in sorted(filenames + [d for d in dirnames
                                        if d == CONFIG_NAME or VARIANT_NAME.match(d)]):
            if name == CONFIG_NAME or VARIANT_NAME.match(name):
                found.append(Path(dirpath) / name)
    return found


def variant_of(path: Path) -> str | None:
    """The variant a config file is for (``anim`` for ``landscape.anim.yaml``), else ``None``."""
    m = VARIANT_NAME.match(path.name)
    return m.group(1) if m else None


def find_studio_root(context: Path, root: Path | None = None) -> Path:
    """The studio root of ``context``: ``root`` when given (``--root`` / ``LANDSCAPE_ROOT``;
    its ``landscape.yaml`` must say ``root: true``), else the **outermost** folder on the way
    from ``context`` up to ``/`` whose ``landscape.yaml`` says ``root: true``.

    The outermost one, so that a file deeper down cannot make itself the root (and bring its
    own policy and repositories): such a file is an error when the walk meets it. Raises
    :class:`ConfigError` when there is no root, or ``context`` does not lie below ``root``.
    """
    if root is not None:
        root = absolute(root)
        plain = root / CONFIG_NAME
        cfg = load_config(plain) if _is_file(plain) else None
        if cfg is not None and cfg.node is None and cfg.errors:
            ErrorGroup.raise_if_any(cfg.errors)
        if cfg is None or cfg.get("root") is not True:
            raise ConfigError(f"--root {root}: no landscape.yaml with 'root: true' there",
                              Location(str(plain)))
        if context != root and root not in context.parents:
            raise ConfigError(f"{context} is not below the studio root {root}",
                              Location(str(context)))
        return root
    found, broken = _walk_up(context)
    if broken is not None and (found is None or broken.dir in found.parents):
        ErrorGroup.raise_if_any(broken.errors)  # above every root: it may be the real one
    # (a broken file below the root is reported by the walk, with the contexts below it)
    if found is None:
        raise ConfigError(f"no studio root above {context}: no landscape.yaml with 'root: true'",
                          Location(str(context)))
    return found


def _walk_up(directory: Path) -> tuple[Path | None, ConfigFile | None]:
    """From ``directory`` up to ``/``: the outermost folder whose ``landscape.yaml`` says
    ``root: true`` and the outermost unreadable ``landscape.yaml`` (``None`` when there is
    none). Memoised per folder within a :func:`landscape.memo.scope` (sibling contexts share
    every answer above themselves)."""
    memo = _memo("walk_up")
    if memo is not None:
        hit = memo.get(directory)
        if hit is not None:
            return hit
    parent = directory.parent
    found, broken = _walk_up(parent) if parent != directory else (None, None)
    plain = directory / CONFIG_NAME
    if _is_file(plain):
        cfg = load_config(plain)
        if found is None and cfg.get("root") is True:
            found = directory
        elif broken is None and cfg.node is None and cfg.errors:
            broken = cfg
    if memo is not None:
        memo[directory] = (found, broken)
    return found, broken


def discover(context: Path, variants: Iterable[str] = (), root: Path | None = None
             ) -> tuple[Path, list[ConfigFile]]:
    """The studio root and the config files that apply to ``context``, root first.

    The studio root is fixed (:func:`find_studio_root`); ``root`` (``--root`` /
    ``LANDSCAPE_ROOT``): see also :func:`context_path`. Raises :class:`ConfigError` for "no
    studio root above C", a deeper file that says ``root: true``, a ``parent:`` that does not
    exist, loops, or leaves the studio root.
    """
    studio_root, ordered, _walked = _discover(context, variants, root)
    return studio_root, ordered


def walked_folders(context: Path, root: Path | None = None) -> tuple[Path, ...]:
    """The folders the walk from ``context`` up to the studio root passes, context first,
    ``parent:`` redirects followed (what :func:`discover` walks). Raises what it raises."""
    return _discover(context, (), root)[2]


def variant_names(context: Path, root: Path | None = None) -> list[str]:
    """The variants that apply somewhere on the walk of ``context`` (the ``v`` of every
    ``landscape.<v>.yaml`` file, or folder entry of that name, in the folders
    :func:`walked_folders` passes), sorted, each once. No file is read. Raises what
    :func:`walked_folders` raises (no studio root above ``context``…)."""
    names: set[str] = set()
    for folder in walked_folders(context, root):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            m = VARIANT_NAME.match(entry)
            if m:
                names.add(m.group(1))
    return sorted(names)


def _discover(context: Path, variants: Iterable[str], root: Path | None
              ) -> tuple[Path, list[ConfigFile], tuple[Path, ...]]:
    variants = tuple(variants)
    for v in variants:
        if not VARIANT_NAME.match(f"landscape.{v}.yaml"):
            raise LandscapeError(f"--variant {v!r}: a variant name is letters, digits, _ and -")
    context = context_path(context, root)
    studio_root = find_studio_root(context, root)
    _not_hidden(context, studio_root, None)
    chain: list[list[ConfigFile]] = []
    visited: dict[Path, Path | None] = {}
    redirected_at: Location | None = None  # the last parent: that redirected the walk
    directory = context
    tails = _memo("discover")
    walked: list[Path] | None = None
    while True:
        tail = tails.get((directory, variants, studio_root)) if tails is not None else None
        if tail is not None and directory != context and visited.keys().isdisjoint(tail[1]):
            chain.extend(tail[0])  # the rest of the walk, as an earlier context found it
            walked = list(visited) + list(tail[1])
            break
        plain_path = directory / CONFIG_NAME
        plain = load_config(plain_path, root=studio_root) if _is_file(plain_path) else None
        files = [plain] if plain is not None else []
        for v in variants:
            vpath = directory / f"landscape.{v}.yaml"
            if _is_file(vpath):
                files.append(load_config(vpath, v, root=studio_root))
        if plain is not None and plain.node is None and plain.errors:
            # unreadable: it may have been the studio root; its own error is the one to show
            ErrorGroup.raise_if_any(plain.errors)
        visited[directory] = plain_path if plain is not None else None
        chain.append(files)
        if directory == studio_root:
            break
        if plain is not None and plain.get("root") is True:
            raise ConfigError(f"only the studio root ({studio_root}) may say 'root: true'",
                              plain.node.key_loc("root"), ("root",),
                              hint="a file below the root cannot start a cascade of its own")
        parent_value = plain.get("parent") if plain is not None else None
        if isinstance(parent_value, str) and not plain.errors:
            loc = plain.node.get("parent").loc
            nxt = absolute(directory / _expand(parent_value, loc))
            if nxt != studio_root and studio_root not in nxt.parents:
                raise ConfigError(f"parent {nxt} leaves the studio root {studio_root}", loc,
                                  ("parent",))
            _not_hidden(nxt, studio_root, loc)
            _note("paths", str(nxt))  # a cached resolve is stale once the folder goes
            if not nxt.is_dir():
                raise ConfigError(f"parent directory {nxt} does not exist", loc, ("parent",))
            redirected_at = loc
        else:
            nxt = directory.parent
            if nxt == directory:  # pragma: no cover - find_studio_root saw the root above
                raise ConfigError(f"{context} is not below the studio root {studio_root}",
                                  Location(str(context)))
        if nxt in visited:
            loop = [str(p) for p in visited.values() if p is not None]
            raise ConfigError("redirects loop through " + " -> ".join(loop),
                              redirected_at or Location(str(nxt)), ("parent",))
        directory = nxt
    if walked is None:
        walked = list(visited)
    if tails is not None:  # every folder of this walk: the walk on from there
        for i in range(1, len(walked)):
            tails.setdefault((walked[i], variants, studio_root), (chain[i:], tuple(walked[i:])))
    ordered = [f for files in reversed(chain) for f in files]
    return studio_root, ordered, tuple(walked)


def _not_hidden(directory: Path, studio_root: Path, loc: Location | None) -> None:
    """Raise :class:`ConfigError` when ``directory`` lies in a hidden folder below the studio
    root (``.git``, ``.landscape``…): ``check`` and ``plan`` never look there, so no context
    may live there either."""
    hidden = [p for p in directory.relative_to(studio_root).parts if p.startswith(".")] \
        if directory != studio_root else []
    if hidden:
        raise ConfigError(f"{directory} is in a hidden folder ({hidden[0]}): hidden folders "
                          "hold no contexts", loc or Location(str(directory)))


def skipped_policies(context: Path, studio_root: Path, files: list[ConfigFile],
                     variants: Iterable[str] = ()) -> list[Node]:
    """The ``policy`` nodes of config files (plain, and the asked-for variants) on the natural
    way from ``context`` up to the studio root that a ``parent:`` redirect skipped (root side
    first): their narrowing still binds the context, so a redirect cannot escape a project's
    policy."""
    applied = {f.path for f in files}
    out = []
    for directory in context.parents if context != studio_root else ():
        if directory == studio_root or studio_root not in directory.parents:
            break
        for name, variant in [(CONFIG_NAME, None)] + [(f"landscape.{v}.yaml", v)
                                                      for v in variants]:
            path = directory / name
            if path in applied or not _is_file(path):
                continue
            cfg = load_config(path, variant, root=studio_root)
            node = cfg.node.get("policy") if cfg.node is not None else None
            if node is not None and node.is_map and not cfg.errors:
                out.append(node)
    return list(reversed(out))


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file. A folder that cannot be searched, or a config file name
    that is a folder or another file that is not regular (a FIFO, a socket, a device), is a
    :class:`ConfigError` (never silently skipped; such a file is never opened). Memoised
    within a :func:`landscape.memo.scope`."""
    _note("paths", str(path))
    memo = _memo("is_file")
    if memo is not None:
        hit = memo.get(path)
        if hit is None:
            try:
                hit = memo[path] = _stat_is_file(path)
            except ConfigError as e:
                hit = memo[path] = (e.message, e.location)
        if isinstance(hit, tuple):
            raise ConfigError(*hit)  # a fresh error each time: one traceback per raise
        return hit
    return _stat_is_file(path)


def _stat_is_file(path: Path) -> bool:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise ConfigError(f"cannot look for config files here: {e.strerror}",
                          Location(str(path))) from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError("is a directory, not a config file", Location(str(path)))
    if not stat.S_ISREG(st.st_mode):  # the words of landscape.nodes.read_file (check: once)
        raise ConfigError("is not a regular file: not read", Location(str(path)))
    return True


def _expand(text: str, loc: Location) -> str:
    return os.path.expanduser(expand_host_vars(text, loc, ("parent",)))


@dataclass
class Level:
    """A declared level: its ``level`` name (``shot``), the directory ``value`` (``sh020``),
    the display ``name`` and the ``directory``."""

    level: str
    value: str
    name: str
    directory: Path
    origin: Location


@dataclass
class Cascade:
    """The merged configuration of one context.

    ``values`` maps each top-level key to its merged :class:`~landscape.nodes.Node` (items
    keep their origin). ``levels`` are in cascade order (studio first). ``files`` are the
    applied files, root first.
    """

    context: Path
    variants: tuple[str, ...]
    root: Path
    files: list[ConfigFile]
    levels: list[Level]
    values: dict[str, Node]
    #: the studio root's own ``policy`` (defaults filled in): what only the root may allow
    root_policy: Node | None = None

    @property
    def root_file(self) -> Path:
        """The studio root's ``landscape.yaml``."""
        return self.root / CONFIG_NAME

    @functools.cached_property
    def policy(self) -> "Policy":
        """The effective :class:`~landscape.policy.Policy` of this context (computed once)."""
        from .resources import cache_dir

        memo = _memo("policy")
        key = (id(self.values.get("policy")), id(self.root_policy), id(self.files[0])
               if self.files else None, self.root)
        if memo is not None and key in memo:
            return memo[key][1]
        protected = [str(self.root_file), str(self.root / ".landscape"), str(cache_dir()),
                     *self.root_paths("rez", "packages_path", "staging_path", "dev_path"),
                     *self.root_paths("manifests_path"), *_hidden_entries(self.root)]
        policy = Policy.from_nodes(self.values.get("policy"), self.root_policy, self.root,
                                   self.root_file, protected)
        if memo is not None:  # the nodes of the key are kept alive with the answer
            memo[key] = ((self.values.get("policy"), self.root_policy, self.files[:1]), policy)
        return policy

    def root_paths(self, key: str, *subkeys: str) -> list[str]:
        """Absolute paths the studio root's own file lists under ``key`` (a list of paths,
        e.g. ``manifests_path``) or under ``key.<subkey>`` for each subkey (``rez``,
        ``packages_path``…): what the trusted file names, whatever deeper files add."""
        root = self.files[0] if self.files else None
        node = root.node.get(key) if root is not None and root.node is not None else None
        lists = [node] if not subkeys else [node.get(k) if node is not None else None
                                            for k in subkeys]
        out = []
        for n in lists:
            for item in (n.value if n is not None and n.is_list else []):
                text = os.path.expanduser(expand_host_vars(str(item.value), item.loc, (key,),
                                                           trusted=True))
                out.append(os.path.normpath(os.path.join(str(root.dir), text)))
        return out

    @property
    def project_dir(self) -> Path:
        """The folder of the context's project level (where ``landscape.lock`` lives), else
        the studio root."""
        for lv in self.levels:
            if lv.level == "project":
                return lv.directory
        return self.root

    def studio_image(self) -> dict[str, str | None]:
        """The studio root's ``image.registry``, ``image.ca_certificates`` (an absolute
        path) and ``image.apt_mirror`` (``None`` when unset); deeper files may not set them.
        Raises :class:`ConfigError` at the root file's line for a malformed value."""
        from . import grammar

        root = self.files[0] if self.files else None
        node = root.node.get("image") if root is not None and root.node is not None else None
        out: dict[str, str | None] = {k: None for k in ROOT_ONLY_IMAGE_KEYS}
        if node is None or not node.is_map:
            return out
        for key in ROOT_ONLY_IMAGE_KEYS:
            item = node.get(key)
            if item is None:
                continue
            text = str(item.value)
            if key == "registry" and not grammar.is_registry(text):
                raise ConfigError(f"{text!r} is not a registry (host[:port][/path])", item.loc,
                                  ("image", key))
            if key == "apt_mirror" and not grammar.is_apt_mirror(text):
                raise ConfigError(f"{text!r} is not an http(s) mirror URL", item.loc,
                                  ("image", key))
            if key == "ca_certificates":
                text = os.path.normpath(os.path.join(str(root.dir), os.path.expanduser(
                    expand_host_vars(text, item.loc, ("image", key), trusted=True))))
            out[key] = text
        return out

    def node(self, key: str) -> Node | None:
        """Merged node of top-level ``key`` (``None`` when no file set it)."""
        return self.values.get(key)

    def plain(self, key: str, default: Any = None) -> Any:
        """Plain merged value of ``key`` (``default`` when no file set it)."""
        n = self.values.get(key)
        return n.plain() if n is not None else default

    @property
    def level_values(self) -> dict[str, str]:
        """Level name → directory name, e.g. ``{"project": "lighthouse", "shot": "sh020"}``."""
        return {lv.level: lv.value for lv in self.levels}

    def level_value(self, level: str) -> str | None:
        """Folder name of ``level`` in this context (``None`` when not declared)."""
        return self.level_values.get(level)

    @property
    def project(self) -> str:
        """The context's project: the ``project`` level's folder name, else the studio root's
        (names the image repository and the stack)."""
        return self.level_value("project") or self.root.name


def build_cascade(context: str | Path, variants: Iterable[str] = (),
                  root: Path | None = None) -> Cascade:
    """Discover and merge the config files of ``context`` (see module doc).

    Raises :class:`~landscape.errors.ErrorGroup` (or a single
    :class:`~landscape.errors.ConfigError`) naming every broken file, key and tag.
    """
    variants = tuple(variants)
    studio_root, files, walked = _discover(Path(context), variants, root)
    errors: list[LandscapeError] = []
    for f in files:
        errors.extend(f.errors)
    ErrorGroup.raise_if_any(errors)
    values, levels, merge_errors, root_policy = _fold(studio_root, files)
    if any(isinstance(f.get("child_level"), str) for f in files):
        levels = _child_levels(files, walked)
    if any(isinstance(f.get("parent"), str) for f in files):  # a redirect skipped folders
        for node in skipped_policies(context_path(context, root), studio_root, files,
                                     variants):
            values["policy"] = intersect(values["policy"], node)
    ErrorGroup.raise_if_any(merge_errors)
    return Cascade(context_path(context, root), variants, studio_root, files,
                   list(levels.values()), values, root_policy)


_Fold = tuple[dict[str, Node], dict[str, Level], list[ConfigError], Node | None]


def _fold(studio_root: Path, files: list[ConfigFile]) -> _Fold:
    """Merge ``files`` (root first): ``(values, levels, merge errors, the root's policy)``.

    Within a :func:`landscape.memo.scope` the state after every proper prefix of ``files``
    is kept (keyed by the loaded files' identities — :func:`load_config` hands out one object
    per unchanged file), so a shot merges only its own file onto its sequence's state."""
    memo = _memo("fold")
    ids = tuple(id(f) for f in files)
    start = 0
    values: dict[str, Node] = {}
    levels: dict[str, Level] = {}
    merge_errors: list[ConfigError] = []
    root_policy: Node | None = None
    if memo is not None:
        for k in range(len(files) - 1, 0, -1):
            hit = memo.get(ids[:k])
            if hit is not None:
                _files, (values, levels, merge_errors, root_policy) = hit
                values, levels, merge_errors = dict(values), dict(levels), list(merge_errors)
                start = k
                break
    token = TRUSTED_FILE.set(str(files[0].path) if files else None)
    try:
        for i in range(start, len(files)):
            f = files[i]
            if f.node is not None:
                values = merge_maps(values, f.node, CONFIG_STRATEGIES, merge_errors)
            if i == 0:  # the studio root: what it leaves out, deeper files narrow from defaults
                root_policy = values["policy"] = seed_defaults(values.get("policy"), f.path,
                                                               values.get("storage"))
            if f.node is not None:
                is_root = f.path == studio_root / CONFIG_NAME
                if not is_root:
                    merge_errors.extend(_root_only_image_keys(f))
                merge_errors.extend(_secret_errors(f.node, is_root))
                _level(f, levels)
            if memo is not None and i + 1 < len(files):
                memo[ids[:i + 1]] = (files[:i + 1], (values, dict(levels), list(merge_errors),
                                                     root_policy))
    finally:
        TRUSTED_FILE.reset(token)
    return values, levels, merge_errors, root_policy


#: Workspaces of warm launches stop after this many idle seconds unless ``launch.warm_idle``
#: (studio root only) says otherwise.
DEFAULT_IDLE = 30 * 60
_DURATION = re.compile(r"^([0-9]+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def warm_idle(root_node: Node | None) -> int:
    """The idle time of workspaces in seconds: the studio root's ``launch.warm_idle``
    (``root_node``: the root file's :class:`~landscape.nodes.Node`, or ``None``), an integer
    of seconds or a number with ``s``, ``m``, ``h`` or ``d``; :data:`DEFAULT_IDLE` when
    unset. Raises :class:`ConfigError` at the value's line for a malformed one."""
    launch = root_node.get("launch") if root_node is not None and root_node.is_map else None
    item = launch.get("warm_idle") if launch is not None and launch.is_map else None
    if item is None:
        return DEFAULT_IDLE
    m = _DURATION.match(str(item.value)) if not isinstance(item.value, bool) else None
    if m is None or int(m.group(1)) == 0:
        raise ConfigError(f"{item.value!r} is not a duration (e.g. 90s, 30m, 2h)", item.loc,
                          ("launch", "warm_idle"))
    return int(m.group(1)) * _UNITS[m.group(2)]



#: ``image`` keys only the studio root may set: where images come from and what a build
#: trusts (a deeper file naming a registry could hand artists another image).
ROOT_ONLY_IMAGE_KEYS = ("registry", "ca_certificates", "apt_mirror")


#: top-level keys only the studio root may set (read from its file, never merged)
ROOT_ONLY_KEYS = ("launch", "delivery")


def _root_only_image_keys(f: ConfigFile) -> list[ConfigError]:
    errors = [ConfigError(f"{key} may only be set in the studio root's {CONFIG_NAME}",
                          f.node.key_loc(key), (key,))
              for key in ROOT_ONLY_KEYS if f.node is not None and f.node.get(key) is not None]
    image = f.node.get("image") if f.node is not None else None
    if image is None or not image.is_map:
        return errors
    return errors + [ConfigError(f"image.{k} may only be set in the studio root's "
                                 f"{CONFIG_NAME}", image.get(k).loc, ("image", k))
                     for k in ROOT_ONLY_IMAGE_KEYS if image.get(k) is not None]


def _hidden_entries(root: Path) -> tuple[str, ...]:
    """The hidden entries at the top of the studio root (``.git``, ``.github``, ``.venv``…):
    a config repository's machinery, which a container must never write (a git hook written
    there would run on the CI runner)."""
    _note("listings", str(root))
    return _hidden_entries_of(root)


@functools.lru_cache(maxsize=64)
def _hidden_entries_of(root: Path) -> tuple[str, ...]:
    return hidden_entries(root)


def _child_levels(files: list[ConfigFile], walked: tuple[Path, ...]) -> dict[str, Level]:
    """The levels of a walk whose files say ``child_level``: each file's own ``level``
    (:func:`_level`), and for a folder whose files declare no level, the ``child_level`` of
    the folder right above it on the walk (its parent folder: a ``parent:`` redirect gives
    no level) — a shot folder without its own ``landscape.yaml`` is a shot when its sequence
    says ``child_level: shot``. ``walked`` is the walk, context first; ``files`` root first.
    """
    by_dir: dict[Path, list[ConfigFile]] = {}
    for f in files:
        by_dir.setdefault(f.dir, []).append(f)
    levels: dict[str, Level] = {}
    above: tuple[str, Location, Path] | None = None  # (child_level, where, its folder)
    for folder in reversed(walked):  # root first
        own = by_dir.get(folder, [])
        if above is not None and folder.parent == above[2] and not any(
                isinstance(f.get("level"), str) for f in own):
            levels.pop(above[0], None)
            levels[above[0]] = Level(above[0], folder.name, folder.name, folder, above[1])
        for f in own:
            if f.node is not None:
                _level(f, levels)
        above = None
        for f in own:
            child = f.get("child_level")
            if isinstance(child, str) and f.node is not None:
                above = (child, f.node.get("child_level").loc, folder)
    return levels


def _level(f: ConfigFile, levels: dict[str, Level]) -> None:
    """Record the level file ``f`` declares (a deeper folder of the same level wins)."""
    level = f.get("level")
    if isinstance(level, str):
        levels.pop(level, None)
        display = f.get("name")
        levels[level] = Level(level, f.dir.name, display if isinstance(display, str)
                              else f.dir.name, f.dir, f.node.get("level").loc)
