"""Merge strategies of the cascade (docs/config.md), as one data-driven table.

Each key of ``landscape.yaml`` maps to a :class:`Strategy` in :data:`CONFIG_STRATEGIES`;
tool fields, workflow fields, ``image``, ``rez`` and ``policy`` are :class:`Fields`
strategies with tables of their own. A strategy merges a deeper file's value (``new``) onto
the inherited one (``old``), both :class:`~landscape.nodes.Node` trees, and returns the
merged node (or ``None`` when the key is dropped). Merged nodes are built from the
original nodes, so every item keeps the file and line that set it.

Merge tags (``!replace``, ``!append``, ``!prepend``, ``!remove``, ``!unset``) are honoured
by every strategy where docs/config.md allows them; elsewhere a tag is a
:class:`~landscape.errors.ConfigError` naming file, line and key path.

The same strategies merge the layers of one tool's environment (manifest → context →
workflow → tool → variant → command line, docs/config.md).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Callable, Mapping

from .errors import ConfigError
from .memo import note
from .nodes import Node

KeyPath = tuple

#: While :func:`merge_maps` runs, errors of single entries are collected here (and the
#: entry keeps its inherited value) so that one file reports all its problems at once.
_COLLECT: ContextVar[list | None] = ContextVar("landscape_merge_errors", default=None)

_REQ_NAME = re.compile(r"^[~!]?([A-Za-z_][A-Za-z0-9_]*)")


def request_name(request: str) -> str:
    """The package name of a rez request: ``maya`` for ``maya-2024+<2025``, ``~maya``, ``!maya``.

    Follows rez's request grammar (a leading ``~`` weak or ``!`` conflict marker, then the
    family name made of letters, digits and ``_``). Returns the request itself when it does
    not start with a name (the schema reports that case).
    """
    m = _REQ_NAME.match(str(request).strip())
    return m.group(1) if m else str(request)


def _tag_error(new: Node, path: KeyPath, allowed: tuple[str, ...], what: str) -> ConfigError:
    ok = ", ".join("!" + t for t in allowed) if allowed else "no merge tag"
    return ConfigError(f"!{new.tag} cannot be used on {what} (allowed: {ok})", new.loc, path)


def _abs_path(value: str, node: Node, path: KeyPath) -> str:
    """``value`` made absolute against the directory of the file ``node`` comes from.

    ``${VAR}`` and ``~`` are expanded first (an unset variable is an error).
    """
    text = expand_host_vars(str(value), node.loc, path)
    text = os.path.expanduser(text)
    base = os.path.dirname(node.loc.file) if node.loc.file and not node.loc.file.startswith("<") \
        else os.getcwd()
    return os.path.normpath(os.path.join(base, text))


def policy_path(node: Node, path: KeyPath) -> str:
    """A path entry of ``policy`` (``allowed_mounts``…) as the policy compares it: made
    absolute against its file (:func:`_abs_path`), then canonical (symlinks resolved)."""
    from .policy import real  # policy builds on this module

    return real(_abs_path(node.value, node, path))


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: The studio root's file while the cascade merges (set by :func:`landscape.cascade.build_cascade`):
#: only it may read any host variable into a path.
TRUSTED_FILE: ContextVar[str | None] = ContextVar("landscape_trusted_file", default=None)
#: Host variables files below the root may use in paths. Others could carry secrets (a CI
#: runner's tokens) into a path, and from there into an error message or a mount.
SAFE_HOST_VARIABLES = ("HOME", "USER", "LOGNAME")


def expand_host_vars(text: str, loc, path: KeyPath, trusted: bool | None = None) -> str:
    """``text`` with ``${VAR}`` taken from the host environment (paths in config files:
    ``parent``, ``rez.*_path``, ``storage``, ``manifests_path``). An unset variable is a
    :class:`ConfigError` at ``loc``. Unless the text comes from the studio root's file
    (``trusted``, by default: ``loc`` is :data:`TRUSTED_FILE`), only
    :data:`SAFE_HOST_VARIABLES` and ``LANDSCAPE_*`` variables may be used."""
    if trusted is None:
        trusted = loc is not None and loc.file == TRUSTED_FILE.get()

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if not trusted and name not in SAFE_HOST_VARIABLES and not name.startswith("LANDSCAPE_"):
            raise ConfigError(f"${{{name}}}: a file below the studio root may only use "
                              f"${{LANDSCAPE_*}}, " + ", ".join(f"${{{v}}}" for v in
                                                              SAFE_HOST_VARIABLES)
                              + " from the host environment", loc, path)
        note("env", name)
        if name not in os.environ:
            raise ConfigError(f"${{{name}}} is not set in the environment", loc, path)
        return os.environ[name]

    return _VAR.sub(sub, text)


def _list_items(new: Node, path: KeyPath) -> list[Node]:
    """The items of a list value (a single scalar counts as a one-item list). A merge tag on
    an item is an error: tags apply to a whole value."""
    items = list(new.value) if new.is_list else [new.untagged()]
    for i, n in enumerate(items):
        if n.tag is not None:
            raise ConfigError(f"!{n.tag} applies to a whole value, not to one list item; "
                              f"write `key: !{n.tag} [...]`", n.loc, path + (i,))
    return items


class Strategy:
    """Base of merge strategies. ``merge(old, new, path)`` → merged node or ``None``."""

    #: tags this strategy accepts on ``new`` (``replace`` and ``remove`` are handled here)
    tags: tuple[str, ...] = ("replace",)
    what = "this key"

    def merge(self, old: Node | None, new: Node, path: KeyPath) -> Node | None:
        """Merge ``new`` (one file's or layer's value at key ``path``) onto ``old``; handles
        ``!replace`` and an empty ``!remove`` here, the rest in :meth:`combine`. Raises
        :class:`ConfigError` for a tag this strategy does not take."""
        if new.tag == "remove" and new.value in (None, ""):
            return None  # ``key: !remove`` (no value) drops the inherited entry, of any kind
        if new.tag is not None and new.tag not in self.tags:
            raise _tag_error(new, path, self.tags, self.what)
        if new.tag == "replace":
            return self.merge(None, new.untagged(), path)
        return self.combine(old, new, path)

    def combine(self, old: Node | None, new: Node, path: KeyPath) -> Node | None:
        """The strategy proper: ``new`` (its tag, if any, one of :attr:`tags`) onto ``old``."""
        raise NotImplementedError


class Replace(Strategy):
    """Scalars and opaque values: a deeper value replaces the inherited one."""

    what = "a replaced value"

    def combine(self, old, new, path):
        return new


class AbsPath(Replace):
    """A path string made absolute against its file's directory, then replaced."""

    def combine(self, old, new, path):
        if isinstance(new.value, str):
            return new.with_value(_abs_path(new.value, new, path))
        return new


class Union(Strategy):
    """Lists whose items are kept once, in order (``dirs``, ``system_packages``)."""

    tags = ("replace", "append", "prepend", "remove")
    what = "a union list"

    def combine(self, old, new, path):
        items = list(old.value) if old is not None else []
        incoming = _list_items(new, path)
        values = {_hashable(n.value) for n in incoming}
        if new.tag == "remove":
            return (old or new).with_value([n for n in items if _hashable(n.value) not in values])
        kept = [n for n in items if _hashable(n.value) not in values] \
            if new.tag == "prepend" else items
        have = {_hashable(n.value) for n in kept}
        fresh = []
        for n in incoming:
            if _hashable(n.value) not in have:
                have.add(_hashable(n.value))
                fresh.append(n)
        merged = fresh + kept if new.tag == "prepend" else kept + fresh
        return new.with_value(merged)


class DeeperFirst(Strategy):
    """Search paths (``rez.packages_path``, ``manifests_path``): a deeper file's entries are
    searched first; paths are made absolute against the file that wrote them.
    ``!append`` puts them last instead."""

    tags = ("replace", "append", "prepend", "remove")
    what = "a search path"

    def combine(self, old, new, path):
        items = list(old.value) if old is not None else []
        incoming = [n.with_value(_abs_path(n.value, n, path)) for n in _list_items(new, path)]
        names = {n.value for n in incoming}
        rest = [n for n in items if n.value not in names]
        if new.tag == "remove":
            return new.with_value(rest)
        merged = rest + incoming if new.tag == "append" else incoming + rest
        return new.with_value(merged)


class ByName(Strategy):
    """Lists keyed by a name: package requests (by package name) and storage (by target).

    Names replace **inherited** items: the items of one incoming list that share a name
    replace every inherited item of that name, **in place** (together, in their own order,
    where the first inherited one stood); items with new names are appended in their own
    order. ``!prepend``/``!append`` put the incoming list at the front/back (dropping
    same-name inherited items); ``!remove [names…]`` drops by name.

    With ``keep_same_name`` (package requests) every item of one incoming list is kept, even
    when several share a name: ``[python-2.6, "!python-2.6.8"]`` is one request list to rez
    (a range and an exclusion), and ``[nada, "!nada"]`` a conflict rez must report.
    Without it (storage) the last item of a name wins within the list too.
    """

    tags = ("replace", "append", "prepend", "remove")

    def __init__(self, key: Callable[[Node, KeyPath], str], what: str,
                 normalize: Callable[[Node, KeyPath], Node] | None = None,
                 keys_are_paths: bool = False, keep_same_name: bool = False) -> None:
        self.key = key
        self.what = what
        self.normalize = normalize or (lambda n, p: n)
        self.keys_are_paths = keys_are_paths
        self.keep_same_name = keep_same_name

    def combine(self, old, new, path):
        items = list(old.value) if old is not None else []
        removed = set(old.removed) if old is not None else set()
        if new.removed:  # a merged layer dropping names of the layers below it
            items = [n for n in items if self.key(n, path) not in new.removed]
            removed |= new.removed
        if new.tag == "remove":
            names = {str(n.value) for n in _list_items(new, path)}
            if self.keys_are_paths:  # a relative name means the path it makes in that file
                names |= {_abs_path(x, new, path) for x in names}
            kept = [n for n in items if self.key(n, path) not in names]
            return Node(kept, (old or new).loc, removed=frozenset(removed | names))
        incoming = [self.normalize(n, path + (i,)) for i, n in enumerate(_list_items(new, path))]
        if not self.keep_same_name:  # the last item of a name, where the first one stood
            last = {self.key(n, path): n for n in incoming}
            incoming = list(last.values())
        groups: dict[str, list[Node]] = {}  # name → the incoming items of that name, in order
        for n in incoming:
            groups.setdefault(self.key(n, path), []).append(n)
        removed -= set(groups)  # named again: no longer removed
        if new.tag in ("append", "prepend"):
            rest = [n for n in items if self.key(n, path) not in groups]
            items = incoming + rest if new.tag == "prepend" else rest + incoming
        else:
            merged: list[Node] = []
            placed: set[str] = set()
            for n in items:  # an inherited name's first place takes the incoming items of it
                k = self.key(n, path)
                if k not in groups:
                    merged.append(n)
                elif k not in placed:
                    placed.add(k)
                    merged += groups[k]
            items = merged + [n for n in incoming if self.key(n, path) not in placed]
        return Node(items, new.loc, removed=frozenset(removed))


def _package_key(n: Node, path: KeyPath) -> str:
    return request_name(n.value)


def _mount_key(n: Node, path: KeyPath) -> str:
    target = n.get("target")
    return str(target.value) if target is not None else str(n.get("source").value)


def _normalize_mount(n: Node, path: KeyPath) -> Node:
    """Storage mount: ``source`` made absolute; ``target`` defaults to the same path
    (README.md, What a launch gets)."""
    src = n.get("source")
    value = dict(n.value)
    abs_src = src.with_value(_abs_path(src.value, src, path + ("source",)))
    value["source"] = abs_src
    if "target" not in value:
        value["target"] = abs_src  # the target is judged by the policy (landscape.policy)
    if "mode" not in value:
        value["mode"] = abs_src.with_value("rw")
    return n.with_value(value)


PACKAGES = ByName(_package_key, "package requests", keep_same_name=True)
STORAGE = ByName(_mount_key, "storage", _normalize_mount, keys_are_paths=True)


class Env(Strategy):
    """Environment actions (docs/config.md): per variable, an ordered list of action nodes.

    A plain value (string or list) **sets** and drops earlier actions on that variable;
    ``!prepend``/``!append`` add to the list; ``!unset`` unsets (dropping earlier actions);
    ``VAR: !remove`` forgets every action on ``VAR`` so far — in lower layers too (a marker
    action that :func:`landscape.tools.env_actions` skips). The merged node maps each
    variable to a list node of action nodes (each keeps its tag and location); they are
    applied later by :func:`landscape.envactions.apply_actions`.
    """

    what = "env"

    def combine(self, old, new, path):
        merged: dict[str, Node] = dict(old.value) if old is not None else {}
        key_locs = dict(old.key_locs or {}) if old is not None else {}
        for var, action in new.items():
            vpath = path + (var,)
            if action.tag not in (None, "replace", "append", "prepend", "unset", "remove"):
                _fail(_tag_error(action, vpath, ("replace", "append", "prepend", "unset",
                                                 "remove"), "an env variable"))
                continue
            if action.tag in (None, "replace", "append", "prepend") and action.value is None:
                _fail(ConfigError("an env value is needed (use !unset to unset)", action.loc,
                                  vpath))
                continue
            if action.is_map or (action.is_list and any(n.is_map or n.is_list
                                                        for n in action.value)):
                _fail(ConfigError("an env value is a string or a list of strings", action.loc,
                                  vpath))
                continue
            _accumulate(merged, var, action)
            key_locs[var] = new.key_loc(var)
        return Node(merged, new.loc, None, key_locs)

    def extend(self, old: Node | None, merged_env: Node) -> Node:
        """Layer an already merged env node (variable → list of actions, as :meth:`combine`
        returns) over ``old``: its actions follow ``old``'s with the same rules."""
        merged: dict[str, Node] = dict(old.value) if old is not None else {}
        for var, actions in merged_env.items():
            for action in actions.value:
                _accumulate(merged, var, action)
        return Node(merged, merged_env.loc, None, {})


def _accumulate(merged: dict[str, Node], var: str, action: Node) -> None:
    """Add one action node on ``var``: prepend/append add to its list; set, unset and the
    ``!remove`` marker restart it."""
    previous = list(merged[var].value) if var in merged else []
    actions = previous + [action] if action.tag in ("append", "prepend") else [action]
    merged[var] = Node(actions, action.loc)


class Deep(Strategy):
    """Deep merge of maps (``metadata``, ``features``, ``services``): maps merge key by key,
    lists and scalars replace; ``key: !remove`` drops an entry; ``!replace`` replaces a
    sub-tree; ``!append``/``!prepend`` extend an inherited list."""

    tags = ("replace", "append", "prepend")
    what = "a deep-merged map"

    def combine(self, old, new, path):
        if new.tag in ("append", "prepend"):
            if not new.is_list:
                raise _tag_error(new, path, ("replace", "remove"), "a value that is not a list")
            inherited = list(old.value) if old is not None and old.is_list else []
            items = list(new.value) + inherited if new.tag == "prepend" \
                else inherited + list(new.value)
            return new.with_value(items)
        if not new.is_map or old is None or not old.is_map:
            return _strip(new, path)
        return merge_entries(old, new, path, lambda key, o, n, p: self.merge(o, n, p))


def merge_entries(old: Node | None, new: Node, path: KeyPath,
                  merge_one: Callable[[str, Node | None, Node, KeyPath], Node | None]) -> Node:
    """Merge the entries of map node ``new`` onto map node ``old`` one key at a time:
    ``merge_one(key, inherited child or None, new child, key path)`` returns the merged child,
    or ``None`` to drop the key. Keys keep their order of first appearance and the location
    of the file that last set them."""
    merged = dict(old.value) if old is not None and old.is_map else {}
    key_locs = dict(old.key_locs or {}) if old is not None and old.is_map else {}
    for key, child in new.items():
        try:
            result = merge_one(key, merged.get(key), child, path + (key,))
        except ConfigError as e:
            _fail(e)  # collected: the entry keeps what it inherited
            continue
        if result is None:
            merged.pop(key, None)
            key_locs.pop(key, None)
        else:
            merged[key] = result
            key_locs[key] = new.key_loc(key)
    return Node(merged, new.loc, None, key_locs)


def _fail(error: ConfigError) -> None:
    """Record ``error`` when :func:`merge_maps` collects errors, else raise it."""
    collected = _COLLECT.get()
    if collected is None:
        raise error
    collected.append(error)


def _strip(node: Node, path: KeyPath) -> Node | None:
    """``node`` with merge tags applied against nothing (first occurrence of a deep value).
    A tag a deep value cannot take (``!unset`` on a service key, ``!append`` on a scalar)
    is an error, never silently dropped."""
    if node.tag == "remove":
        return None
    allowed = ("replace", "append", "prepend") if node.is_list else ("replace",)
    if node.tag is not None and node.tag not in allowed:
        raise _tag_error(node, path, allowed + ("remove",), "this value")
    if node.is_map:
        value = {}
        for k, n in node.items():
            s = _strip(n, path + (k,))
            if s is not None:
                value[k] = s
        return Node(value, node.loc, None, node.key_locs)
    return node.untagged()


class MapOf(Strategy):
    """A map of named entries (``tools``, ``workflows``, ``templates``, tool ``variants``),
    each merged with ``entry``; ``name: !remove`` drops an entry; ``!replace`` on the whole
    map discards every inherited entry."""

    what = "a map of named entries"

    def __init__(self, entry: Strategy) -> None:
        self.entry = entry

    def combine(self, old, new, path):
        return merge_entries(old, new, path, lambda key, o, n, p: self.entry.merge(o, n, p))


class Fields(Strategy):
    """A map with known fields, each merged with its own strategy (tools, workflows,
    ``image``, ``rez``, ``policy``). Fields not in the table replace."""

    what = "a map of fields"

    def __init__(self, table: Mapping[str, Strategy], what: str = "a map of fields") -> None:
        self.table = table
        self.what = what

    def combine(self, old, new, path):
        if not new.is_map:
            return new
        return merge_entries(old, new, path,
                             lambda key, o, n, p: self.table.get(key, REPLACE).merge(o, n, p))


class Narrow(Strategy):
    """``policy`` (docs/security.md): deeper files may only narrow. Path lists are made absolute and
    canonical (symlinks resolved) as they are read; whether a value narrows what it inherits
    is decided by :func:`landscape.policy.narrow` — the one home of policy rules. The studio
    root's values (and the defaults the cascade seeds after it) are what deeper files
    narrow."""

    what = "policy"
    tags = ()

    def merge(self, old, new, path):
        # No merge tag at all — not even the empty ``!remove`` every other key accepts: it
        # would drop the inherited policy and start again from the defaults (a widening).
        if new.tag is not None:
            raise _tag_error(new, path, (), "policy")
        return self.combine(old, new, path)

    def combine(self, old, new, path):
        if not new.is_map:
            return new
        return merge_entries(old, new, path, self._narrow)

    @staticmethod
    def _narrow(key: str, prev: Node | None, child: Node, kpath: KeyPath) -> Node:
        from .policy import PATH_KEYS, narrow  # policy builds on this module

        if child.tag is not None:
            raise _tag_error(child, kpath, (), "policy")
        if key in PATH_KEYS and child.is_list:
            child = child.with_value([n.with_value(policy_path(n, kpath))
                                      for n in child.value])
        if prev is not None:
            narrow(key, prev, child, kpath)
        return child


def _hashable(value):
    return repr(value) if isinstance(value, (list, dict)) else value


class Local(Strategy):
    """Not inherited (``root``, ``level``, ``parent``, ``name``, ``schema``): read per file
    by the cascade, never merged."""

    tags = ()

    def combine(self, old, new, path):  # pragma: no cover - never merged
        return new


class MergedEnv(Strategy):
    """Env nodes that are already merged (variable → list of actions): a variant's env over
    its parent tool's, when the effective definition of a tool variant is built."""

    what = "env"

    def combine(self, old, new, path):
        return ENV.extend(old, new)


REPLACE = Replace()
UNION = Union()
ENV = Env()
DEEP = Deep()

TOOL_FIELDS: dict[str, Strategy] = {
    "label": REPLACE, "icon": AbsPath(), "category": REPLACE, "command": REPLACE,
    "args": REPLACE, "workflow": REPLACE, "packages": PACKAGES, "env": ENV,
    "system_packages": UNION, "gui": REPLACE, "gpu": REPLACE, "override": REPLACE,
    "capabilities": UNION,
    "workdir": REPLACE, "dirs": UNION,
    "secrets": MapOf(REPLACE),  # per name, each declaration whole
    "frames": REPLACE, "outputs": REPLACE, "verify": REPLACE,  # renders (renderspec.py)
}
TOOL = Fields(TOOL_FIELDS, "a tool")
TOOL_FIELDS["variants"] = MapOf(TOOL)
#: Merges a tool variant, already merged by the cascade, over its parent tool.
VARIANT_OVER_TOOL = Fields({**TOOL_FIELDS, "env": MergedEnv(), "icon": REPLACE}, "a tool")

WORKFLOW = Fields({"packages": PACKAGES, "env": ENV, "manifest": REPLACE, "override": REPLACE},
                  "a workflow")

#: key of ``landscape.yaml`` → merge strategy (docs/config.md)
CONFIG_STRATEGIES: dict[str, Strategy] = {
    "schema": Local(), "root": Local(), "level": Local(), "child_level": Local(),
    "parent": Local(), "name": Local(),
    "manifest": REPLACE,
    "packages": PACKAGES,
    "env": ENV,
    "metadata": DEEP,
    "tools": MapOf(TOOL),
    "workflows": MapOf(WORKFLOW),
    "storage": STORAGE,
    "image": Fields({"base": REPLACE, "system_packages": UNION, "labels": MapOf(REPLACE)},
                    "image"),
    "rez": Fields({"version": REPLACE, "packages_path": DeeperFirst(),
                   "staging_path": DeeperFirst(), "dev_path": DeeperFirst(), "time": REPLACE},
                  "rez"),
    "manifests_path": DeeperFirst(),
    "templates": MapOf(REPLACE),
    "dirs": UNION,
    "features": MapOf(DEEP),
    "services": MapOf(DEEP),
    "policy": Narrow(),
    "launch": Local(),  # studio root only, read from the root file
    "secrets": Local(),  # the root's own secrets: studio root only, read from the root file
    "delivery": Local(),  # studio root only, read from the root file
}

#: keys of a manifest file → merge strategy (docs/config.md; ``extends`` is read, not merged)
MANIFEST_STRATEGIES: dict[str, Strategy] = {
    "schema": Local(), "extends": Local(),
    "packages": PACKAGES, "env": ENV, "workflows": MapOf(WORKFLOW),
}


def merge_maps(old: dict[str, Node], new: Node, table: Mapping[str, Strategy],
               errors: list[ConfigError]) -> dict[str, Node]:
    """Merge the top-level keys of one file's node ``new`` onto ``old`` (key → merged node)
    with ``table``; :class:`Local` keys are skipped. Errors are appended to ``errors`` and
    the offending key keeps its inherited value, so one bad key loses nothing else."""
    out = dict(old)
    token = _COLLECT.set(errors)
    try:
        for key, child in new.items():
            strategy = table.get(key)
            if strategy is None or isinstance(strategy, Local):
                continue
            try:
                result = strategy.merge(out.get(key), child, (key,))
            except ConfigError as e:
                errors.append(e)
                continue
            if result is None:
                out.pop(key, None)
            else:
                out[key] = result
    finally:
        _COLLECT.reset(token)
    return out
