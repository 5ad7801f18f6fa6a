"""Tests of :mod:`landscape.declarative`: untrusted rez repositories hold only declarative
``package.yaml`` definitions, checked without ever letting rez load them."""

from __future__ import annotations

import ast
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from landscape import declarative, nodes
from landscape.declarative import clear_cache, validate_repository


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


def write(base: Path, rel: str, text: str) -> Path:
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def messages(repo: Path) -> list[str]:
    return [str(e) for e in validate_repository(str(repo))]


def one_error(repo: Path) -> str:
    errors = messages(repo)
    assert len(errors) == 1, errors
    return errors[0]


def with_commands(repo: Path, statement: str) -> Path:
    """``foo/1.0/package.yaml`` whose commands' second line (YAML line 5) is ``statement``."""
    return write(repo, "foo/1.0/package.yaml", f"""
        name: foo
        version: "1.0"
        commands: |
          env.OK = "fine"
          {statement}
        """)


# -- clean repositories ------------------------------------------------------------------

CLEAN_FOO = """
    name: foo
    version: "1.0"
    description: a tool
    authors: [someone]
    requires: [bar, "~python-3.11"]
    tools: [foo]
    help: [[docs, "{root}/docs/index.html"]]
    timestamp: 1700000000
    relocatable: true
    commands: |
      env.FOO_ROOT = "{root}"
      env.FOO_VERSION = "{this.version}"
      env.PATH.prepend("{root}/bin")
      setenv("FOO_NUM", 3)
      appendenv("FOO_LIST", "a")
      env.FOO_LIST.append("b")
      env.FOO_HOME = "${FOO_ROOT}/home:$FOO_ROOT"
      env.FOO_FROM_BAR = "{env.BAR_SET}+x"
      env.FOO_GONE = "x"
      env.FOO_GONE.unset()
      info("hello {{literal}}")  # a comment
      comment("c")
      alias("foo", "echo hi")
    """
CLEAN_BAR = """
    name: bar
    description: an unversioned package
    commands: "env.BAR_SET = 'yes'"
    """


def test_clean_repository_passes_and_rez_resolves_it(tmp_path: Path) -> None:
    write(tmp_path, "foo/1.0/package.yaml", CLEAN_FOO)
    write(tmp_path, "foo/1.0/python/foo/__init__.py", "import os\n")  # payload: fine
    write(tmp_path, "foo/1.0/python/package.py", "import os\n")  # depth 3: payload
    write(tmp_path, "bar/package.yaml", CLEAN_BAR)
    write(tmp_path, "README.md", "not a package\n")
    assert validate_repository(str(tmp_path)) == []

    from rez.resolved_context import ResolvedContext

    ctx = ResolvedContext(["foo"], package_paths=[str(tmp_path)], add_implicit_packages=False)
    assert ctx.success, ctx.failure_description
    env = ctx.get_environ(parent_environ={"PATH": "/usr/bin"})
    root = str(tmp_path / "foo" / "1.0")
    assert env["FOO_ROOT"] == root
    assert env["FOO_VERSION"] == "1.0"
    assert env["PATH"].split(os.pathsep)[0] == root + "/bin"
    assert env["FOO_NUM"] == "3"
    assert env["FOO_LIST"] == "a:b"
    assert env["FOO_HOME"] == f"{root}/home:{root}"
    assert env["FOO_FROM_BAR"] == "yes+x"
    assert env["BAR_SET"] == "yes"
    assert "FOO_GONE" not in env


def test_missing_folder_is_empty(tmp_path: Path) -> None:
    assert validate_repository(str(tmp_path / "nope")) == []


def test_empty_commands_refused(tmp_path: Path) -> None:
    # rez wraps command strings in a function: an empty body would fail when it runs them
    write(tmp_path, "foo/1.0/package.yaml", 'name: foo\nversion: "1.0"\ncommands: ""\n')
    errors = validate_repository(str(tmp_path))
    assert [e.message for e in errors] == [
        "the commands are empty (or only comments): leave the key out"]


# -- files rez runs or merges ------------------------------------------------------------

def test_package_py_refused_without_running_it(tmp_path: Path) -> None:
    proof = tmp_path / "pwned"
    write(tmp_path, "repo/evil/1.0/package.py", f"""
        name = "evil"
        version = "1.0"
        open({str(proof)!r}, "w").write("body")

        @early()
        def description():
            open({str(proof)!r}, "w").write("early")
            return "x"
        """)
    write(tmp_path, "repo/evil2/package.py", 'name = "evil2"\n')  # unversioned
    errors = messages(tmp_path / "repo")
    assert len(errors) == 2
    evil = tmp_path / "repo/evil/1.0/package.py"
    assert errors[0].startswith(f"{evil}: package.py runs code")
    assert "package.yaml" in errors[0]
    assert errors[1].startswith(str(tmp_path / "repo/evil2/package.py") + ": ")
    assert not proof.exists()


@pytest.mark.parametrize("name", ["foo.py", "foo.yaml", "foo.yml", "settings.yaml"])
def test_top_level_family_files_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "name: foo\n")
    write(tmp_path, ".hidden.yaml", "ignored: rez never reads it\n")
    err = one_error(tmp_path)
    assert err.startswith(f"{tmp_path / name}: ")
    assert ("combined" in err) if name != "settings.yaml" else ("FullLoader" in err)


@pytest.mark.parametrize("rel", ["foo/1.0/release.yaml", "foo/1.0/.metadata/changelog.txt",
                                 "bar/release.yaml"])
def test_old_formats_refused(tmp_path: Path, rel: str) -> None:
    write(tmp_path, "foo/1.0/package.yaml", 'name: foo\nversion: "1.0"\n')
    write(tmp_path, "bar/package.yaml", "name: bar\n")
    write(tmp_path, rel, "x\n")
    bad = tmp_path / rel
    bad = bad.parent if bad.parent.name == ".metadata" else bad
    err = one_error(tmp_path)
    assert err.startswith(f"{bad}: ") and "old rez format" in err


# -- symlinks ----------------------------------------------------------------------------

def test_version_folder_symlink_outside_refused(tmp_path: Path) -> None:
    write(tmp_path, "elsewhere/package.py", 'name = "foo"\n')
    (tmp_path / "repo/foo").mkdir(parents=True)
    (tmp_path / "repo/foo/1.0").symlink_to(tmp_path / "elsewhere")
    err = one_error(tmp_path / "repo")  # not descended: the package.py is not reported
    assert err.startswith(f"{tmp_path / 'repo/foo/1.0'}: version folder is a symlink")
    assert "outside the repository" in err


def test_family_folder_symlink_outside_refused(tmp_path: Path) -> None:
    write(tmp_path, "elsewhere/1.0/package.yaml", 'name: foo\nversion: "1.0"\n')
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo/foo").symlink_to(tmp_path / "elsewhere")
    assert "family folder is a symlink" in one_error(tmp_path / "repo")


def test_package_yaml_symlinks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(tmp_path, "outside.yaml", 'name: foo\nversion: "1.0"\n')
    write(repo, "shared/bar-1.0.yaml", 'name: bar\nversion: "1.0"\n')
    (repo / "foo/1.0").mkdir(parents=True)
    (repo / "foo/1.0/package.yaml").symlink_to(tmp_path / "outside.yaml")
    (repo / "bar/1.0").mkdir(parents=True)
    (repo / "bar/1.0/package.yaml").symlink_to(repo / "shared/bar-1.0.yaml")  # inside: fine
    err = one_error(repo)
    assert err.startswith(f"{repo / 'foo/1.0/package.yaml'}: symlink to ")


# -- package.yaml content ----------------------------------------------------------------

def test_yaml_syntax_error_located(tmp_path: Path) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", 'name: foo\nversion: "1.0"\nrequires: [a, b\n')
    err = one_error(tmp_path)
    assert err.startswith(f"{p}:4:1: YAML syntax error")


def test_unknown_key_suggests(tmp_path: Path) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", 'name: foo\nversion: "1.0"\nrequirse: [bar]\n')
    assert one_error(tmp_path) == (
        f"{p}:3:1: requirse: unknown key 'requirse' (did you mean 'requires'?)")
    write(tmp_path, "foo/1.0/package.yaml", 'name: foo\nversion: "1.0"\nzzz: 1\n')
    assert "allowed keys: name, version, description" in one_error(tmp_path)


def test_name_and_version_must_match_folders(tmp_path: Path) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", "name: fob\nversion: 1.10\n")
    write(tmp_path, "foo/1.10/package.yaml", "name: foo\nversion: 1.10\n")
    errors = messages(tmp_path)
    assert errors[0] == f"{p}:1:7: name: name 'fob' is not the family folder name 'foo'"
    assert errors[1] == (f"{p}:2:10: version: version '1.1' is not the version folder name "
                         "'1.0' (quote the version: YAML reads a number)")
    assert errors[2].endswith("version '1.1' is not the version folder name '1.10' "
                              "(quote the version: YAML reads a number)")
    assert len(errors) == 3


def test_version_number_accepted_and_missing_name(tmp_path: Path) -> None:
    write(tmp_path, "foo/2/package.yaml", "name: foo\nversion: 2\n")
    p = write(tmp_path, "bar/1.0/package.yaml", "description: no name\n")
    assert one_error(tmp_path) == f"{p}:1:1: missing 'name' (add name: bar)"


def test_types_checked(tmp_path: Path) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", """
        name: foo
        version: "1.0"
        requires: bar
        variants: [[python-3.11], python-3.12]
        override: "yes"
        timestamp: true
        authors: [1]
        help: [[only-label]]
        commands: [old, style]
        """)
    assert messages(tmp_path) == [
        f"{p}:3:11: requires: expected a list of package requests, got a string",
        f"{p}:4:27: variants[1]: expected a list of package requests, got a string",
        f"{p}:5:11: override: expected true or false, got a string",
        f"{p}:6:12: timestamp: expected an integer (seconds since 1970), got true/false",
        f"{p}:7:11: authors[0]: expected a string, got a number",
        f"{p}:8:8: help[0]: expected a [label, url] pair of strings, got a list",
        f"{p}:9:11: commands: expected a string of rex commands, got a list",
    ]


@pytest.mark.parametrize("request_, why", [
    ("foo-1..2..3", "not a valid rez package request"),
    ("foo bar", "contains ' '"),
    ("foo-{root}", "contains '{'"),
    ("foo!", "not a valid rez package request"),
])
def test_bad_requests(tmp_path: Path, request_: str, why: str) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", f"""
        name: foo
        version: "1.0"
        variants:
        - [python, "{request_}"]
        """)
    err = one_error(tmp_path)
    assert err.startswith(f"{p}:4:12: variants[0][1]: ") and why in err


@pytest.mark.parametrize("text", [
    "help: !!python/object:os.PathLike {a: 1}",
    "help: !replace docs",
    "tools: !!python/tuple [a]",
])
def test_foreign_yaml_tags_refused(tmp_path: Path, text: str) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", f'name: foo\nversion: "1.0"\n{text}\n')
    errors = validate_repository(str(tmp_path))
    assert errors, "tag accepted"
    assert all(e.location.file == str(p) and e.location.line == 3 for e in errors)


# -- commands ----------------------------------------------------------------------------

@pytest.mark.parametrize("statement, why", [
    ("import os", "import is not allowed"),
    ("from os import system", "import is not allowed"),
    ("__import__('os').system('x')", "calling __import__('os').system() is not allowed"),
    ("os.system('x')", "calling os.system() is not allowed"),
    ("exec('import os')", "calling exec() is not allowed"),
    ("getenv('HOME')", "calling getenv() is not allowed"),
    ("env.__class__", "attribute access env.__class__ is not allowed as a statement"),
    ("env.__class__ = 'x'", "assignment to attribute access env.__class__ is not allowed"),
    ("env.__class__.set('x')", "calling env.__class__.set() is not allowed"),
    ("env.A.__class__.set('x')", "calling env.A.__class__.set() is not allowed"),
    ("env['A'] = 'x'", "assignment to subscript is not allowed"),
    ("setenv('A', ('x',)[0])", "subscript is not allowed as an argument"),
    ("setenv('A', f'{x}')", "f-string is not allowed as an argument"),
    ("setenv('A', '{this.__class__}')", "format field {this.__class__} is not allowed"),
    ("setenv('A', '{env.__class__}')", "format field {env.__class__} is not allowed"),
    ("setenv('A', '${this.__init__}')", "format field {this.__init__} is not allowed"),
    ("info('{0}')", "format field {0} is not allowed"),
    ("setenv('A', '{root!r}')", "conversion !r"),
    ("setenv('A', '{root:>99999}')", "format spec :>99999"),
    ("setenv('A', '{root')", "bad braces"),
    ("setenv(key='A', value='x')", "keyword argument key= is not allowed"),
    ("setenv('A', 'x', **{})", "keyword argument **= is not allowed"),
    ("setenv(*['A', 'x'])", "*arguments are not allowed"),
    ("setenv('A')", "setenv() takes 2 argument(s), got 1"),
    ("env.A.unset('x')", "env.A.unset() takes 0 argument(s), got 1"),
    ("setenv('A B', 'x')", "'A B' is not an environment variable name"),
    ("setenv('A', True)", "the constant True is not allowed"),
    ("env.A = None", "the constant None is not allowed"),
    ("env.A = b'x'", "the constant b'x' is not allowed"),
    ("alias('a', 1)", "the constant 1 is not allowed"),
    ("env.A += 'x'", "augmented assignment"),
    ("env.A = 'a' + 'b'", "operator expression is not allowed as an argument"),
    ("env.A = -1", "operator expression is not allowed as an argument"),
    ("env.A = env.B", "attribute access env.B is not allowed as an argument"),
    ("env.A = env.B = 'x'", "chained assignment is not allowed"),
    ("x = 'a'", "assignment to the name 'x' is not allowed"),
    ("env.A = lambda: 'x'", "lambda is not allowed as an argument"),
    ("[setenv('A', x) for x in 'ab']", "comprehension is not allowed as a statement"),
    ("if True: setenv('A', 'b')", "if is not allowed"),
    ("for x in 'ab': pass", "for loop is not allowed"),
    ("def f(): pass", "def is not allowed"),
    ("with open('x') as f: pass", "with is not allowed"),
    ("'a docstring'", "constant is not allowed as a statement"),
    ("pass", "pass is not allowed"),
])
def test_forbidden_commands(tmp_path: Path, statement: str, why: str) -> None:
    p = with_commands(tmp_path, statement)
    err = one_error(tmp_path)
    assert err.startswith(f"{p}:5:"), err
    assert ": commands: line 2: " in err and why in err, err


def test_command_errors_point_at_the_offending_node(tmp_path: Path) -> None:
    p = with_commands(tmp_path, "setenv('A', f'{x}')")
    assert one_error(tmp_path).startswith(f"{p}:5:15: commands: line 2: f-string")
    p = with_commands(tmp_path, "import os")
    assert one_error(tmp_path).startswith(f"{p}:5:3: commands: line 2: import is not allowed")


def test_every_bad_statement_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "foo/1.0/package.yaml", """
        name: foo
        version: "1.0"
        pre_commands: |
          import os
          env.A = "ok"
          os.system("x")
        post_commands: "import os"
        """)
    errors = messages(tmp_path)
    assert [e.split(": line")[0] for e in errors] == [
        f"{p}:4:3: pre_commands", f"{p}:6:3: pre_commands",
        f"{p}:7:16: post_commands",  # not a block scalar: the string's own location
    ]


def test_commands_syntax_error_located(tmp_path: Path) -> None:
    p = with_commands(tmp_path, "env.B = (")
    err = one_error(tmp_path)
    assert err.startswith(f"{p}:5:11: commands: line 2 of the commands is not valid Python")


# -- memoisation -------------------------------------------------------------------------

def test_results_are_memoised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_load = nodes.load_file

    def counting(path, *args):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real_load(path, *args)

    monkeypatch.setattr(nodes, "load_file", counting)
    p = with_commands(tmp_path, "import os")
    write(tmp_path, "bar/package.yaml", "name: bar\n")
    first = messages(tmp_path)
    assert len(first) == 1 and len(calls) == 2
    assert messages(tmp_path) == first
    assert len(calls) == 2  # nothing re-read

    write(tmp_path, "foo/1.0/package.py", "x = 1\n")  # structural: seen without re-reading
    assert len(messages(tmp_path)) == 2 and len(calls) == 2

    p.write_text('name: foo\nversion: "1.0"\ncommands: "env.A = 1"\n')  # content changed
    assert len(messages(tmp_path)) == 1 and len(calls) == 4

    clear_cache()
    messages(tmp_path)
    assert len(calls) == 6


# -- property: arbitrary commands never raise and never pass unless declarative ----------

_NAMES = set(declarative._CALLS) | {"env"}
_NODES = (ast.Module, ast.Expr, ast.Assign, ast.Call, ast.Attribute, ast.Name, ast.Constant,
          ast.Load, ast.Store)


def _declarative(code: str) -> bool:
    """An independent, coarser statement of the rule: only names, calls and constants."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in _NAMES:
            return False
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return False
        if isinstance(node, ast.Call) and node.keywords:
            return False
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (str, int, float))):
            return False
    return all(isinstance(s, (ast.Expr, ast.Assign)) for s in tree.body)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    st = None

if st is not None:
    _SNIPPETS = st.sampled_from([
        "env.A = 'x'", "env.A.append('{root}/bin')", "setenv('A', 1)", "unsetenv('A')",
        "alias('a', 'b')", "info('{this.version}')", "comment('c')", "import os",
        "os.system('x')", "env.__class__", "env.A = env.B", "x", "(", "'''", "f'{x}'",
        "info('{this.__class__}')", "setenv('A', 'b'); unsetenv('A')", "if 1:", "    pass",
        "lambda: 0", "env.A.set", "#c", "\\", "\t", "\f", "\r", "\x00", "{", "}", "$A",
        "setenv(key='A')", "env.A = -1", "env.A.set(*x)", "",
    ])
    _COMMANDS = st.lists(_SNIPPETS | st.text(max_size=12), max_size=6).map("\n".join) \
        | st.text(max_size=40)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(code=_COMMANDS)
    def test_arbitrary_commands_never_raise(tmp_path: Path, code: str) -> None:
        clear_cache()
        p = tmp_path / "foo" / "1.0" / "package.yaml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yaml.safe_dump({"name": "foo", "version": "1.0", "commands": code}))
        errors = validate_repository(str(tmp_path))
        if not errors:  # what rez itself would read must be declarative
            with open(p) as f:
                seen = yaml.load(f, Loader=yaml.FullLoader)["commands"]
            assert _declarative(seen), seen


def test_a_byte_order_mark_cannot_show_rez_other_commands(tmp_path: Path) -> None:
    """libyaml and rez's own PyYAML once read this file differently: the checker saw safe
    commands, rez saw a second ``commands`` key. Now rez's parser reads it here too, and the
    mark itself is refused."""
    proof = tmp_path / "pwned"
    write(tmp_path, "repo/evil/1.0/package.yaml",
          'name: evil\nversion: "1.0"\ncommands: |\n  env.SAFE = "1"\ndescription:\n'
          f'\ufeff"x: 1\ncommands: import os; os.system(\'touch {proof}\') #"\n')
    errors = validate_repository(str(tmp_path / "repo"))
    assert any("U+FEFF" in str(e) and ":6:1:" in str(e) for e in errors), errors
    assert not proof.exists()


@pytest.mark.parametrize("char", ["\r", "\x85", "\u2028", "\u2029", "\x1b", "\u200b"])
def test_characters_parsers_or_terminals_treat_specially_are_refused(tmp_path: Path,
                                                                     char: str) -> None:
    write(tmp_path, "foo/1.0/package.yaml", f'name: foo\nversion: "1.0"\ndescription: a{char}b\n')
    errors = validate_repository(str(tmp_path))
    assert any("is not allowed in package.yaml" in str(e) for e in errors), errors
