"""landscape.lock without the engine: canonical text, drift naming context and package,
bad locks with file:line, content-only image keys (any checkout path, any install)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.lock import LockError, drift, dumps, make_lock, read_lock
from landscape.plan import make_plan

REPO = Path(__file__).resolve().parent.parent
PROJECT = "projects/lighthouse"


@pytest.fixture
def no_engine(monkeypatch):
    """No Docker engine answers: the lock's observed phase cannot be filled."""
    import landscape.engine.docker as dk

    monkeypatch.setattr(dk, "_client", None)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def lock_of(studio: Path, previous: dict | None = None) -> dict:
    project = studio / PROJECT
    return make_lock(make_plan(project), project, previous)


def test_lock_is_canonical_and_names_every_input(example):
    lock = lock_of(example)
    text = dumps(lock)
    assert text.endswith("}\n") and text == dumps(json.loads(text))
    assert dumps(lock_of(example)) == text  # unchanged inputs: byte-identical
    assert lock["contexts"]["seq010/sh020"] != lock["contexts"]["seq010/sh010"]
    assert lock["contexts"]["seq010/sh020 [lighting]"] == lock["contexts"]["seq010/sh020"]
    pkg = lock["packages"]["studio_pipeline-1.0.0@packages"]
    assert pkg["repository"] == "packages" and pkg["digest"].startswith("sha256:")
    image = lock["images"][lock["contexts"]["seq010/sh020"]]
    assert "studio_pipeline-1.0.0" in image["packages"]
    assert image["system_packages"] == ["blender", "python3", "python3-venv"]
    assert image["os_packages"] is None  # observed phase: needs built images
    assert lock["bases"]["landscape/base:bookworm"] == {"fingerprint": None, "os_packages": None}


def test_keys_depend_on_content_only(example, tmp_path):
    """Another checkout path, other modes and mtimes, byte-code caches: the same keys."""
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(example, other, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(other / "packages"):
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                os.chmod(p, p.stat().st_mode & ~0o077)  # a stricter umask
                os.utime(p, (1, 1))
        (Path(dirpath) / "__pycache__").mkdir(exist_ok=True)
        (Path(dirpath) / "__pycache__" / "x.cpython-311.pyc").write_bytes(os.urandom(16))
    a, b = lock_of(example), lock_of(other)
    assert a["contexts"] == b["contexts"] and a["packages"] == b["packages"]


def test_keys_are_the_same_from_an_installed_copy(example, tmp_path):
    """The wheel's layout (``landscape/_data/…``, byte-code written by an import) gives the
    keys of the checkout."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "src" / "landscape", site / "landscape",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("templates", "images", "compose"):
        shutil.copytree(REPO / name, site / "landscape" / "_data" / name)
    pyc = site / "landscape" / "_data" / "templates" / "image" / "__pycache__"
    pyc.mkdir()
    (pyc / "bake.cpython-311.pyc").write_bytes(b"compiled")
    script = ("import json, sys; from landscape.plan import make_plan; "
              "from landscape.resources import data_dir; "
              "p = make_plan(sys.argv[1]); "
              "print(json.dumps([str(data_dir('templates')), "
              "sorted(c.key for c in p.contexts)]))")
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", script, str(example / PROJECT)], env=env,
                         capture_output=True, text=True, check=True).stdout
    where, keys = json.loads(out)
    assert where.startswith(str(site))
    assert keys == sorted(c.key for c in make_plan(example / PROJECT).contexts)


def test_drift_names_context_and_package(example):
    old = json.loads(dumps(lock_of(example)))
    old["_text"] = dumps(old)
    shot = example / PROJECT / "seq010/sh020/landscape.yaml"
    shot.write_text(shot.read_text().replace("studio_pipeline-1.0", "studio_pipeline-1.1"))
    messages = [f"{d.subject}: {d.message}" for d in drift(old, lock_of(example, old))]
    assert "seq010/sh020: studio_pipeline 1.0.0 → 1.1.0" in messages
    assert all(not m.startswith("seq010/sh010") for m in messages)


def test_drift_names_a_package_edited_in_place(example):
    old = json.loads(dumps(lock_of(example)))
    old["_text"] = dumps(old)
    (example / "packages/studio_pipeline/1.0.0/package.py").open("a").write("\n# edited\n")
    from landscape.digest import _DIGESTS

    _DIGESTS.clear()
    subjects = {d.subject for d in drift(old, lock_of(example, old))}
    assert "studio_pipeline-1.0.0" in subjects and "seq010/sh020" in subjects


def test_check_says_missing_then_stale(example, cli, no_engine):
    project = str(example / PROJECT)
    assert cli("lock", project, "--check").code == 0  # the example's committed lock
    (example / PROJECT / "landscape.lock").unlink()
    r = cli("lock", project, "--check")
    assert r.code == 1 and "no lock" in r.err
    r = cli("lock", project)
    assert r.code == 0, r.err
    text = (example / PROJECT / "landscape.lock").read_text()
    assert cli("lock", project).code == 0
    assert (example / PROJECT / "landscape.lock").read_text() == text  # byte-identical
    r = cli("lock", project, "--check")
    assert r.code == 1 and "incomplete lock" in r.err  # no images observed yet
    shot = example / PROJECT / "seq010/sh020/landscape.yaml"
    shot.write_text(shot.read_text().replace("studio_pipeline-1.0", "studio_pipeline-1.1"))
    r = cli("lock", project, "--check")
    assert r.code == 1 and "stale lock" in r.err
    assert "seq010/sh020: studio_pipeline 1.0.0 → 1.1.0" in r.err
    assert "landscape.lock:" in r.err  # the lock's file:line


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t[: len(t) // 2], "not a valid lock"),
    (lambda t: t.replace('"format": 1', '"format": 7'), "newer Landscape"),
    (lambda t: t.replace('"contexts": {', '"contexts": {"x": 5,'), "edited by hand"),
    (lambda t: "<<<<<<< HEAD\n" + t, "not a valid lock"),
])
def test_bad_locks_name_file_and_line(example, edit, expected):
    path = example / PROJECT / "landscape.lock"
    path.write_text(edit(dumps(lock_of(example))))
    with pytest.raises(LockError) as e:
        read_lock(path)
    text = str(e.value)
    assert expected in text and "landscape.lock:" in text and "landscape lock" in text


def test_locked_build_refuses_drift_before_the_engine(example, cli, no_engine):
    project = str(example / PROJECT)
    assert cli("lock", project).code == 0
    shot = example / PROJECT / "seq010/sh020/landscape.yaml"
    shot.write_text(shot.read_text().replace("studio_pipeline-1.0", "studio_pipeline-1.1"))
    r = cli("build", project, "--locked")
    assert r.code == 1
    assert "seq010/sh020: studio_pipeline 1.0.0 → 1.1.0" in r.err and "Traceback" not in r.err


def test_registry_and_build_trust_are_root_only(studio):
    from landscape.cascade import build_cascade
    from landscape.errors import LandscapeError

    root = studio({"proj/landscape.yaml": """
        level: project
        image: {registry: "evil.example/x", ca_certificates: /etc/shadow,
                apt_mirror: "http://evil.example/debian"}
    """})
    with pytest.raises(LandscapeError) as e:
        build_cascade(root / "proj")
    for key in ("image.registry", "image.ca_certificates", "image.apt_mirror"):
        assert key in str(e.value)
    assert "proj/landscape.yaml:" in str(e.value)


@pytest.mark.parametrize("value", ["evil.com/$(id)", "Registry.Example", "http://x", ""])
def test_a_bad_root_registry_is_refused(studio, value):
    from landscape.cascade import build_cascade
    from landscape.errors import LandscapeError

    root = studio({"landscape.yaml": f"""
        root: true
        rez: {{packages_path: [packages]}}
        image: {{registry: {json.dumps(value)}}}
    """})
    with pytest.raises(LandscapeError, match="registry"):
        build_cascade(root).studio_image()


def _complete(lock: dict) -> dict:
    """``lock`` with a plausible observed phase (as a build would fill it)."""
    for entry in lock["bases"].values():
        entry.update(fingerprint="sha256:" + "0" * 64, os_packages={"python3": "3.11.2-1"})
    for entry in lock["rez"].values():
        entry.update(wheel="rez-3.4.0-py3-none-any.whl", sha256="1" * 64)
    for im in lock["images"].values():
        im["os_packages"] = {n: "1.0-1" for n in im["system_packages"] if n != "python3"}
    return lock


@pytest.mark.parametrize("edit, expected", [
    (lambda im: im.update(tag="landscape/other:0123456789ab"), "tag"),
    (lambda im: im.update(packages=im["packages"] + ["evil-1.0"]), "packages"),
    (lambda im: im.update(system_packages=["netcat-openbsd"]), "system_packages"),
    (lambda im: im["os_packages"].update({"jq; touch /tmp/pwned": "1"}), "not Debian"),
    (lambda im: im["os_packages"].pop("blender"), "pins nowhere: blender"),
])
def test_check_sees_a_hand_edited_image_entry(example, edit, expected):
    from landscape.engine.delivery import Project, check_lock

    project = example / PROJECT
    lock = _complete(lock_of(example))
    edit(next(iter(lock["images"].values())))
    (project / "landscape.lock").write_text(dumps(lock))
    plan = make_plan(project)
    state, lines = check_lock(Project(plan, project, example, "lighthouse"))
    assert state == "stale" and any(expected in line for line in lines), lines
    assert all("landscape.lock:" in line for line in lines)


@pytest.mark.parametrize("make, expected", [
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
    (lambda p: p.write_text("[" * 200_000), "not a valid lock"),
    (lambda p: p.write_bytes(b'{\n"format": 1,\n"x": "\xff\xfe"}'), "not UTF-8"),
])
def test_unreadable_locks_are_refused_without_a_hang(tmp_path, make, expected):
    path = tmp_path / "landscape.lock"
    make(path)
    with pytest.raises(LockError, match=expected) as e:
        read_lock(path)
    assert "landscape lock" in str(e.value)


@pytest.mark.parametrize("name", ["../../etc/shadow", "/etc/shadow", "..", 5, "a/b.deb"])
def test_vendor_index_file_names_stay_in_the_folder(tmp_path, name):
    from landscape.errors import LandscapeError
    from landscape.vendor import vendored_debs

    (tmp_path / "debs").mkdir()
    (tmp_path / "vendor.json").write_text(json.dumps(
        {"format": 1, "wheels": {}, "debs": {"jq=1.6": {"file": name, "sha256": "x"}}}))
    with pytest.raises(LandscapeError):
        vendored_debs(tmp_path, {"jq": "1.6"})


def test_a_vendored_symlink_is_not_taken(tmp_path):
    from landscape.errors import LandscapeError
    from landscape.vendor import file_sha256, vendored_debs

    (tmp_path / "debs").mkdir()
    outside = tmp_path / "outside.deb"
    outside.write_bytes(b"deb")
    (tmp_path / "debs" / "jq.deb").symlink_to(outside)
    (tmp_path / "vendor.json").write_text(json.dumps({"format": 1, "wheels": {}, "debs": {
        "jq=1.6": {"file": "jq.deb", "sha256": file_sha256(outside)}}}))
    with pytest.raises(LandscapeError, match="missing: jq=1.6"):
        vendored_debs(tmp_path, {"jq": "1.6"})


def test_lock_takes_the_project_folder_only(example, cli, no_engine):
    r = cli("lock", str(example / PROJECT / "seq010"))
    assert r.code == 1 and "whole project" in r.err
    assert (example / PROJECT / "landscape.lock").read_text() == \
        (REPO / "examples/studio" / PROJECT / "landscape.lock").read_text()


@pytest.mark.parametrize("edit, expected", [
    (lambda lock: lock["images"].update({"sha256:" + "0" * 64: dict(
        next(iter(lock["images"].values())), base="docker.io/attacker/img:latest")}),
     "not made by any context"),
    (lambda lock: lock["bases"].update({"attacker/img:1": {"fingerprint": None,
                                                          "os_packages": None}}),
     "not made by any context"),
    (lambda lock: lock["images"].update({"sha256:" + "1" * 64: lock["images"].pop(
        lock["contexts"]["seq010/sh020"])}), "seq010/sh020"),
    (lambda lock: lock.update(project="other"), "project"),
    (lambda lock: next(iter(lock["bases"].values()))["os_packages"].update({"a;b": "1"}),
     "not Debian"),
])
def test_check_refuses_entries_nothing_made(example, edit, expected):
    from landscape.engine.delivery import Project, check_lock

    project = example / PROJECT
    lock = _complete(lock_of(example))
    edit(lock)
    (project / "landscape.lock").write_text(dumps(lock))
    state, lines = check_lock(Project(make_plan(project), project, example, "lighthouse"))
    assert state == "stale" and any(expected in line for line in lines), lines


def test_a_key_written_twice_is_refused(example):
    path = example / PROJECT / "landscape.lock"
    path.write_text(dumps(lock_of(example)).replace('"format": 1', '"format": 1, "format": 1'))
    with pytest.raises(LockError, match="twice"):
        read_lock(path)


def test_prune_prunes_nothing_while_a_context_is_broken(example, cli, no_engine):
    shot = example / PROJECT / "seq010/sh020/landscape.yaml"
    shot.write_text(shot.read_text() + "\nimage: {registry: 'evil.example:5000'}\n")
    r = cli("prune", str(example / PROJECT), "--dry-run")
    assert r.code == 1 and "nothing pruned" in r.err
    assert "seq010/sh020/landscape.yaml:" in r.err and "image.registry" in r.err
