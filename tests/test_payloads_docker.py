"""Mounted payloads against a real engine: a ``delivery: mount`` package is in its image as
definitions only and reaches the launch read-only where a baked copy would be; a payload
changed since the lock (or swapped for a link) is refused before any container; a dev
package's edit takes effect at the next launch with no build."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import landscape_exe
from payload_studio import LABEL, dev_package, lock_project, mount_studio

pytestmark = pytest.mark.docker

BIG = "/landscape/packages/bigdcc/1.0"
PAYLOAD = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB


@pytest.fixture
def run(docker_engine, tmp_path):
    """A label value for this test's images; they are removed afterwards (by that label)."""
    value = f"t{os.getpid()}-{tmp_path.name}"
    yield value
    for image in docker_engine.images.list(filters={"label": f"{LABEL}={value}"}):
        try:
            docker_engine.images.remove(image.id, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def studio_images(client, run: str) -> set[str]:
    """The ids of the images built in this test (labelled ``run``)."""
    return {im.id for im in client.images.list(filters={"label": f"{LABEL}={run}"})}


def containers_of(client, project: Path) -> set[str]:
    """The ids of the containers (running or not) launched for the context ``project``."""
    return {c.id for c in client.containers.list(
        all=True, filters={"label": f"io.landscape.context={project}"})}


def launch(project: Path, script: str, *flags: str) -> subprocess.CompletedProcess:
    """``landscape launch PROJECT --tool sh FLAGS -- SCRIPT`` in a process of its own (as a
    user runs it: nothing memoised from this test process)."""
    return subprocess.run([*landscape_exe(), "launch", str(project), "--tool", "sh", *flags,
                           "--", script], capture_output=True, text=True, timeout=900)


def test_a_mounted_payload_is_read_only_at_its_place_and_not_in_the_image(
        base_image, docker_engine, tmp_path, run):
    from landscape.context import resolve

    project = mount_studio(tmp_path / "studio", payload=PAYLOAD, run=run)
    lock_project(project)
    script = (f"bigdcc; sha256sum {BIG}/data/payload.bin; echo root=$BIGDCC_ROOT; "
              f"touch {BIG}/new 2>/dev/null && echo writable || echo read-only; "
              f"grep -c ' {BIG} ' /proc/self/mountinfo")
    r = launch(project, script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == f"bigdcc from {BIG}/bin"
    assert lines[1].split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    assert lines[2:5] == [f"root={BIG}", "read-only", "1"]
    # the image itself holds the definition only
    tag = resolve(project).image.tag
    listing = docker_engine.containers.run(tag, ["sh", "-c", f"cd {BIG} && find . | sort"],
                                           remove=True).decode().split()
    assert listing == [".", "./package.py"]
    size = docker_engine.images.get(tag).attrs["Size"]
    baked = mount_studio(tmp_path / "baked", payload=PAYLOAD, delivery="", run=run)
    from landscape.engine.images import build_image

    other = build_image(resolve(baked).image, log=lambda line: None)
    assert docker_engine.images.get(other.id).attrs["Size"] - size >= len(PAYLOAD)


def test_a_changed_or_swapped_payload_is_refused_before_any_container(
        base_image, docker_engine, tmp_path, run):
    project = mount_studio(tmp_path / "studio", payload=PAYLOAD, run=run)
    root = project.parent.parent
    lock_project(project)
    assert launch(project, "true").returncode == 0
    payload = root / "packages/bigdcc/1.0/data/payload.bin"
    payload.write_bytes(PAYLOAD[:-1] + b"!")
    r = launch(project, "echo ran")
    assert r.returncode == 1 and "ran" not in r.stdout and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert f"package bigdcc-1.0: its payload {os.path.realpath(payload.parent.parent)} " \
           "changed since the lock" in line, line
    # the lock names the new content: launched again
    lock_project(project)
    assert launch(project, "true").returncode == 0
    # the folder swapped for a link to a copy outside its repository
    outside = tmp_path / "outside"
    shutil.copytree(payload.parent.parent, outside)
    shutil.rmtree(payload.parent.parent)
    payload.parent.parent.symlink_to(outside)
    r = launch(project, "echo ran")
    assert r.returncode == 1 and "ran" not in r.stdout and "Traceback" not in r.stderr
    assert f"leads to {outside}, outside its repository" in r.stderr, r.stderr
    assert not containers_of(docker_engine, project)  # none was created, none is left


def test_a_payload_path_with_odd_characters_is_mounted(base_image, docker_engine, tmp_path,
                                                       run):
    name = "odd repo: a,b=c ü"
    project = mount_studio(tmp_path / "studio", repo=f"repos/{name}", payload=PAYLOAD, run=run)
    root = project.parent.parent
    (root / "landscape.yaml").write_text((root / "landscape.yaml").read_text().replace(
        f"packages_path: [repos/{name}]", f'packages_path: ["repos/{name}"]'))
    lock_project(project)
    r = launch(project, f"sha256sum {BIG}/data/payload.bin")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == hashlib.sha256(PAYLOAD).hexdigest()


def test_an_edit_of_a_dev_package_takes_effect_at_the_next_launch_with_no_build(
        base_image, docker_engine, tmp_path, run):
    project = mount_studio(tmp_path / "studio", delivery="", run=run)
    root = project.parent.parent
    pkg = dev_package(root, "devtool", "1.0", 'env.DEVTOOL = "first"\n')
    (pkg / "notes.txt").write_text("draft 1\n")
    script = "echo $DEVTOOL ${DEVTOOL_NEW:-unset}; cat /landscape/packages/devtool/1.0/notes.txt"
    r = launch(project, script, "--dev", "-a", "devtool")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["first unset", "draft 1"]
    images = studio_images(docker_engine, run)
    assert images  # built by the first launch
    (pkg / "package.py").write_text((pkg / "package.py").read_text().replace(
        'env.DEVTOOL = "first"', 'env.DEVTOOL = "second"\n    env.DEVTOOL_NEW = "added"'))
    (pkg / "notes.txt").write_text("draft 2\n")
    r = launch(project, script, "--dev", "-a", "devtool")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["second added", "draft 2"]
    assert studio_images(docker_engine, run) == images  # nothing was built in between
    assert "getting" not in r.stderr, r.stderr
    # a warm launch: the workspace has the dev package mounted, the environment is per launch
    try:
        r = launch(project, script, "--dev", "-a", "devtool", "--warm")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:2] == ["second added", "draft 2"]
        (pkg / "package.py").write_text((pkg / "package.py").read_text().replace(
            '"second"', '"third"'))
        (pkg / "notes.txt").write_text("draft 3\n")
        r = launch(project, script, "--dev", "-a", "devtool", "--warm")
        assert r.stdout.split("\n")[:2] == ["third added", "draft 3"], r.stderr
        assert studio_images(docker_engine, run) == images
    finally:
        from landscape.engine.workspace import host_folder

        for c in docker_engine.containers.list(all=True, filters={"label": [
                "io.landscape.role=workspace", f"io.landscape.root={root.resolve()}"]}):
            c.remove(force=True)
            shutil.rmtree(host_folder(c.name), ignore_errors=True)
