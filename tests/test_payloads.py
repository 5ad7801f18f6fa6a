"""Package payloads mounted instead of baked (``delivery: mount``, ``--dev``), without Docker:
the root-only config and its errors, image keys that depend on definitions only, the lock's
payload digests, the build context's definition files, launch-time checks against the lock,
and dev packages left out of the image."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from payload_studio import dev_package, lock_project, mount_studio

from landscape.context import resolve
from landscape.engine.buildcontext import BuildContext, definitions_only, package_payloads
from landscape.engine.payloads import payload_binds
from landscape.errors import LandscapeError
from landscape.launchinputs import LaunchInputs, PayloadMount
from landscape.lock import make_lock, read_lock
from landscape.plan import make_plan


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return mount_studio(tmp_path / "studio")


def inputs_of(project: Path, tool: str = "sh", **kw) -> LaunchInputs:
    return resolve(project, tool=tool, **kw).launch_inputs()


def fresh_key(project: Path, **kw) -> str:
    from landscape import rezsolve

    rezsolve.clear_caches()  # an in-process resolve must see the disk as it is now
    return resolve(project, **kw).image.key


# -- config -----------------------------------------------------------------------------


def test_delivery_is_read_from_the_root(project):
    rc = resolve(project, tool="sh")
    assert rc.image.mounted == ["bigdcc-1.0"]
    packages = {p["name"]: p for p in rc.to_json()["packages"]}
    assert packages["bigdcc"]["delivery"] == "mount"
    assert "delivery" not in packages["python"]  # baked: as before


@pytest.mark.parametrize("where", ["projects/p/landscape.yaml", "landscape.night.yaml"])
def test_a_file_other_than_the_root_may_not_set_delivery(project, cli, where):
    root = project.parent.parent
    target = root / where
    target.write_text(("level: project\n" if "projects" in where else "") +
                      "delivery:\n  packages: {python: mount}\n")  # a widening, if it worked
    r = cli("resolve", project, "--variant", "night", "--json")
    assert r.code == 1 and "Traceback" not in r.err
    line = 2 if "projects" in where else 1
    assert f"{where}:{line}:1: delivery: delivery may only be set in the studio root's " \
           "landscape.yaml" in r.err, r.err


@pytest.mark.parametrize("text, message", [
    ("delivery: {packages: {bigdcc: copy}}", "delivery.packages.bigdcc: must be one of 'bake', 'mount'"),
    ("delivery: {packages: {'big-dcc': mount}}", "delivery.packages"),
    ("delivery: {repositories: {packages: true}}", "delivery.repositories.packages"),
    ("delivery: {mount: [bigdcc]}", "delivery"),
    ("delivery: [bigdcc]", "delivery"),
])
def test_bad_delivery_values_name_file_and_line(tmp_path, cli, text, message):
    project = mount_studio(tmp_path / "studio", delivery=text)
    r = cli("check", project.parent.parent)
    assert r.code == 1 and "Traceback" not in r.err + r.out, r
    assert "landscape.yaml:3:" in r.err + r.out and message in r.err + r.out, r


def test_a_whole_repository_can_be_mounted_and_a_family_kept_baked(tmp_path):
    project = mount_studio(tmp_path / "studio", delivery=(
        "delivery: {repositories: {packages: mount}, packages: {python: bake}}"))
    assert resolve(project, tool="sh").image.mounted == ["bigdcc-1.0"]


def test_baking_stays_the_default(tmp_path):
    project = mount_studio(tmp_path / "studio", delivery="")
    rc = resolve(project, tool="sh")
    assert rc.image.mounted == [] and rc.launch_inputs().payloads == []


# -- image keys -------------------------------------------------------------------------


def test_the_key_does_not_depend_on_a_mounted_payload(project):
    big = project.parent.parent / "packages/bigdcc/1.0"
    key = fresh_key(project)
    (big / "data/payload.bin").write_bytes(b"other content")
    (big / "data/new.bin").write_bytes(b"more")
    assert fresh_key(project) == key
    with open(big / "package.py", "a") as f:  # the definition is in the image: a new key
        f.write("# edited\n")
    assert fresh_key(project) != key


def test_a_baked_payload_still_makes_the_key(tmp_path):
    project = mount_studio(tmp_path / "studio", delivery="")
    key = fresh_key(project)
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"other")
    assert fresh_key(project) != key


def test_mounting_changes_the_key_and_keeps_the_others(tmp_path):
    baked = mount_studio(tmp_path / "a", delivery="")
    mounted = mount_studio(tmp_path / "b")
    a, b = resolve(baked).image, resolve(mounted).image
    assert a.key != b.key  # the images hold different things
    ca, cb = a.canonical()["packages"], b.canonical()["packages"]
    assert [p for p in ca if p["name"] == "python"] == [p for p in cb if p["name"] == "python"]
    assert [(p["name"], p.get("delivery")) for p in cb] == [("bigdcc", "mount"),
                                                            ("python", None)]


def test_the_build_sends_only_the_definitions_of_a_mounted_package(project, tmp_path):
    spec = resolve(project).image
    payloads = package_payloads(spec)
    only = definitions_only(spec, payloads)
    assert only == {a for a, _ in payloads if a.endswith("/bigdcc/1.0")}
    (tmp_path / "empty").mkdir()
    names = BuildContext(tmp_path / "empty", payloads, only).names()
    big = [n for n in names if "/bigdcc/" in n or n.endswith("/bigdcc")]
    assert [n.split("/landscape/packages/")[1] for n in big] == [
        "bigdcc", "bigdcc/1.0", "bigdcc/1.0/package.py"]
    assert any(n.endswith("/python/3.11/package.py") for n in names)


# -- the lock ---------------------------------------------------------------------------


def test_the_lock_records_each_mounted_payload_digest(project):
    from landscape.digest import fresh_tree_digest

    lock = make_lock(make_plan(project), project)
    entry = lock["packages"]["bigdcc-1.0@packages"]
    big = project.parent.parent / "packages/bigdcc/1.0"
    assert entry["delivery"] == "mount"
    assert entry["digest"] == "sha256:" + fresh_tree_digest(str(big))
    assert "delivery" not in lock["packages"]["python-3.11@packages"]
    path = lock_project(project)
    assert read_lock(path, project)["packages"]["bigdcc-1.0@packages"] == entry


def test_lock_check_sees_a_changed_mounted_payload(project, cli):
    from landscape import rezsolve

    lock_project(project)
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"changed")
    rezsolve.clear_caches()  # as a new process would
    r = cli("lock", project, "--check")
    assert r.code == 1 and "bigdcc-1.0: content changed under the same version" in r.err + r.out


# -- launch-time checks -----------------------------------------------------------------


def test_a_mounted_payload_is_mounted_read_only_where_a_baked_copy_would_be(project):
    lock_project(project)
    inputs = inputs_of(project)
    real = os.path.realpath(project.parent.parent / "packages/bigdcc/1.0")
    assert [m.to_json() for m in inputs.payloads] == [{
        "package": "bigdcc-1.0", "repository": str(project.parent.parent / "packages"),
        "base": str(project.parent.parent / "packages/bigdcc/1.0"), "source": real,
        "target": "/landscape/packages/bigdcc/1.0", "delivery": "mount"}]
    assert payload_binds(inputs) == [(real, "/landscape/packages/bigdcc/1.0", "ro")]
    assert inputs.env["BIGDCC_ROOT"] == "/landscape/packages/bigdcc/1.0"


def test_an_unchanged_payload_is_checked_without_reading_it(project, monkeypatch):
    """The lock's digest was kept in the digest cache by the payload's stat signature: the
    launch's check stats the files and reads none (and reads them once after a change)."""
    from landscape import digest

    lock_project(project)
    inputs = inputs_of(project)
    read = []
    real_content = digest._content_digest
    monkeypatch.setattr(digest, "_content_digest", lambda p: read.append(p) or real_content(p))
    payload_binds(inputs)
    payload_binds(inputs)
    assert read == []
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"changed")
    for _ in range(2):
        with pytest.raises(LandscapeError):
            payload_binds(inputs)
    assert read == [inputs.payloads[0].source]


def test_a_payload_changed_since_the_lock_is_refused(project):
    lock = lock_project(project)
    inputs = inputs_of(project)
    payload_binds(inputs)
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"changed")
    with pytest.raises(LandscapeError) as e:
        payload_binds(inputs)
    text = str(e.value)
    assert "\n" not in text and "package bigdcc-1.0: its payload " in text
    assert os.path.realpath(project.parent.parent / "packages/bigdcc/1.0") in text
    assert f"changed since the lock ({lock}:" in text and "not launched" in text


def test_the_check_reads_the_payload_again_not_the_process_memo(project):
    """A long-running process (the launch agent) sees a change made after it digested."""
    from landscape.digest import tree_digest

    lock_project(project)
    inputs = inputs_of(project)
    tree_digest(inputs.payloads[0].source)  # memoised in this process
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"changed")
    with pytest.raises(LandscapeError, match="changed since the lock"):
        payload_binds(inputs)


def test_a_mounted_payload_needs_a_lock(project):
    inputs = inputs_of(project)
    with pytest.raises(LandscapeError) as e:
        payload_binds(inputs)
    assert "package bigdcc-1.0 is mounted (delivery: mount)" in str(e.value)
    assert "no lock" in str(e.value) and "landscape lock" in str(e.value)


def test_a_lock_without_the_package_is_refused(project):
    path = lock_project(project)
    data = json.loads(path.read_text())
    del data["packages"]["bigdcc-1.0@packages"]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    with pytest.raises(LandscapeError, match="does not record its payload"):
        payload_binds(inputs_of(project))


def test_the_payload_check_is_never_cached(project, monkeypatch):
    """The resolve cache keeps which folders to mount, never their digests: a payload
    changed after the launch inputs were cached is still refused."""
    from landscape import resolvecache

    monkeypatch.delenv("LANDSCAPE_NO_RESOLVE_CACHE", raising=False)
    lock_project(project)
    req = resolvecache.request("launch", project, tool="sh")
    first = resolvecache.launch_inputs(req, lambda: resolve(project, tool="sh"))
    assert "digest" not in json.dumps(first.to_record()["payloads"])
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"changed")
    cached = resolvecache.launch_inputs(req, lambda: pytest.fail("resolved again"))
    assert cached.payloads == first.payloads
    with pytest.raises(LandscapeError, match="changed since the lock"):
        payload_binds(cached)


@pytest.mark.parametrize("target", ["/etc", "/landscape/packages/../../etc",
                                    "/landscape/packagesX/a", "/landscape/packages//x"])
def test_a_cached_record_cannot_name_another_target(target):
    record = {"package": "p-1", "repository": "/r", "base": "/r/p/1", "source": "/r/p/1",
              "target": target, "delivery": "mount"}
    with pytest.raises(ValueError):
        PayloadMount.from_json(record)
    with pytest.raises(ValueError):
        PayloadMount.from_json({**record, "target": "/landscape/packages/p/1",
                                "delivery": "bake"})


def test_launch_inputs_round_trip_their_payloads(project):
    inputs = inputs_of(project)
    again = LaunchInputs.from_record(json.loads(json.dumps(inputs.to_record())))
    assert again.payloads == inputs.payloads


# -- dev packages -----------------------------------------------------------------------


def test_dev_packages_are_not_in_the_image_and_are_mounted(project):
    root = project.parent.parent
    dev_package(root, "devtool", "1.0", 'env.DEVTOOL = "one"\n')
    rc = resolve(project, tool="sh", dev=True, extras=_extras("devtool"))
    assert "devtool" not in [p.name for p in rc.image.packages]
    assert "sh" not in rc.image.tools and "py" in rc.image.tools  # sh's setup needs devtool
    inputs = rc.launch_inputs()
    dev = [m for m in inputs.payloads if m.delivery == "dev"]
    assert [(m.package, m.target) for m in dev] == [("devtool-1.0",
                                                     "/landscape/packages/devtool/1.0")]
    assert inputs.env["DEVTOOL"] == "one"
    lock_project(project)
    binds = payload_binds(inputs)  # a dev package is not checked against the lock
    assert (os.path.realpath(root / "dev/devtool/1.0"), "/landscape/packages/devtool/1.0",
            "ro") in binds


def test_an_edit_of_a_dev_package_keeps_the_image(project):
    from landscape import rezsolve

    root = project.parent.parent
    pkg = dev_package(root, "devtool", "1.0", 'env.DEVTOOL = "one"\n')
    key = resolve(project, tool="sh", dev=True, extras=_extras("devtool")).image.key
    (pkg / "package.py").write_text((pkg / "package.py").read_text().replace('"one"', '"two"'))
    (pkg / "tool.py").write_text("print('new file')\n")
    rezsolve.clear_caches()
    rc = resolve(project, tool="sh", dev=True, extras=_extras("devtool"))
    assert rc.env["DEVTOOL"] == "two" and rc.image.key == key


def test_a_dev_package_shadowing_a_released_one_is_not_baked(project):
    root = project.parent.parent
    dev_package(root, "bigdcc", "1.0", 'env.FROM = "dev"\n')
    rc = resolve(project, tool="py", dev=True)
    assert [p.name for p in rc.image.packages] == ["python"] and rc.image.mounted == []
    assert rc.env["FROM"] == "dev" and rc.image.tools == {}
    [m] = rc.launch_inputs().payloads
    assert m.delivery == "dev" and m.source == os.path.realpath(root / "dev/bigdcc/1.0")


def test_a_dev_single_file_family_is_mounted_as_its_file(project):
    root = project.parent.parent
    (root / "dev/gear.py").write_text('name = "gear"\nversions = ["1.0", "2.0"]\n'
                                      "def commands():\n    env.GEAR = '{version}'\n")
    rc = resolve(project, tool="sh", dev=True, extras=_extras("gear-2"))
    assert "gear" not in [p.name for p in rc.image.packages] and rc.env["GEAR"] == "2.0"
    [m] = [m for m in rc.launch_inputs().payloads if m.delivery == "dev"]
    assert (m.source, m.target) == (os.path.realpath(root / "dev/gear.py"),
                                    "/landscape/packages/gear.py")


def test_dev_without_a_dev_repository_is_one_clear_line(tmp_path, cli):
    project = mount_studio(tmp_path / "studio")
    root = project.parent.parent
    (root / "landscape.yaml").write_text((root / "landscape.yaml").read_text().replace(
        ", dev_path: [dev]", ""))
    r = cli("launch", project, "--tool", "sh", "--dev", "--", "true")
    assert r.code == 1 and "Traceback" not in r.err
    assert "--dev: no dev repository: no config file sets rez.dev_path" in r.err, r


def test_a_missing_dev_repository_names_file_and_line(project, cli):
    (project.parent.parent / "dev").rmdir()
    r = cli("launch", project, "--tool", "sh", "--dev", "--", "true")
    assert r.code == 1 and "Traceback" not in r.err
    assert "landscape.yaml:2:" in r.err and "rez.dev_path: --dev: the dev repository " in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err


def _extras(*packages: str):
    from landscape.context import Extras

    return Extras(list(packages), [])


def test_the_stacks_workspace_service_mounts_the_payload_as_a_launch_does(project):
    """``up``'s workspace service of an image with a mounted payload gets it read-only at
    its place, checked against the lock like a launch — and is refused once it changed."""
    from landscape.cascade import build_cascade
    from landscape.engine.stack import compose_document

    lock_project(project)
    plan = make_plan(project)
    doc = compose_document(plan, build_cascade(project))
    real = os.path.realpath(project.parent.parent / "packages/bigdcc/1.0")
    (service,) = [s for n, s in doc["services"].items() if n.startswith("workspace-")]
    assert {"type": "bind", "source": real, "target": "/landscape/packages/bigdcc/1.0",
            "read_only": True} in service["volumes"]
    (project.parent.parent / "packages/bigdcc/1.0/data/payload.bin").write_bytes(b"other")
    with pytest.raises(LandscapeError, match="changed since the lock"):
        compose_document(make_plan(project), build_cascade(project))
