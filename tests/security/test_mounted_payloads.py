"""Mounted payloads (``delivery: mount``, ``--dev``): no file but the studio root decides
what is mounted, nothing but a package folder inside a repository the root names is ever
mounted, a folder swapped for a link after the resolve is refused, and odd characters in a
payload's path stay data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from attacks import plant, refused
from payload_studio import lock_project, mount_studio

from landscape.context import resolve
from landscape.engine.launch import container_config, launch_spec, verify_binds, write_files
from landscape.engine.payloads import payload_binds
from landscape.errors import LandscapeError

SH010 = "projects/lighthouse/seq010/sh010"


@pytest.mark.parametrize("text", [
    "level: shot\ndelivery: {repositories: {/etc: mount}}\n",
    "level: shot\ndelivery:\n  packages: {blender: mount}\n",
])
def test_a_deeper_file_setting_delivery_is_refused(example, cli, text):
    plant(example, f"{SH010}/landscape.yaml", text)
    refused(cli("check", example), "sh010/landscape.yaml:2:1: delivery: delivery may only "
            "be set in the studio root's landscape.yaml")
    refused(cli("launch", example / SH010, "--tool", "blender", "--", "-v"),
            "sh010/landscape.yaml:2:1: delivery")


def test_a_root_variant_file_may_not_set_delivery_either(example, cli):
    plant(example, "landscape.night.yaml", "delivery: {packages: {blender: mount}}\n")
    refused(cli("resolve", example / SH010, "--variant", "night"),
            "landscape.night.yaml:1:1: delivery: delivery may only be set")


def test_a_family_marked_mount_from_a_deeper_repository_stays_baked(tmp_path):
    """A shot that adds a repository of its own (as policy allows) holding the family the
    root mounts: its package is baked, never mounted — the shot cannot bring a host folder
    into a container through ``delivery``."""
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    with open(root / "landscape.yaml", "a") as f:
        f.write("policy: {allowed_repositories: [projects]}\n")
    shot_repo = project / "sh1" / "packages"
    pkg = shot_repo / "bigdcc" / "1.0"
    pkg.mkdir(parents=True)
    (pkg / "package.yaml").write_text("name: bigdcc\nversion: '1.0'\n")
    (pkg / "secret.txt").write_text("from the shot\n")
    plant(project, "sh1/landscape.yaml", "rez: {packages_path: [packages]}\n")
    rc = resolve(project / "sh1", tool="sh")
    big = next(p for p in rc.solution.packages if p.name == "bigdcc")
    assert os.path.realpath(big.repository) == os.path.realpath(shot_repo)
    assert rc.image.mounted == [] and rc.launch_inputs().payloads == []
    assert "delivery" not in str(rc.to_json()["packages"])


def test_a_package_folder_linked_out_of_its_repository_is_not_mounted(tmp_path, cli):
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    outside = tmp_path / "outside"
    shutil.copytree(root / "packages/bigdcc/1.0", outside)
    shutil.rmtree(root / "packages/bigdcc/1.0")
    (root / "packages/bigdcc/1.0").symlink_to(outside)
    inputs = resolve(project, tool="sh").launch_inputs()
    assert inputs.payloads == []
    with pytest.raises(LandscapeError, match="outside its repository .*: not mounted"):
        launch_spec(inputs, [])
    refused(cli("launch", project, "--tool", "sh", "--", "true"),
            f"leads to {os.path.realpath(outside)}, outside its repository")


def test_a_folder_swapped_for_a_link_between_resolve_and_launch_is_refused(tmp_path):
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    lock_project(project)
    inputs = resolve(project, tool="sh").launch_inputs()  # the resolve (or the cache's record)
    folder = root / "packages/bigdcc/1.0"
    outside = tmp_path / "outside"
    shutil.copytree(folder, outside)  # the same content: the digest alone would not tell
    shutil.rmtree(folder)
    folder.symlink_to(outside)
    with pytest.raises(LandscapeError) as e:
        payload_binds(inputs)
    assert f"package bigdcc-1.0: {folder} now leads to {outside}" in str(e.value)
    assert "not launched" in str(e.value)


def test_a_folder_swapped_after_the_check_is_refused_before_the_container(tmp_path):
    """The last window: checked, then swapped while the image was being got or built."""
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    lock_project(project)
    spec = launch_spec(resolve(project, tool="sh").launch_inputs(), [])
    folder = root / "packages/bigdcc/1.0"
    folder.rename(tmp_path / "moved")
    folder.symlink_to(tmp_path / "moved")
    with pytest.raises(LandscapeError, match=f"{folder} changed since it was checked"):
        verify_binds(spec)


@pytest.mark.parametrize("name", ["odd repo: a,b=c", "ü ñ\ttab", "x\"y'z$(id)", "-rf --"])
def test_odd_characters_in_a_payload_path_stay_one_mount(tmp_path, name):
    project = mount_studio(tmp_path / "studio", repo="repos/" + name)
    root = project.parent.parent
    (root / "landscape.yaml").write_text((root / "landscape.yaml").read_text().replace(
        f"packages_path: [repos/{name}]", f"packages_path: [{_yaml(f'repos/{name}')}]"))
    lock_project(project)
    spec = launch_spec(resolve(project, tool="sh").launch_inputs(), [])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config = container_config(spec, write_files(spec, scratch))
    [mount] = [m for m in config["HostConfig"]["Mounts"]
               if m["Target"] == "/landscape/packages/bigdcc/1.0"]
    assert mount == {"Type": "bind", "Source": os.path.realpath(
        root / "repos" / name / "bigdcc/1.0"), "Target": "/landscape/packages/bigdcc/1.0",
        "ReadOnly": True}


def _yaml(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a YAML scalar


def test_a_record_naming_a_target_outside_the_package_repository_is_not_used(tmp_path,
                                                                          monkeypatch):
    """A tampered resolve cache entry cannot mount a payload over /etc: the record does not
    read back, and the launch resolves again."""
    import json

    from landscape import resolvecache

    monkeypatch.delenv("LANDSCAPE_NO_RESOLVE_CACHE", raising=False)
    project = mount_studio(tmp_path / "studio")
    req = resolvecache.request("launch", project, tool="sh")
    first = resolvecache.launch_inputs(req, lambda: resolve(project, tool="sh"))
    entry = resolvecache._entry_path(resolvecache.request_key(req))
    data = json.loads(entry.read_text())
    data["answers"]["launch"]["payloads"][0]["target"] = "/etc"
    entry.write_text(json.dumps(data))
    again = resolvecache.launch_inputs(req, lambda: resolve(project, tool="sh"))
    assert again.payloads == first.payloads


def test_a_dev_package_linked_out_of_the_dev_repository_is_not_mounted(tmp_path):
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    elsewhere = tmp_path / "elsewhere" / "1.0"
    elsewhere.mkdir(parents=True)
    (elsewhere / "package.py").write_text('name = "devtool"\nversion = "1.0"\n')
    (root / "dev/devtool").mkdir(parents=True)
    (root / "dev/devtool/1.0").symlink_to(elsewhere)
    from landscape.context import Extras

    rc = resolve(project, tool="sh", dev=True, extras=Extras(["devtool"], []))
    inputs = rc.launch_inputs()
    assert not [m for m in inputs.payloads if m.delivery == "dev"]
    with pytest.raises(LandscapeError, match="outside its repository"):
        launch_spec(inputs, [])


def test_paths_of_the_lock_entry_are_not_taken_from_the_lock(tmp_path):
    """The lock gives digests only: an entry edited to name another repository does not
    change what is mounted, and the package it should describe is then not recorded."""
    import json

    project = mount_studio(tmp_path / "studio")
    path = lock_project(project)
    data = json.loads(path.read_text())
    entry = data["packages"].pop("bigdcc-1.0@packages")
    data["packages"]["bigdcc-1.0@/etc"] = {**entry, "repository": "/etc"}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    with pytest.raises(LandscapeError, match="does not record its payload"):
        payload_binds(resolve(project, tool="sh").launch_inputs())
    assert Path(path).exists()
