"""Class 2 — the studio root is fixed: no deeper file becomes a root, no ``parent:`` leaves
it, and a studio root named with ``--root`` admits no other."""

from __future__ import annotations

import pytest

from attacks import plant, refused

SH010 = "projects/lighthouse/seq010/sh010"


def test_root_true_in_a_shot_is_an_error(example, cli):
    plant(example, f"{SH010}/landscape.yaml", """
        root: true
        rez: {packages_path: [/]}
        policy: {allowed_mounts: [/], allow_privileged: true}
        storage: [{source: /, target: /host}]
    """)
    refused(cli("check", example), "sh010/landscape.yaml:1:1: root: only the studio root")
    refused(cli("resolve", example / SH010), "only the studio root")


def test_parent_to_a_folder_that_claims_to_be_a_root_is_an_error(example, cli):
    plant(example, "projects/fake/landscape.yaml", "root: true\npolicy: {allowed_mounts: [/]}\n")
    plant(example, f"{SH010}/landscape.yaml", "parent: ../../../fake\n")
    refused(cli("check", example), "fake/landscape.yaml:1:1: root: only the studio root")


def test_parent_leaving_the_studio_root_is_an_error(example, cli, tmp_path):
    other = tmp_path / "other-studio"
    plant(other, "landscape.yaml", "root: true\nrez: {packages_path: [/]}\n")
    plant(example, f"{SH010}/landscape.yaml", f"parent: {other}\n")
    refused(cli("check", example), f"sh010/landscape.yaml:1:9: parent: parent {other} leaves "
            "the studio root")
    plant(example, f"{SH010}/landscape.yaml", "parent: ../../../../..\n")
    refused(cli("check", example), "leaves the studio root")


def test_with_an_explicit_root_no_other_may_claim_to_be_one(example, cli):
    plant(example, "projects/lighthouse/landscape.yaml", "root: true\n")
    refused(cli("check", example / "projects", "--root", example),
            "lighthouse/landscape.yaml:1:1: root: only the studio root")


def test_an_inner_studio_cannot_shadow_the_outer_one(tmp_path, cli):
    plant(tmp_path, "landscape.yaml", "root: true\nrez: {packages_path: [pk]}\n")
    plant(tmp_path, "inner/landscape.yaml", "root: true\nrez: {packages_path: [/]}\n")
    refused(cli("resolve", tmp_path / "inner/shot"), "inner/landscape.yaml:1:1: root: only the "
            "studio root")


@pytest.mark.parametrize("text", ["policy: !remove\n", "policy: !replace {allow_gui: true}\n",
                                  "policy:\n  allow_gui: !remove\n"])
def test_a_merge_tag_cannot_drop_the_roots_policy(example, cli, text):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: false}\n")
    plant(example, f"{SH010}/landscape.yaml",
          "level: shot\n" + text + "tools: {python: {gui: true}}\n")
    err = refused(cli("check", example), "sh010/landscape.yaml:")
    assert "cannot be used on policy" in err


def test_a_new_studio_checks_clean_and_limits_mounts(tmp_path, cli):
    assert cli("init", tmp_path / "s").code == 0
    assert cli("check", tmp_path / "s").code == 0
    plant(tmp_path / "s", "projects/example/landscape.yaml",
          "level: project\nstorage: [{source: /etc, target: /mnt/etc}]\n")
    refused(cli("check", tmp_path / "s"), "storage.source: /etc is outside")
