"""Class 6 — package repositories are code: only the root's repositories (and those under
``policy.trusted_repositories``) may hold ``package.py``; a deeper file may only add
repositories inside ``policy.allowed_repositories``, and those are validated as declarative
data before rez reads a byte of them."""

from __future__ import annotations

import pytest

from attacks import plant, refused
from landscape.context import resolve
from landscape.errors import LandscapeError

SH010 = "projects/lighthouse/seq010/sh010"


def _allow(example, key="allowed_repositories"):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + f"policy: {{{key}: [projects]}}\n")


def _early_package(repo, witness):
    d = repo / "evil" / "1.0"
    d.mkdir(parents=True)
    (d / "package.py").write_text(f"""
name = "evil"
version = "1.0"
@early()
def description():
    open({str(witness)!r}, "w").write("code ran on the host")
    return "x"
with open({str(witness)!r}, "w") as f:
    f.write("code ran on the host")
""")


def test_a_repository_the_root_does_not_allow_is_refused(example, cli, tmp_path):
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nrez: {{packages_path: [{tmp_path}]}}\n")
    refused(cli("check", example), "sh010/landscape.yaml:2:23: rez.packages_path: package "
            f"repository {tmp_path} is not one the studio root names")


@pytest.mark.parametrize("kind", ["packages_path", "staging_path", "dev_path"])
def test_package_py_with_early_code_never_runs(example, cli, tmp_path, kind):
    _allow(example)
    witness = tmp_path / "witness"
    _early_package(example / SH010 / "packages", witness)
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nrez: {{{kind}: [packages]}}\npackages: [evil]\n")
    flags = {"staging_path": ["--staging"], "dev_path": ["--dev"]}.get(kind, [])
    for args in (["check", example], ["resolve", example / SH010, *flags],
                 ["plan", example / "projects/lighthouse"], ["diff", example / SH010,
                                                             example / SH010]):
        r = cli(*args)
        assert r.code == (2 if args[0] == "diff" else 1), r  # diff: 1 means "they differ"
        if args[0] in ("check", "resolve") or not flags:
            assert "evil/1.0/package.py: package.py runs code" in r.err + r.out, r
    assert not witness.exists()


def test_trusted_repositories_may_hold_code(example, tmp_path):
    root = example / "landscape.yaml"  # outside the storage: containers cannot write it
    root.write_text(root.read_text() + "policy: {trusted_repositories: [pipeline]}\n")
    witness = tmp_path / "witness"
    _early_package(example / "pipeline/shots", witness)
    plant(example, f"{SH010}/landscape.yaml", "level: shot\n"
          "rez: {packages_path: [../../../../pipeline/shots]}\npackages: [evil]\n")
    resolve(example / SH010)
    assert witness.exists()  # the root trusted it: rez loaded it


def test_a_trusted_repository_inside_writable_storage_is_refused(example, cli):
    _allow(example, "trusted_repositories")
    refused(cli("check", example), "projects writable would let containers change")


def test_declarative_commands_are_limited_to_env_actions(example, tmp_path):
    _allow(example)
    d = example / SH010 / "packages/evil/1.0"
    d.mkdir(parents=True)
    (d / "package.yaml").write_text(
        "name: evil\nversion: '1.0'\n"
        f"commands: |\n  __import__('os').system('touch {tmp_path}/witness')\n")
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\nrez: {packages_path: [packages]}\npackages: [evil]\n")
    with pytest.raises(LandscapeError, match="package.yaml:4:3: commands"):
        resolve(example / SH010)
    assert not (tmp_path / "witness").exists()


def test_a_deeper_file_cannot_widen_the_repositories(example, cli):
    _allow(example)
    plant(example, "projects/lighthouse/landscape.yaml",
          "level: project\npolicy: {trusted_repositories: [/]}\n")
    refused(cli("check", example), "policy may only narrow: / is outside trusted_repositories")


@pytest.mark.parametrize("commands", ['""', '"# only a comment"'])
def test_empty_declarative_commands_are_an_error_not_a_crash(example, cli, commands):
    _allow(example)
    d = example / SH010 / "packages/empty/1.0"
    d.mkdir(parents=True)
    (d / "package.yaml").write_text(f"name: empty\nversion: '1.0'\ncommands: {commands}\n")
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\nrez: {packages_path: [packages]}\npackages: [empty]\n")
    refused(cli("resolve", example / SH010), "package.yaml:3:11: commands: the commands are empty")


def test_failing_commands_of_a_trusted_package_are_an_error_not_a_crash(studio, cli):
    from conftest import package

    root = studio({"p/landscape.yaml": "packages: [broken]\n"})
    package(root / "packages", "broken", "1.0", commands="raise RuntimeError('boom')")
    refused(cli("resolve", root / "p"), "rez cannot build the environment", "boom")
