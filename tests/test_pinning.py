"""Pinned images on a real engine: the lock's two phases, `build --locked`, vendored
offline builds with no network, a studio CA that never reaches an image, and a base whose
bootstrap is reproducible."""

from __future__ import annotations

import json
import pytest

pytestmark = pytest.mark.docker

CA_MARKER = "LANDSCAPE-TEST-CA-MARKER"
ROOT = """
    root: true
    rez: {packages_path: [packages]}
    image: {ca_certificates: studio-ca.crt}
"""
PROJECT = """
    level: project
    packages: [python-3.11]
    image: {system_packages: [jq]}
    tools: {jq: {command: [jq]}}
"""


@pytest.fixture
def pinned(base_image, studio, docker_engine):
    """A studio whose one project needs the small OS package ``jq``; its images are removed
    afterwards by exact tag."""
    root = studio({"landscape.yaml": ROOT, "pinproj/landscape.yaml": PROJECT,
                   "pinproj/s1/landscape.yaml": "level: shot\n",
                   "studio-ca.crt": f"-----BEGIN CERTIFICATE-----\n{CA_MARKER}\n"
                                    "-----END CERTIFICATE-----\n"})
    yield root / "pinproj"
    for image in docker_engine.images.list(filters={"label": "io.landscape.project=pinproj"}):
        for tag in image.tags:
            docker_engine.images.remove(tag)


def _lock(project):
    return json.loads((project / "landscape.lock").read_text())


def test_lock_phases_locked_and_offline_builds(pinned, cli, docker_engine, tmp_path,
                                               monkeypatch, base_image):
    p = str(pinned)
    assert cli("lock", p).code == 0
    assert "incomplete lock" in cli("lock", p, "--check").err  # images not built yet
    r = cli("build", p, "--locked")
    assert r.code == 1 and "incomplete" in r.err and "Traceback" not in r.err

    assert cli("build", p).code == 0  # completes the lock's observed phase
    assert cli("lock", p, "--check").code == 0
    lock = _lock(pinned)
    (key, image_entry), = lock["images"].items()
    pins = image_entry["os_packages"]
    assert {"jq", "libjq1", "libonig5"} <= set(pins) and "python3" not in pins
    assert lock["bases"]["landscape/base:bookworm"]["fingerprint"] == base_image["fingerprint"]
    assert lock["rez"]["3.4.0"]["sha256"]

    # The studio CA was trusted while fetching, and is nowhere in the image or its history.
    tag = image_entry["tag"]
    found = docker_engine.containers.run(
        tag, ["sh", "-c", f"grep -rl {CA_MARKER} /etc /usr /tmp /landscape || true"],
        remove=True, network_disabled=True)
    assert found.strip() == b""
    history = json.dumps(docker_engine.api.history(tag))
    assert "landscape-fetch" not in history and "ca.crt" not in history

    r = cli("build", p, "--locked")
    assert r.code == 0 and "0 built" in r.err

    # Air-gapped: vendor the locked .deb files, then build with the network disabled.
    vendor = tmp_path / "vendor"
    r = cli("vendor", p, str(vendor))
    assert r.code == 0, r.err
    index = json.loads((vendor / "vendor.json").read_text())
    assert {f"{n}={v}" for n, v in pins.items()} <= set(index["debs"])
    docker_engine.images.remove(tag)
    from landscape.engine import docker as dk

    calls = []
    real_build = dk.client().api.build

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(dk.client().api, "build", spy)
    r = cli("build", p, "--offline", str(vendor))
    assert r.code == 0, r.err
    assert calls and all(c["network_mode"] == "none" for c in calls)
    assert calls[0]["buildargs"]["LANDSCAPE_LOCKED"] == "1"
    from landscape.engine.pins import added_packages

    built = docker_engine.images.get(tag)
    assert added_packages(built, docker_engine.images.get("landscape/base:bookworm")) == pins

    # A vendored folder without one locked package: refused, naming it, before any build.
    victim = index["debs"][f"jq={pins['jq']}"]["file"]
    (vendor / "debs" / victim).unlink()
    docker_engine.images.remove(tag)
    r = cli("build", p, "--offline", str(vendor))
    assert r.code == 1 and f"jq={pins['jq']}" in r.err and "Traceback" not in r.err

    # A locked version no mirror serves any more: a clear error naming it.
    text = (pinned / "landscape.lock").read_text()
    (pinned / "landscape.lock").write_text(text.replace(
        f'"jq": "{pins["jq"]}"', '"jq": "9.9-1"'))
    r = cli("build", p, "--locked")
    assert r.code == 1 and "jq=9.9-1" in r.err and "no longer serves" in r.err


def test_base_bootstrap_is_reproducible(base_image, docker_engine):
    """Two forced bootstraps give the same content fingerprint (the layer's diff id)."""
    from landscape.engine.base import build_base

    name = "landscape/test-base:repro"
    try:
        first = build_base(image=name, force=True, log=lambda line: None)
        second = build_base(image=name, force=True, log=lambda line: None)
        assert first["id"] != second["id"] or first["built"]  # a new import each time
        assert first["fingerprint"] == second["fingerprint"] == base_image["fingerprint"]
        assert docker_engine.images.get(name).attrs["RootFS"]["Layers"] == [
            first["fingerprint"]]
    finally:
        try:
            docker_engine.images.remove(name)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _set_image(project, entry: str) -> None:
    """Add ``entry`` to the studio root's ``image`` mapping."""
    root = project.parent / "landscape.yaml"
    root.write_text(root.read_text().replace(
        "image: {ca_certificates: studio-ca.crt}",
        f"image: {{ca_certificates: studio-ca.crt, {entry}}}"))


def test_push_then_launch_pulls_by_the_locked_digest(pinned, cli, docker_engine,
                                                     tmp_path_factory):
    """Build + push, remove the local image, launch pulls (no build) and runs; the pulled
    digest is the lock's. An unchanged lock then builds nothing: the registry has it."""
    from test_registry import serve_registry

    p = str(pinned)
    with serve_registry(tmp_path_factory) as registry:
        _set_image(pinned, f'registry: "{registry}"')
        assert cli("lock", p).code == 0
        r = cli("build", p, "--push", registry)
        assert r.code == 0, r.err
        (key, entry), = json.loads((pinned / "landscape.lock").read_text())["images"].items()
        digest = entry["pushed"][registry]
        assert digest.startswith("sha256:") and digest in r.err
        for tag in docker_engine.images.get(entry["tag"]).tags:
            docker_engine.images.remove(tag)

        r = cli("build", p, "--locked", "--push", registry)  # CI on an unchanged lock
        assert r.code == 0 and "0 built" in r.err and f"is in {registry}" in r.err

        calls = []
        from landscape.engine import images

        real = images._build
        try:
            images._build = lambda *a, **k: calls.append(a) or real(*a, **k)
            r = cli("launch", f"{p}/s1", "--tool", "jq", "--", "--version")
        finally:
            images._build = real
        assert r.code == 0, r.err
        assert "pulled" in r.err and not calls  # no build happened
        pulled = docker_engine.images.get(entry["tag"])
        assert f"{registry}/landscape/pinproj@{digest}" in pulled.attrs["RepoDigests"]
        for tag in pulled.tags:
            docker_engine.images.remove(tag)


def test_prune_keeps_current_and_recent_lock_revisions(pinned, cli, docker_engine):
    p = str(pinned)
    assert cli("lock", p).code == 0 and cli("build", p).code == 0
    old = json.loads((pinned / "landscape.lock").read_text())["images"]
    _set_image(pinned, "labels: {com.example.rev: '2'}")
    assert cli("lock", p).code == 0 and cli("build", p).code == 0
    new = json.loads((pinned / "landscape.lock").read_text())["images"]
    (old_tag,), (new_tag,) = [v["tag"] for v in old.values()], [v["tag"] for v in new.values()]
    assert old_tag != new_tag

    r = cli("prune", p, "--keep", "2", "--json")
    assert r.code == 0 and json.loads(r.out)["removed"] == []  # the older revision keeps it
    r = cli("prune", p, "--keep", "1", "--dry-run", "--json")
    assert json.loads(r.out)["removed"] == [old_tag]
    assert docker_engine.images.get(old_tag)  # a dry run removes nothing
    r = cli("prune", p, "--keep", "1")
    assert r.code == 0 and old_tag in r.err
    remaining = {t for im in docker_engine.images.list(
        filters={"label": "io.landscape.project=pinproj"}) for t in im.tags}
    assert new_tag in remaining and old_tag not in remaining
    assert docker_engine.images.get("landscape/base:bookworm")  # the base is never touched


def test_images_lists_and_locked_refuses_another_base(pinned, cli):
    p = str(pinned)
    assert cli("lock", p).code == 0 and cli("build", p).code == 0
    rows = json.loads(cli("images", p, "--json").out)["images"]
    assert len(rows) == 1 and rows[0]["exists"] and rows[0]["size"] > 100_000_000
    assert sorted(rows[0]["contexts"]) == [".", "s1"]
    lock = pinned / "landscape.lock"
    text = lock.read_text()
    fingerprint = json.loads(text)["bases"]["landscape/base:bookworm"]["fingerprint"]
    lock.write_text(text.replace(fingerprint, "sha256:" + "0" * 64))
    r = cli("build", p, "--locked")
    assert r.code == 1 and "has content" in r.err and "landscape.lock:" in r.err
