"""Bad input never crashes a project: every case is an error at file:line:col, the sibling
contexts still check, and nothing is a traceback."""

from __future__ import annotations

import pytest

from attacks import plant, refused

SH010 = "projects/lighthouse/seq010/sh010"
SH020 = "projects/lighthouse/seq010/sh020"

BOMB = """
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
metadata: {x: *i}
"""

CASES = {
    "alias bomb": (BOMB, "expands to more than 200,000 values"),
    "impossible date": ("metadata: {due: 2026-02-30}\n",
                        "sh010/landscape.yaml:1:17: metadata.due: '2026-02-30' is not a valid value"),
    "newline in a request": ('packages: ["python\\nrm -rf /"]\n',
                             "sh010/landscape.yaml:1:12: packages[0]: 'python\\nrm -rf /' is "
                             "not a rez package request"),
    "huge format spec": ('templates: {work: "{root:>3000000000}"}\n',
                         "templates take no conversions or format specs"),
    "unbalanced quote in command": ('tools: {blender: {command: "blender \\"oops"}}\n',
                                    "sh010/landscape.yaml:1:28: tools.blender.command: command "
                                    "'blender \"oops' cannot be split"),
    "dirs that end the entry's list": ('tools: {blender: {dirs: ["--", sh]}}\n',
                                       "a dir is a relative folder name without '..'"),
    "dir escaping the workdir": ('dirs: ["../../../../etc"]\n', "a dir is a relative folder"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_an_error_not_a_crash(example, cli, name):
    text, message = CASES[name]
    plant(example, f"{SH010}/landscape.yaml", "level: shot\n" * 0 + text)
    r = cli("check", example)
    err = refused(r, message)
    assert "contexts" in err  # the summary: the other contexts were still checked
    ok = cli("check", example / SH020)
    assert ok.code == 0, ok  # a sibling is untouched


def test_every_error_of_one_file_is_reported(example, cli):
    plant(example, "landscape.yaml", (example / "landscape.yaml").read_text() +
          "policy: {allow_gui: false}\n")
    plant(example, f"{SH010}/landscape.yaml", """
        level: shot
        storage: [{source: /etc, target: /mnt/etc}]
        tools: {blender: {gui: true}}
        env: {USER: "evil\\nroot:x:0:0::/:/bin/sh"}
    """)
    err = refused(cli("check", example))
    assert "sh010/landscape.yaml:2:20: storage.source: /etc is outside policy.allowed_mounts" in err
    assert "sh010/landscape.yaml:3:24: tools.blender.gui: tool 'blender' asks for gui" in err
    assert "sh010/landscape.yaml:4:13: env.USER: USER is the launching user's own" in err


def test_every_duplicate_key_is_reported(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\nname: a\nname: b\nlevel: x\n")
    err = refused(cli("check", example))
    assert "sh010/landscape.yaml:3:1: name: duplicate key (first at line 2)" in err
    assert "sh010/landscape.yaml:4:1: level: duplicate key (first at line 1)" in err


def test_a_config_file_that_is_a_folder_is_an_error(example, cli):
    (example / SH010 / "landscape.yaml").unlink()
    (example / SH010 / "landscape.yaml").mkdir()
    err = refused(cli("check", example))
    assert "sh010/landscape.yaml: is a directory, not a config file" in err
    refused(cli("resolve", example / SH010), "is a directory, not a config file")


def test_an_oversized_file_is_not_read(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\n# " + "x" * (5 << 20) + "\n")
    refused(cli("check", example), "larger than 4 MiB: not read")


def test_an_unbalanced_quote_breaks_resolve_cleanly(example, cli):
    plant(example, f"{SH010}/landscape.yaml", 'tools: {python: {command: "python \\"x"}}\n')
    refused(cli("resolve", example / SH010, "--tool", "python"), "cannot be split")


@pytest.mark.parametrize("value, line, message", [
    (".nan", "3:10: metadata.ratio: '.nan' is not a finite number", "quote it"),
    ("-.inf", "3:10: metadata.ratio: '-.inf' is not a finite number", "quote it"),
    ("!!binary aGVsbG8=", "3:10: metadata.ratio: binary data (!!binary) is not allowed",
     "drop !!binary"),
    ("!!set {a, b}", "3:10: metadata.ratio: a YAML set (!!set) is not allowed", "a list"),
])
def test_values_json_cannot_hold_are_refused_at_load(example, cli, value, line, message):
    """``resolve --json`` prints strict JSON: a value it could only print as ``NaN``,
    ``Infinity``, a Python ``b'…'`` or a set read as a mapping is refused where the file
    is read, one line naming file:line:col and the key."""
    plant(example, f"{SH010}/landscape.yaml", f"level: shot\nmetadata:\n  ratio: {value}\n")
    r = cli("resolve", example / SH010, "--json")
    err = refused(r, f"sh010/landscape.yaml:{line}", message)
    assert r.out == "" and len(err.strip().splitlines()) == 1, r
    refused(cli("check", example), f"sh010/landscape.yaml:{line}")
    ok = cli("resolve", example / SH020, "--json")
    assert ok.code == 0 and "NaN" not in ok.out, ok
