"""Class 1 — mount policy by real path, not by string: symlinks, empty lists, defaults,
sensitive paths, reserved targets. Each planted mount is refused at check and at resolve
(what launch runs), or neutralised (the real path is what is mounted)."""

from __future__ import annotations

import os

import pytest

from attacks import plant, refused
from landscape.context import resolve
from landscape.errors import LandscapeError

SH010 = "projects/lighthouse/seq010/sh010"


def mount_shot(example, source: str, target: str | None = None) -> str:
    entry = f"{{source: {source!r}" + (f", target: {target!r}" if target else "") + "}"
    plant(example, f"{SH010}/landscape.yaml", f"level: shot\nstorage: [{entry}]\n")
    return SH010


@pytest.mark.parametrize("link_to", ["/", "/etc", "/var/run/docker.sock", "/root"])
def test_a_symlink_inside_an_allowed_folder_is_judged_by_its_real_path(example, cli, link_to):
    (example / "projects/escape").symlink_to(link_to)
    mount_shot(example, str(example / "projects/escape"))
    err = refused(cli("check", example), "sh010/landscape.yaml:2:20: storage.source:",
                  f"(really {os.path.realpath(link_to)})")
    assert "outside policy.allowed_mounts" in err or "only the studio root" in err
    with pytest.raises(LandscapeError):
        resolve(example / SH010, tool="blender")


def test_the_real_path_is_what_is_mounted(example):
    real = example / "projects/lighthouse/assets"
    (example / "projects/alias").symlink_to(real)
    mount_shot(example, str(example / "projects/alias"), "/mnt/assets")
    rc = resolve(example / SH010, tool="blender")
    mount = next(m for m in rc.storage if m.target == "/mnt/assets")
    assert mount.source == str(real)  # canonical: a later swap of the link changes nothing


@pytest.mark.parametrize("source", ["//", "/", "/var/run", "/run", "/etc", "/proc", "/sys",
                                    "/dev", "/boot", "/root", "/var/lib/docker", "/var",
                                    "/tmp/../etc", "projects/../../../../../../etc"])
def test_with_no_allowed_mounts_at_the_root_only_the_studio_is_mountable(example, cli, source):
    mount_shot(example, source, "/mnt/x")
    refused(cli("check", example), "sh010/landscape.yaml:2:20: storage.source:")


def test_an_empty_list_narrows_to_nothing(example, cli):
    plant(example, f"{SH010}/landscape.yaml", "level: shot\npolicy: {allowed_mounts: []}\n")
    err = refused(cli("check", example),
                  "projects is outside policy.allowed_mounts (nothing, set at")
    assert "sh020" not in err  # only the shot that narrowed


def test_a_deeper_file_cannot_widen_the_mounts(example, cli):
    plant(example, "projects/lighthouse/landscape.yaml",
          "level: project\npolicy: {allowed_mounts: [/]}\n")
    refused(cli("check", example), "lighthouse/landscape.yaml:2:27: policy.allowed_mounts: "
            "policy may only narrow: / is outside allowed_mounts")


def test_sensitive_paths_need_the_root_to_name_them(studio, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allowed_mounts: [/]}
    """, "p/landscape.yaml": "storage: [{source: /etc, target: /mnt/etc}]\n",
         "q/landscape.yaml": f"storage: [{{source: {data}, target: /mnt/t}}]\n"})
    with pytest.raises(LandscapeError, match="reaches /etc, which only the studio root"):
        resolve(root / "p")
    assert resolve(root / "q").storage[-1].source == str(data)  # `/` allows the rest
    named = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allowed_mounts: [/etc]}
    """, "p/landscape.yaml": "storage: [{source: /etc, target: /mnt/etc, mode: ro}]\n"})
    assert resolve(named / "p").storage[-1].source == "/etc"


@pytest.mark.parametrize("target", ["/", "/landscape", "/landscape/context.json", "/proc/1",
                                    "/etc/passwd", "/etc/group", "/dev", "relative",
                                    "/a/../landscape", "//landscape"])
def test_reserved_or_malformed_targets_are_refused(example, cli, target):
    mount_shot(example, str(example / "projects"), target)
    refused(cli("check", example), "storage.target:")


@pytest.mark.parametrize("source", ["../../../..", "../../../../packages",
                                    "../../../../packages/python/3.11", "../../../../manifests",
                                    "../../../../.landscape", "../../../../.landscape/stacks"])
def test_trusted_config_and_code_are_never_mounted_writable(example, cli, source):
    """A container (as root on CI) must not be able to rewrite the root's landscape.yaml,
    a trusted package.py (which then runs on the host) or Landscape's own files."""
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nstorage: [{{source: '{source}', target: /mnt/x}}]\n")
    (example / ".landscape/stacks").mkdir(parents=True, exist_ok=True)
    refused(cli("check", example), "writable would let containers change")
    plant(example, f"{SH010}/landscape.yaml",
          f"level: shot\nstorage: [{{source: '{source}', target: /mnt/x, mode: ro}}]\n")
    r = cli("check", example)
    assert "writable" not in r.err
