"""Validation of untrusted rez package repositories: declarative ``package.yaml`` only.

Some rez package repositories are written by people who may only write a shot folder. rez
runs code from a repository in several places, so before rez is allowed to touch such a
repository, :func:`validate_repository` checks that every definition in it is
*declarative*:

* ``package.py`` is Python that rez executes when it loads the package (its body, any
  ``@early`` function). It is refused wherever rez would find it (family and version
  folders), as are the top-level "combined" family files ``<name>.py`` / ``<name>.yaml``
  and ``settings.yaml`` (rez reads it with ``yaml.FullLoader``), and the old-format
  ``release.yaml`` / ``.metadata`` that rez merges into a definition.
* rez reads ``package.yaml`` with ``yaml.FullLoader``, which builds Python objects from
  ``!!python/...`` tags, so the file is read into Landscape's located nodes
  (:func:`landscape.nodes.load_file`) **with the safe loader of the very PyYAML rez
  vendors** — the same scanner and parser, so no byte order mark or odd line break can make
  one file read one way here and another way to rez — and any tag outside YAML's core
  schema is refused, as are characters parsers (or terminals) treat specially.
  Only known keys with the right types are accepted; ``name``/``version`` must match the
  folders, and requests must parse as rez requests.
* ``commands``, ``pre_commands`` and ``post_commands`` strings are Python that rez's rex
  runs with ``exec`` on the host when it computes an environment. Each statement must be
  one of ``env.NAME = 'v'``, ``env.NAME.set/append/prepend('v')``, ``env.NAME.unset()``,
  ``setenv/prependenv/appendenv/resetenv('NAME', 'v')``, ``unsetenv('NAME')``,
  ``alias('a', 'b')``, ``info('t')``, ``comment('t')``, with constant string or number
  arguments and no keyword arguments. rex formats those strings with ``str.format`` on
  live objects (``{this.__class__...}`` walks attributes), so the only ``{fields}`` allowed
  are ``{root}``, ``{base}``, ``{version}``, ``{name}``, the same under ``this.``, and
  ``{env.NAME}``, without conversion or format spec.
* family and version folders, and ``package.yaml`` files, that are symlinks resolving
  outside the repository are refused.

Only the repository's top level, family folders and version folders are looked at; payload
files deeper down only ever run inside containers. Hidden top-level entries are skipped:
they are never valid package names, so rez ignores them.

Results are memoised per process by the repository's real path and a stamp of the
definitions seen (path, inode, size, mtime, ctime — the writer can reset mtime, not
ctime), so a repeated call costs a directory listing and a few ``stat`` calls. Structural
problems (forbidden files, symlinks) come from
the listing and are recomputed on every call.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import stat
import string
from typing import Any, Callable, Iterator

from . import nodes
from .errors import ConfigError, LandscapeError, Location, flatten
from .nodes import Node


__all__ = ["validate_repository", "clear_cache"]

_YAML_HINT = ("write the package as a package.yaml whose commands only set environment "
              "variables; repositories below the studio root may not hold code")
_CMD_HINT = ("allowed: env.NAME = 'value', env.NAME.set/append/prepend('value'), "
             "env.NAME.unset(), setenv/prependenv/appendenv/resetenv/unsetenv('NAME', ...), "
             "alias, info, comment — with constant arguments")
_OLD_FORMATS = ("release.yaml", ".metadata")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PACKAGE_NAME = re.compile(r"[a-zA-Z_0-9](\.?[a-zA-Z0-9_]+)*\Z")  # rez's PACKAGE_NAME_REGEX
_VERSION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
_BAD_REQUEST_CHARS = re.compile(r"[\s\x00-\x1f\x7f{}]")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR}: rex escapes it before format
_FIELDS = ("root", "base", "version", "name", "this.root", "this.base", "this.version",
           "this.name")
_CORE_TAGS = frozenset("tag:yaml.org,2002:" + t for t in (
    "str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge"))
_MAX_SHOWN = 60

# -- the repository walk -----------------------------------------------------------------

_Def = tuple[str, str, "str | None", Any]  # (package.yaml path, family, version, stat or None)


def _entries(folder: str, errors: list[ConfigError]) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as e:
        errors.append(ConfigError(f"cannot list the folder: {e.strerror}", Location(folder),
                                  hint="the repository cannot be validated, so it is refused"))
        return []


def _escapes(entry: os.DirEntry, real: str) -> bool:
    """True when ``entry`` is a symlink whose target lies outside ``real``."""
    if not entry.is_symlink():
        return False  # its folder is inside the repository, so it is too
    target = os.path.realpath(entry.path)
    return not (target == real or target.startswith(real.rstrip(os.sep) + os.sep))


def _scan(root: str, real: str) -> tuple[list[ConfigError], list[_Def]]:
    """Structural errors of the repository at ``root`` and the package.yaml files to read."""
    errors: list[ConfigError] = []
    defs: list[_Def] = []

    def folder(path: str, family: str, version: str | None) -> None:
        for e in _entries(path, errors):
            where = Location(e.path)
            if e.name == "package.py":
                errors.append(ConfigError(
                    "package.py runs code when rez loads it; repositories below the studio "
                    "root may only hold package.yaml definitions", where, hint=_YAML_HINT))
            elif e.name in _OLD_FORMATS:
                errors.append(ConfigError(
                    f"{e.name} is an old rez format that rez merges into the package "
                    "definition; it is not allowed here", where, hint="delete it"))
            elif e.name == "package.yaml":
                if _escapes(e, real):
                    errors.append(ConfigError(
                        f"symlink to {os.path.realpath(e.path)}, outside the repository",
                        where, hint="copy the definition into the repository"))
                    continue
                try:
                    st = os.stat(e.path)
                except OSError:
                    st = None
                defs.append((e.path, family, version, st))
            elif version is None and e.is_dir():
                if _escapes(e, real):
                    errors.append(ConfigError(
                        f"version folder is a symlink to {os.path.realpath(e.path)}, "
                        "outside the repository", where, hint="replace it by a real folder"))
                else:
                    folder(e.path, family, e.name)

    for e in _entries(root, errors):
        if e.name.startswith("."):
            continue  # never a valid package name: rez ignores it
        if e.is_dir():
            if _escapes(e, real):
                errors.append(ConfigError(
                    f"family folder is a symlink to {os.path.realpath(e.path)}, outside "
                    "the repository", Location(e.path), hint="replace it by a real folder"))
            else:
                folder(e.path, e.name, None)
        elif e.name == "settings.yaml" or e.name.endswith((".py", ".yaml", ".yml")):
            what = ("settings.yaml is read by rez with yaml.FullLoader"
                    if e.name == "settings.yaml" else
                    f"{e.name} is a rez 'combined' package family file")
            errors.append(ConfigError(
                f"{what}; repositories below the studio root may only hold "
                "<family>/<version>/package.yaml definitions", Location(e.path),
                hint=_YAML_HINT))
    return errors, defs


# -- package.yaml ------------------------------------------------------------------------

class _Src:
    """The file being checked and its lines (for locating lines inside command strings)."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = re.split(r"\r\n|[\r\n\x85\u2028\u2029]", text)


_Check = Callable[[Node, tuple, _Src], Iterator[ConfigError]]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def _type_error(n: Node, kp: tuple, expected: str) -> ConfigError:
    return ConfigError(f"expected {expected}, got {_kind(n.value)}", n.loc, kp)


def _is(*types: type) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, types) and (bool in types or not isinstance(v, bool))


def _scalar(test: Callable[[Any], bool], expected: str) -> _Check:
    def check(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
        if not test(n.value):
            yield _type_error(n, kp, expected)
    return check


def _str_list(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    if not n.is_list:
        yield _type_error(n, kp, "a list of strings")
        return
    for i, item in enumerate(n.value):
        if not isinstance(item.value, str):
            yield _type_error(item, kp + (i,), "a string")


def _authors(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    if not isinstance(n.value, str):
        yield from _str_list(n, kp, src)


def _request(n: Node, kp: tuple) -> Iterator[ConfigError]:
    from rez.utils.formatting import PackageRequest  # rez is slow to import

    text = n.value
    if not isinstance(text, str):
        yield _type_error(n, kp, "a package request string")
        return
    bad = _BAD_REQUEST_CHARS.search(text)
    if bad:
        yield ConfigError(f"package request {_short(text)!r} contains {bad.group()!r}",
                          n.loc, kp, hint="write a request like 'python-3.11+<3.12'")
        return
    try:
        PackageRequest(text)
    except Exception as e:  # rez raises several error types for bad requests
        yield ConfigError(f"{text!r} is not a valid rez package request: {e}", n.loc, kp)


def _requests(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    if not n.is_list:
        yield _type_error(n, kp, "a list of package requests")
        return
    for i, item in enumerate(n.value):
        yield from _request(item, kp + (i,))


def _variants(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    if not n.is_list:
        yield _type_error(n, kp, "a list of lists of package requests")
        return
    for i, variant in enumerate(n.value):
        yield from _requests(variant, kp + (i,), src)


def _help(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    if isinstance(n.value, str):
        problem = _fields_problem(n.value)
        if problem:
            yield ConfigError(problem, n.loc, kp)
        return
    if not n.is_list:
        yield _type_error(n, kp, "a string or a list of [label, url] pairs")
        return
    for i, pair in enumerate(n.value):
        if not (pair.is_list and len(pair.value) == 2
                and all(isinstance(x.value, str) for x in pair.value)):
            yield _type_error(pair, kp + (i,), "a [label, url] pair of strings")
            continue
        for j, x in enumerate(pair.value):
            problem = _fields_problem(x.value)
            if problem:
                yield ConfigError(problem, x.loc, kp + (i, j))


# -- commands ----------------------------------------------------------------------------

_CALLS = {  # allowed rex calls → argument kinds: V variable name, S value, T text
    "setenv": "VS", "prependenv": "VS", "appendenv": "VS", "resetenv": "VS",
    "unsetenv": "V", "alias": "TT", "info": "T", "comment": "T",
}
_ENV_METHODS = {"set": "S", "append": "S", "prepend": "S", "unset": ""}
_CONSTRUCTS = {
    "Import": "import", "ImportFrom": "import", "FunctionDef": "def", "AsyncFunctionDef": "def",
    "ClassDef": "class", "If": "if", "For": "for loop", "AsyncFor": "for loop",
    "While": "while loop", "With": "with", "AsyncWith": "with", "Try": "try", "TryStar": "try",
    "AugAssign": "augmented assignment (+= and the like)", "AnnAssign": "annotated assignment",
    "Delete": "del", "Return": "return", "Raise": "raise", "Assert": "assert",
    "Global": "global", "Nonlocal": "nonlocal", "Pass": "pass", "Break": "break",
    "Continue": "continue", "Match": "match", "Lambda": "lambda",
    "ListComp": "comprehension", "SetComp": "comprehension", "DictComp": "comprehension",
    "GeneratorExp": "generator expression", "JoinedStr": "f-string", "Subscript": "subscript",
    "BinOp": "operator expression", "UnaryOp": "operator expression",
    "BoolOp": "operator expression", "Compare": "comparison", "IfExp": "conditional expression",
    "NamedExpr": ":= assignment", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
    "Starred": "*argument", "List": "list", "Tuple": "tuple", "Dict": "dict", "Set": "set",
    "Slice": "slice", "Constant": "constant",
}


def _source(node: ast.AST) -> str:
    try:
        return _short(ast.unparse(node))
    except (RecursionError, ValueError, AttributeError):
        return type(node).__name__


def _what(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Attribute):
        return f"attribute access {_source(node)}"
    if isinstance(node, ast.Call):
        return f"the call {_source(node.func)}()"
    return _CONSTRUCTS.get(type(node).__name__, type(node).__name__)


def _env_name_ok(name: str) -> bool:
    return bool(_IDENT.match(name)) and not name.startswith("__")


def _env_var(node: ast.AST) -> str | None:
    """``NAME`` when ``node`` is ``env.NAME``, else ``None``."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "env" and _env_name_ok(node.attr)):
        return node.attr
    return None


def _fields_problem(text: str) -> str | None:
    """Why the rex format fields of ``text`` are not allowed, or ``None``."""
    try:
        parts = list(string.Formatter().parse(_ENV_REF.sub(r"${{\1}}", text)))
    except ValueError as e:
        return (f"bad braces in {_short(text)!r}: {e}; write {{{{ and }}}} for literal "
                "braces")
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if conversion is not None:
            return f"the conversion !{conversion} in {{{_short(field)}!...}} is not allowed"
        if spec:
            return f"the format spec :{_short(spec)} in {{{_short(field)}:...}} is not allowed"
        if field not in _FIELDS and not (field.startswith("env.")
                                         and _env_name_ok(field[4:])):
            return (f"the format field {{{_short(field)}}} is not allowed; allowed are "
                    + ", ".join("{%s}" % f for f in _FIELDS) + ", {env.NAME}")
    return None


def _args_problem(args: list[ast.expr], kinds: str, where: ast.AST, name: str
                  ) -> tuple[ast.AST, str] | None:
    for a in args:
        if isinstance(a, ast.Starred):
            return a, "*arguments are not allowed"
    if len(args) != len(kinds):
        return where, f"{name}() takes {len(kinds)} argument(s), got {len(args)}"
    for a, kind in zip(args, kinds):
        wanted = "a quoted string" + (" or a number" if kind == "S" else "")
        if not isinstance(a, ast.Constant):
            return a, f"{_what(a)} is not allowed as an argument; use {wanted}"
        v = a.value
        if kind == "S" and isinstance(v, (int, float)) and not isinstance(v, bool):
            continue
        if not isinstance(v, str):
            return a, f"the constant {_short(repr(v))} is not allowed; use {wanted}"
        if kind == "V" and not _env_name_ok(v):
            return a, f"{_short(v)!r} is not an environment variable name"
        problem = _fields_problem(v)
        if problem:
            return a, problem
    return None


def _statement_problem(stmt: ast.stmt) -> tuple[ast.AST, str] | None:
    """The offending node of ``stmt`` and why, or ``None`` when it is declarative."""
    if isinstance(stmt, ast.Assign):
        target = stmt.targets[0]
        if len(stmt.targets) > 1:
            return stmt, "chained assignment is not allowed"
        name = _env_var(target)
        if name is None:
            return target, f"assignment to {_what(target)} is not allowed (only env.NAME = ...)"
        return _args_problem([stmt.value], "S", stmt, f"env.{name}")
    if not isinstance(stmt, ast.Expr):
        return stmt, f"{_what(stmt)} is not allowed"
    call = stmt.value
    if not isinstance(call, ast.Call):
        return call, f"{_what(call)} is not allowed as a statement"
    func = call.func
    if isinstance(func, ast.Name) and func.id in _CALLS:
        name, kinds = func.id, _CALLS[func.id]
    elif isinstance(func, ast.Attribute) and func.attr in _ENV_METHODS and _env_var(func.value):
        name, kinds = _source(func), _ENV_METHODS[func.attr]
    else:
        return func, f"calling {_source(func)}() is not allowed"
    if call.keywords:
        kw = call.keywords[0]
        return kw, f"keyword argument {kw.arg or '**'}= is not allowed"
    return _args_problem(call.args, kinds, call, name)


def _commands_loc(n: Node, src: _Src, code_lines: list[str], line: int, col: int
                  ) -> Location:
    """Where line ``line`` (1-based), char ``col`` (0-based) of the string ``n`` is in YAML.

    Exact for literal block scalars (``|``); other styles fold or escape lines, so they
    get the string's own location.
    """
    start = n.loc
    header = src.lines[start.line - 1] if 0 < start.line <= len(src.lines) else ""
    yaml_line = start.line + line
    if header[start.col - 1:start.col] != "|" or yaml_line > len(src.lines):
        return start
    code = code_lines[line - 1] if 0 < line <= len(code_lines) else ""
    indent = max(len(src.lines[yaml_line - 1]) - len(code), 0)
    return Location(start.file, yaml_line, indent + col + 1)


def _commands(n: Node, kp: tuple, src: _Src) -> Iterator[ConfigError]:
    code = n.value
    if not isinstance(code, str):
        yield _type_error(n, kp, "a string of rex commands")
        return
    lines = code.split("\n")
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as e:
        line, col = e.lineno or 1, max((e.offset or 1) - 1, 0)
        yield ConfigError(f"line {line} of the commands is not valid Python: {e.msg}",
                          _commands_loc(n, src, lines, line, col), kp)
        return
    except (ValueError, RecursionError, MemoryError) as e:
        yield ConfigError(f"the commands cannot be parsed: {str(e) or type(e).__name__}",
                          n.loc, kp)
        return
    if not tree.body:  # rez wraps the string in a function: an empty body does not compile
        yield ConfigError("the commands are empty (or only comments): leave the key out", n.loc,
                          kp)
        return
    for stmt in tree.body:
        problem = _statement_problem(stmt)
        if problem is None:
            continue
        node, message = problem
        line = getattr(node, "lineno", stmt.lineno)
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        offset = getattr(node, "col_offset", 0)
        col = len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))  # bytes → chars
        yield ConfigError(f"line {line}: {message}", _commands_loc(n, src, lines, line, col),
                          kp, hint=_CMD_HINT)


_KEYS: dict[str, _Check] = {
    "name": _scalar(_is(str), "a string"),
    "version": _scalar(_is(str, int, float), "a version string"),
    "description": _scalar(_is(str), "a string"),
    "authors": _authors,
    "requires": _requests,
    "variants": _variants,
    "commands": _commands,
    "pre_commands": _commands,
    "post_commands": _commands,
    "override": _scalar(_is(bool), "true or false"),
    "timestamp": _scalar(_is(int), "an integer (seconds since 1970)"),
    "tools": _str_list,
    "help": _help,
    "uuid": _scalar(_is(str), "a string"),
    "format_version": _scalar(_is(int), "an integer"),
    "relocatable": _scalar(_is(bool), "true or false"),
    "cachable": _scalar(_is(bool), "true or false"),
    "hashed_variants": _scalar(_is(bool), "true or false"),
}


def _rez_yaml() -> Any:
    """The PyYAML rez reads package definitions with (rez vendors its own copy): checking
    with the same parser means no file can read one way to Landscape and another to rez."""
    from rez.vendor import yaml as rez_yaml

    return rez_yaml


def _odd_characters(text: str, file: str) -> Iterator[ConfigError]:
    """Characters two YAML parsers may read differently, or a terminal may act on: a byte
    order mark anywhere, carriage returns, Unicode line or paragraph separators, NEL, other
    control and format characters (tabs and newlines are fine)."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        for col, ch in enumerate(line, start=1):
            if ch == "\t" or ch.isprintable() and ch not in "\ufeff\u2028\u2029\x85":
                continue
            yield ConfigError(f"character U+{ord(ch):04X} is not allowed in package.yaml "
                              "(only printable text, tabs and newlines)",
                              Location(file, lineno, col))
            return


def _foreign_tags(data: bytes, file: str) -> Iterator[ConfigError]:
    """Nodes tagged outside YAML's core schema (``!!python/object:...``, ``!replace``)."""
    yaml = _rez_yaml()
    try:
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # pragma: no cover - load_file already parsed the same bytes
        return
    stack: list[tuple[Any, tuple]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        ynode, kp = stack.pop()
        if ynode is None or id(ynode) in seen:
            continue
        seen.add(id(ynode))
        if ynode.tag not in _CORE_TAGS:
            tag = ynode.tag.replace("tag:yaml.org,2002:", "!!")
            yield ConfigError(f"the YAML tag {_short(tag)} is not allowed in package.yaml "
                              "(rez loads it with yaml.FullLoader)",
                              Location(file, ynode.start_mark.line + 1,
                                       ynode.start_mark.column + 1), kp)
        if isinstance(ynode, yaml.MappingNode):
            for k, v in ynode.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else "?"
                stack += [(k, kp), (v, kp + (key,))]
        elif isinstance(ynode, yaml.SequenceNode):
            stack += [(item, kp + (i,)) for i, item in enumerate(ynode.value)]


def _check_definition(path: str, family: str, version: str | None, st: Any
                      ) -> list[ConfigError]:
    """Every problem of the ``package.yaml`` at ``path`` (in ``family``/``version``)."""
    if st is not None and not stat.S_ISREG(st.st_mode):
        return [ConfigError("package.yaml is not a regular file", Location(path))]
    try:
        text, _raw = nodes.read_file(path)
    except LandscapeError as e:
        return [x if isinstance(x, ConfigError) else ConfigError(str(x), Location(path))
                for x in flatten(e)]
    odd = list(_odd_characters(text, path))
    if odd:
        return odd
    try:
        node, data = nodes.load_file(path, _rez_yaml())
    except LandscapeError as e:
        return [x if isinstance(x, ConfigError) else ConfigError(str(x), Location(path))
                for x in flatten(e)]
    errors = list(_foreign_tags(data, path))
    src = _Src(path, data.decode("utf-8"))
    if node is None:
        return errors + [ConfigError("the definition is empty", Location(path, 1, 1),
                                     hint=f"it needs at least name: {family}")]
    for key, child in node.items():
        check = _KEYS.get(key)
        if check is None:
            guess = difflib.get_close_matches(key, list(_KEYS), n=1, cutoff=0.6)
            hint = (f"did you mean {guess[0]!r}?" if guess else
                    "allowed keys: " + ", ".join(_KEYS))
            errors.append(ConfigError(f"unknown key {key!r}", node.key_loc(key), (key,),
                                      hint=hint))
        else:
            errors.extend(check(child, (key,), src))

    name = node.get("name")
    if name is None:
        errors.append(ConfigError("missing 'name'", node.loc, hint=f"add name: {family}"))
    elif isinstance(name.value, str) and name.value != family:
        hint = None if _PACKAGE_NAME.match(family) else "the folder name is no rez package name"
        errors.append(ConfigError(f"name {_short(name.value)!r} is not the family folder "
                                  f"name {family!r}", name.loc, ("name",), hint=hint))
    ver = node.get("version")
    if version is not None and not _VERSION_NAME.match(version):
        errors.append(ConfigError(f"the version folder name {version!r} is not a rez version",
                                  Location(path)))
    if ver is not None and isinstance(ver.value, (str, int, float)) \
            and not isinstance(ver.value, bool) and str(ver.value) != version:
        if version is None:
            msg = "an unversioned package (package.yaml in the family folder) sets a version"
        else:
            msg = f"version {str(ver.value)!r} is not the version folder name {version!r}"
        hint = None if isinstance(ver.value, str) else "quote the version: YAML reads a number"
        errors.append(ConfigError(msg, ver.loc, ("version",), hint=hint))
    return errors


# -- public API --------------------------------------------------------------------------

_cache: dict[str, tuple[tuple, list[ConfigError]]] = {}


def _stamp(defs: list[_Def]) -> tuple:
    return tuple((p, fam, ver) + ((st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns,
                                   st.st_ctime_ns) if st is not None else ())
                 for p, fam, ver, st in defs)


def validate_repository(path: str) -> list[ConfigError]:
    """Every reason the rez filesystem repository at ``path`` is not purely declarative.

    ``path`` is a repository folder (``<path>/<family>/<version>/package.yaml`` or
    ``<path>/<family>/package.yaml``). Returns a list of :class:`ConfigError`, sorted by
    file and position, each naming the file (and for ``package.yaml`` content the
    ``line:col`` and key path); an empty list means rez may load the repository. A missing
    folder gives ``[]`` (rez finds nothing there). Content problems never raise.

    Refused: ``package.py`` in family or version folders; top-level ``<name>.py``,
    ``<name>.yaml``/``.yml`` and ``settings.yaml``; ``release.yaml`` and ``.metadata``;
    family/version folders and ``package.yaml`` files that are symlinks leading outside
    the repository; ``package.yaml`` files that are not valid YAML, use non-core tags,
    unknown keys or wrong types, a name/version differing from their folders, invalid
    requests, or ``commands`` beyond the declarative subset (see the module docstring).

    Results are memoised by (real path, stamp of the definitions); see :func:`clear_cache`.
    """
    root = os.path.abspath(path)
    if not os.path.isdir(root):
        return []
    real = os.path.realpath(root)
    errors, defs = _scan(root, real)
    stamp = _stamp(defs)
    cached = _cache.get(real)
    if cached is not None and cached[0] == stamp:
        definition_errors = cached[1]
    else:
        definition_errors = [e for d in defs for e in _check_definition(*d)]
        _cache[real] = (stamp, definition_errors)
    return sorted(errors + definition_errors, key=ConfigError.sort_key)


def clear_cache() -> None:
    """Forget every memoised :func:`validate_repository` result."""
    _cache.clear()
