"""YAML loading: values, merge tags, locations and syntax errors."""

from pathlib import Path

import pytest

from landscape.errors import ConfigError
from landscape.nodes import load_text


def test_values_keep_types_and_locations():
    n = load_text("a: 1\nb:\n  - x\n  - {c: true}\n", "f.yaml")
    assert n.plain() == {"a": 1, "b": ["x", {"c": True}]}
    assert (n.get("a").loc.line, n.get("a").loc.col) == (1, 4)
    assert n.key_loc("b").line == 2
    assert n.find(("b", 1, "c")).loc.line == 4


@pytest.mark.parametrize("tag", ["replace", "append", "prepend", "remove", "unset"])
def test_merge_tags_are_kept(tag):
    n = load_text(f"k: !{tag} [a]\n", "f.yaml")
    assert n.get("k").tag == tag
    assert n.get("k").plain() == ["a"]


def test_tagged_scalars_keep_their_implicit_type():
    n = load_text('a: !replace 3\nb: !replace "3"\nc: !remove\n', "f.yaml")
    assert n.get("a").value == 3
    assert n.get("b").value == "3"
    assert n.get("c").tag == "remove" and n.get("c").value is None


def test_unknown_tag_is_an_error_with_location():
    with pytest.raises(ConfigError) as e:
        load_text("a: 1\nb: !merge [x]\n", "f.yaml")
    assert str(e.value).startswith("f.yaml:2:4: b: unknown tag !merge")


def test_duplicate_key_is_an_error():
    with pytest.raises(ConfigError, match=r"f.yaml:2:1: a: duplicate key \(first at line 1\)"):
        load_text("a: 1\na: 2\n", "f.yaml")


def test_syntax_error_names_line_and_where_the_construct_starts():
    with pytest.raises(ConfigError) as e:
        load_text("a:\n  b: [1, 2\n  c: 3\n", "f.yaml")
    msg = str(e.value)
    assert msg.startswith("f.yaml:3:")
    assert "starts at line 2" in msg


def test_empty_document_is_none():
    assert load_text("# only a comment\n", "f.yaml") is None


def test_recursive_alias_is_an_error():
    with pytest.raises(ConfigError, match="recursive YAML"):
        load_text("metadata: &x {a: *x}\n", "f.yaml")


def test_unreadable_or_non_utf8_file(tmp_path):
    from landscape.nodes import load_file

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b'env: {A: "\xe9"}\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_file(lst)


@pytest.mark.parametrize("text, message", [
    ("a: .nan\n", "f.yaml:1:4: a: '.nan' is not a finite number: config values are JSON data"),
    ("a: [1, -.inf]\n", "f.yaml:1:8: a[1]: '-.inf' is not a finite number"),
    ("a: 1.0e+999\n", "f.yaml:1:4: a: '1.0e+999' is not a finite number"),
    ("a: !append .inf\n", "f.yaml:1:4: a: '.inf' is not a finite number"),
    ("a: !!binary aGk=\n", "f.yaml:1:4: a: binary data (!!binary) is not allowed"),
    ("a: !!set {x, y}\n", "f.yaml:1:4: a: a YAML set (!!set) is not allowed"),
    ("a: !!omap [x: 1]\n", "f.yaml:1:4: a: a YAML omap (!!omap) is not allowed"),
    (".nan: 1\n", "f.yaml:1:1: '.nan' is not a finite number"),
])
def test_values_json_cannot_hold_are_errors(text, message):
    with pytest.raises(ConfigError) as e:
        load_text(text, "f.yaml")
    assert str(e.value).startswith(message)


def test_json_values_are_kept():
    import datetime

    n = load_text('a: "nan"\nb: nan\nc: 1.5e+3\nd: "!!binary x"\ne: 2026-02-01\n', "f.yaml")
    assert n.plain() == {"a": "nan", "b": "nan", "c": 1500.0, "d": "!!binary x",
                         "e": datetime.date(2026, 2, 1)}


@pytest.mark.parametrize("text", [
    "x: !!python/object/apply:os.system ['touch /tmp/landscape-pwned']\n",
    "x: !!python/object:os.system {a: 1}\n",
    "x: !!python/tuple [1, 2]\n",
    "x: !<tag:example.com,2026:thing> {a: 1}\n",
])
def test_a_collection_with_a_python_or_foreign_tag_is_an_error(tmp_path, text):
    """A safe loader refuses such a tag on a scalar, but on a list or map the tag alone was
    dropped and the value read as a plain collection: now it is an error at its line."""
    from landscape.errors import LandscapeError
    from landscape.nodes import load_file

    f = tmp_path / "landscape.yaml"
    f.write_text(text)
    with pytest.raises(LandscapeError, match=r"tag .* is not allowed"):
        load_file(f)
    assert not Path("/tmp/landscape-pwned").exists()


def test_a_fifo_manifest_is_named_as_such_and_never_opened(example, cli):
    import os

    manifest = example / "manifests/vfx2024.yaml"
    manifest.unlink()
    os.mkfifo(manifest)
    r = cli("check", example)  # a read would wait for a writer: the test would hang
    assert r.code == 1 and "vfx2024.yaml: is not a regular file: not read" in r.err, r
