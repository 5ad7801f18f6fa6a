"""YAML loading into located nodes.

A config file is read with PyYAML's safe loader (the C loader when libyaml is present)
and turned into a tree of :class:`Node` objects: every mapping, sequence and scalar keeps
its :class:`~landscape.errors.Location` and its merge tag (``!replace``, ``!append``,
``!prepend``, ``!remove``, ``!unset`` — docs/config.md). Merges work on nodes, so every merged
value still knows the file and line that set it (provenance for ``resolve --explain``).

Errors: :func:`load_file` raises :class:`~landscape.errors.ConfigError` (or an
:class:`~landscape.errors.ErrorGroup` of all of them) naming ``file:line:col`` for YAML
syntax errors, unknown tags, duplicate keys, non-string keys, impossible dates, files larger
than :data:`MAX_FILE_BYTES` and documents that expand (through aliases) to more than
:data:`MAX_NODES` values — config files are untrusted input, and a "billion laughs" alias
bomb must not take a machine down.

Values are JSON's (``resolve --json`` prints them, a launch writes them to
``/landscape/context.json``): a number JSON cannot hold (``.nan``, ``.inf``, ``1.0e+999``),
binary data (``!!binary``) and the collections of YAML's type library that are neither a
mapping nor a list (``!!set``, ``!!omap``, ``!!pairs``) are refused where they stand. Dates
stay dates; JSON output writes them as text (``str(date)``).
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, Iterator

import yaml

from .errors import ConfigError, ErrorGroup, Location
from .names import MERGE_TAGS  # the merge tags of docs/config.md, without the ``!``

try:  # libyaml is much faster; the pure-Python loader gives the same nodes and marks.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - wheels of PyYAML ship libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STD_PREFIX = "tag:yaml.org,2002:"
_STR_TAG = _STD_PREFIX + "str"
#: Collection tags of YAML's type library that JSON has no value for (a mapping or list
#: would be read in their place)
_NOT_JSON_COLLECTIONS = frozenset(_STD_PREFIX + t for t in ("set", "omap", "pairs"))
#: The tags YAML gives a plain mapping and a plain list (written or implied)
_PLAIN_COLLECTIONS = frozenset(_STD_PREFIX + t for t in ("map", "seq"))
#: A config file larger than this is refused before it is parsed.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: A document that expands to more values than this (aliases count each time they are used)
#: is refused: YAML aliases can make a few hundred bytes expand exponentially.
MAX_NODES = 200_000
#: Deeper nesting than this is refused (merges and JSON recurse over the tree).
MAX_DEPTH = 64


class Node:
    """One YAML value with its location and merge tag.

    ``value`` is ``dict[str, Node]`` for a mapping, ``list[Node]`` for a sequence, else a
    plain scalar (str, int, float, bool, None, date). ``tag`` is one of :data:`MERGE_TAGS`
    or ``None``. ``loc`` is where the value starts; mapping nodes also keep ``key_locs``
    (key → location of the key itself), used for errors about keys; merged lists keep the
    names they ``removed``.
    """

    __slots__ = ("value", "tag", "loc", "key_locs", "removed")

    def __init__(self, value: Any, loc: Location, tag: str | None = None,
                 key_locs: dict[str, Location] | None = None,
                 removed: frozenset[str] = frozenset()) -> None:
        self.value = value
        self.tag = tag
        self.loc = loc
        self.key_locs = key_locs
        #: names a merged list has dropped with ``!remove`` and not re-added: when the list
        #: is layered over a lower layer (a tool's packages over the context's), they are
        #: dropped from that layer too
        self.removed = removed

    # -- shape ---------------------------------------------------------------------
    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def items(self) -> Iterator[tuple[str, "Node"]]:
        """Key/child pairs of a mapping node (empty for other nodes)."""
        return iter(self.value.items()) if isinstance(self.value, dict) else iter(())

    def get(self, key: str) -> "Node | None":
        """The child ``key`` of a mapping node, or ``None``."""
        return self.value.get(key) if isinstance(self.value, dict) else None

    def key_loc(self, key: str) -> Location:
        """Location of ``key`` in this mapping (falls back to the mapping's own location)."""
        if self.key_locs and key in self.key_locs:
            return self.key_locs[key]
        return self.loc

    def with_value(self, value: Any, tag: str | None = None) -> "Node":
        """A copy of this node holding ``value`` (same location), with ``tag``."""
        return Node(value, self.loc, tag, self.key_locs if isinstance(value, dict) else None)

    def untagged(self) -> "Node":
        """This node without its merge tag."""
        return self if self.tag is None else Node(self.value, self.loc, None, self.key_locs)

    # -- conversion ----------------------------------------------------------------
    def plain(self) -> Any:
        """The value as plain Python data (tags dropped, nodes unwrapped, recursively)."""
        v = self.value
        if isinstance(v, dict):
            return {k: n.plain() for k, n in v.items()}
        if isinstance(v, list):
            return [n.plain() if isinstance(n, Node) else n for n in v]
        return v

    def find(self, path: tuple) -> "Node | None":
        """The node at key ``path`` (strings for keys, ints for list indexes), or ``None``."""
        node: Node | None = self
        for part in path:
            if node is None:
                return None
            if isinstance(part, int) and node.is_list:
                node = node.value[part] if 0 <= part < len(node.value) else None
            elif isinstance(part, str) and node.is_map:
                node = node.value.get(part)
            else:
                return None
        return node

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        t = f"!{self.tag} " if self.tag else ""
        return f"Node({t}{self.plain()!r} @ {self.loc})"


def from_plain(value: Any, loc: Location) -> Node:
    """Wrap plain Python data (e.g. a command-line extra) as nodes located at ``loc``."""
    if isinstance(value, Node):
        return value
    if isinstance(value, dict):
        return Node({str(k): from_plain(v, loc) for k, v in value.items()}, loc, key_locs={})
    if isinstance(value, (list, tuple)):
        return Node([from_plain(v, loc) for v in value], loc)
    return Node(value, loc)


def _loc(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed PyYAML node graph into :class:`Node` objects."""

    def __init__(self, loader: Any, file: str, yaml_module: Any = yaml) -> None:
        self.loader = loader
        self.file = file
        self.y = yaml_module  # the PyYAML the loader comes from (its node classes)
        self.active: set[int] = set()  # nodes being built: an alias back to one is a cycle
        self.count = 0
        #: problems that leave the rest of the document readable (duplicate keys, bad
        #: scalars): collected so that one run reports them all
        self.errors: list[ConfigError] = []

    def build(self, ynode: Any, path: tuple = ()) -> Node:
        if id(ynode) in self.active:
            raise ConfigError("an alias refers to a node that contains it (recursive YAML)",
                              _loc(self.file, ynode.start_mark), path)
        self.count += 1
        if len(path) > MAX_DEPTH:
            raise ConfigError(f"the document nests deeper than {MAX_DEPTH} levels",
                              _loc(self.file, ynode.start_mark), path[:4])
        if self.count > MAX_NODES:
            raise ConfigError(f"the document expands to more than {MAX_NODES:,} values "
                              "(YAML aliases used over and over?)", Location(self.file))
        self.active.add(id(ynode))
        try:
            return self._build(ynode, path)
        finally:
            self.active.discard(id(ynode))

    def _build(self, ynode: Any, path: tuple) -> Node:
        tag = None
        raw_tag = ynode.tag or ""
        if raw_tag.startswith("!") and not raw_tag.startswith("!!"):
            name = raw_tag[1:]
            if name not in MERGE_TAGS:
                # ``- !python-3.12`` in a list of requests: YAML took rez's conflict mark
                looks_like_request = ("packages" in path and isinstance(ynode, self.y.ScalarNode)
                                      and not ynode.value)
                self.errors.append(ConfigError(
                    f"unknown tag !{name}; merge tags are "
                    + ", ".join("!" + t for t in MERGE_TAGS),
                    _loc(self.file, ynode.start_mark), path,
                    hint=f"quote a rez conflict request: '!{name}'" if looks_like_request
                    else None,
                ))
            else:
                tag = name
        loc = _loc(self.file, ynode.start_mark)
        if raw_tag in _NOT_JSON_COLLECTIONS:
            name = raw_tag[len(_STD_PREFIX):]
            self.errors.append(ConfigError(
                f"a YAML {name} (!!{name}) is not allowed: config values are JSON data",
                loc, path, hint="write a mapping or a list"))
        elif not isinstance(ynode, self.y.ScalarNode) and raw_tag not in _PLAIN_COLLECTIONS \
                and not raw_tag.startswith("!"):
            # a scalar's own tag is refused by the safe constructor; a collection's would
            # only be dropped (``!!python/object/apply:…`` read as a plain list)
            shown = "!!" + raw_tag[len(_STD_PREFIX):] if raw_tag.startswith(_STD_PREFIX) \
                else raw_tag
            self.errors.append(ConfigError(
                f"tag {shown} is not allowed: config values are JSON data", loc, path,
                hint="the only tags are the merge tags: " + ", ".join("!" + t
                                                                     for t in MERGE_TAGS)))
        if isinstance(ynode, self.y.MappingNode):
            self.loader.flatten_mapping(ynode)  # merge keys (<<) as PyYAML does
            out: dict[str, Node] = {}
            key_locs: dict[str, Location] = {}
            for knode, vnode in ynode.value:
                key = self.scalar(knode, path) if isinstance(knode, self.y.ScalarNode) else None
                kloc = _loc(self.file, knode.start_mark)
                if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
                    self.errors.append(ConfigError("keys must be strings", kloc, path))
                    continue
                key = str(key)
                if key in out:
                    self.errors.append(ConfigError(
                        f"duplicate key (first at line {key_locs[key].line})", kloc, path + (key,)
                    ))
                    continue
                out[key] = self.build(vnode, path + (key,))
                key_locs[key] = kloc
            return Node(out, loc, tag, key_locs)
        if isinstance(ynode, self.y.SequenceNode):
            return Node([self.build(n, path + (i,)) for i, n in enumerate(ynode.value)], loc, tag)
        return Node(self.scalar(ynode, path), loc, tag)

    def scalar(self, ynode: Any, path: tuple = ()) -> Any:
        if ynode.tag == _STR_TAG:  # the common case: PyYAML's constructor returns it as is
            return ynode.value
        if ynode.tag.startswith("!") and not ynode.tag.startswith("!!"):
            # A merge-tagged scalar keeps the type it would have untagged.
            implicit = self.loader.resolve(self.y.ScalarNode, ynode.value,
                                           (not ynode.style, False))
            ynode = self.y.ScalarNode(implicit, ynode.value, ynode.start_mark, ynode.end_mark,
                                    ynode.style)
        try:
            value = self.loader.construct_object(ynode, deep=True)
        except self.y.constructor.ConstructorError as e:
            self.errors.append(ConfigError(str(e.problem or e), _loc(self.file, ynode.start_mark),
                                           path))
        except (ValueError, OverflowError) as e:  # an impossible date: 2026-02-30
            self.errors.append(ConfigError(f"{ynode.value!r} is not a valid value: {e}",
                                           _loc(self.file, ynode.start_mark), path))
        else:
            refused = _not_json(ynode, value)
            if refused is None:
                return value
            self.errors.append(ConfigError(refused[0] + ": config values are JSON data",
                                           _loc(self.file, ynode.start_mark), path,
                                           hint=refused[1]))
        return str(ynode.value)  # keeps the document readable; the error is reported


def _not_json(ynode: Any, value: Any) -> tuple[str, str] | None:
    """``(why, hint)`` when ``value``, constructed from the scalar ``ynode``, is one JSON
    cannot hold (binary data, a number that is not finite), else ``None``."""
    if isinstance(value, (bytes, bytearray)):
        return "binary data (!!binary) is not allowed", "drop !!binary to keep the text"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{ynode.value!r} is not a finite number", "quote it to keep it as text"
    return None


def load_text(text: str, file: str, yaml_module: Any = None) -> Node | None:
    """Parse YAML ``text`` (reported as ``file``) into a :class:`Node`; ``None`` if empty.

    ``yaml_module`` parses with that PyYAML's pure-Python safe loader instead of libyaml:
    untrusted package definitions are read with the very parser rez will use (see
    :mod:`landscape.declarative`), so the two can never read one file differently.

    Raises :class:`ConfigError` (with ``file:line:col``) on syntax errors, unknown
    ``!tags``, duplicate or non-string keys, impossible dates, values JSON cannot hold (see
    the module doc), and multi-document files — an :class:`ErrorGroup` when there are
    several.
    """
    y = yaml_module or yaml
    loader = y.SafeLoader(text) if yaml_module is not None else _Loader(text)
    try:
        ynode = loader.get_single_node()
    except y.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = _loc(file, mark) if mark is not None else Location(file)
        msg = e.problem or e.context or "invalid YAML"
        if e.context and e.context_mark is not None and e.problem_mark is not None \
                and e.context_mark.line != e.problem_mark.line:
            cm = e.context_mark
            msg += f" ({e.context} that starts at line {cm.line + 1}, column {cm.column + 1})"
        raise ConfigError(f"YAML syntax error: {msg}", loc) from None
    except y.YAMLError as e:
        raise ConfigError(f"YAML error: {e}", Location(file)) from None
    finally:
        loader.dispose()
    if ynode is None:
        return None
    builder = _Builder(loader, file, y)
    try:
        node = builder.build(ynode)
    except RecursionError:
        raise ConfigError("the document nests too deeply", Location(file)) from None
    ErrorGroup.raise_if_any(builder.errors)
    return node


def read_file(path: str | Path) -> tuple[str, bytes]:
    """The text (UTF-8) and bytes of the file at ``path``.

    Raises :class:`ConfigError` naming the file when it cannot be read or is not UTF-8.
    """
    file = str(path)
    try:  # O_NONBLOCK: a FIFO planted as a config file must not hang the command
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", Location(file)) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", Location(file)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError("is a directory, not a config file", Location(file))
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("is not a regular file: not read", Location(file))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", Location(file)) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not read",
                          Location(file))
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (byte {e.start}: {e.reason})", Location(file)) from None


def load_file(path: str | Path, yaml_module: Any = None) -> tuple[Node | None, bytes]:
    """Read and parse the YAML file at ``path``: ``(node, the file's bytes)``
    (``yaml_module``: see :func:`load_text`).

    Raises :class:`ConfigError` (see :func:`read_file` and :func:`load_text`); a file whose
    top level is not a mapping is an error too.
    """
    text, data = read_file(path)
    node = load_text(text, str(path), yaml_module)
    if node is not None and not node.is_map:
        raise ConfigError("the file must be a mapping of keys", node.loc)
    return node, data
