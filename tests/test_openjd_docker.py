"""``render --emit openjd`` and ``render --digest`` for real: the example's image pushed to a
loopback registry, the job template emitted, and each of its tasks run the way an Open Job
Description worker runs it (the template decoded and instantiated with openjd-model, the
task parameter substituted, the command run with no shell) — the frames land verified.
Marked ``docker``: fails (never skips) without an engine or ``docker-registry``.

The studio root file of the session's built studio gets ``image.registry`` for the module
(the registry is not part of an image's key, so no image changes) and gets its text back
afterwards; the registry tags the push adds are removed by their exact reference.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import landscape_exe
from test_openjd import tasks
from renderfarm import FAKE, SH010, SH020, frames_in

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def farm_registry(built, registry, docker_engine):
    """The built studio with ``image.registry`` set to the loopback ``registry`` and a
    context variant ``farm-ok`` at shot sh010 (the python tool as a renderer); everything is
    put back afterwards, and the registry tags pushes made are removed by exact name."""
    import shutil

    studio, _ = built
    root_file = studio / "landscape.yaml"
    before = root_file.read_text()
    data = yaml.safe_load(before)
    data.setdefault("image", {})["registry"] = registry
    root_file.write_text(yaml.safe_dump(data, sort_keys=False))
    shot = studio / SH010
    variant = shot / "landscape.farm-ok.yaml"
    variant.write_text(json.dumps({"tools": {"python": {
        "frames": ["-c", FAKE, "{output}", "{frames}", "ok"],
        "outputs": "renders/frame_####.png", "verify": "decodes"}}}))
    shutil.rmtree(shot / "work/python/renders", ignore_errors=True)
    try:
        yield studio
    finally:
        root_file.write_text(before)
        variant.unlink()
        shutil.rmtree(shot / "work/python/renders", ignore_errors=True)
        for image in docker_engine.images.list():
            for tag in image.tags:
                if tag.startswith(registry + "/"):
                    docker_engine.images.remove(tag, noprune=True)


def test_the_emitted_job_renders_every_chunk_verified(farm_registry, cli, tmp_path):
    shot = farm_registry / SH010
    out = tmp_path / "job.yaml"
    started = time.monotonic()
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames",
            "1-5,7-11x2", "--chunk", "2", "--emit", "openjd", "--out", out)
    seconds = time.monotonic() - started
    assert r.code == 0, r
    assert "OpenJD job: 5 task(s), 8 frame(s)" in r.err
    assert not (shot / "work/python/renders").exists() or not frames_in(
        shot / "work/python/renders")  # nothing rendered at emit time
    text = out.read_text()
    print(f"\nopenjd template: {len(text.encode())} bytes, emitted in {seconds:.2f} s")
    data = yaml.safe_load(text)
    digest = next(a for a in data["steps"][0]["script"]["actions"]["onRun"]["args"]
                  if a.startswith("--digest=")).split("=", 1)[1]
    ref = f"{data['description']}"
    assert f"@{digest}" in ref
    exe = landscape_exe()
    assert len(exe) == 1  # the installed console script, as a farm worker runs it
    work = tasks(data, {"Landscape": exe[0]})
    assert [args[3] for _, args in work] == ["--frames=1-2", "--frames=3-4", "--frames=5",
                                             "--frames=7-9x2", "--frames=11"]
    for command, args in work:
        done = subprocess.run([command, *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "rendered and verified" in done.stderr
    renders = shot / "work/python/renders"
    assert frames_in(renders) == [f"frame_{f:04d}.png" for f in (1, 2, 3, 4, 5, 7, 9, 11)]


def test_a_changed_context_refuses_the_job_image(farm_registry, cli, tmp_path):
    """sh020 resolves to another image than sh010: sh010's digest is refused in one line."""
    shot = farm_registry / SH010
    started = time.monotonic()
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1",
            "--emit", "openjd", "--out", tmp_path / "job.json")
    assert r.code == 0, r
    print(f"\nopenjd emit with the image in the registry: {time.monotonic() - started:.2f} s")
    data = json.loads((tmp_path / "job.json").read_text())
    digest = next(a for a in data["steps"][0]["script"]["actions"]["onRun"]["args"]
                  if a.startswith("--digest=")).split("=", 1)[1]
    r = cli("render", farm_registry / SH020, "--tool", "blender/render", "--frames", "1",
            "--digest", digest)
    assert r.code == 1, r
    assert "the job was emitted for image" in r.err and "this context now resolves to" in r.err
    assert len(r.err.strip().splitlines()) <= 2 and "Traceback" not in r.err  # error + hint
    missing = "sha256:" + "0" * 64
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1",
            "--digest", missing)
    assert r.code == 1 and "Traceback" not in r.err, r


def test_a_digest_not_in_the_engine_is_pulled_by_that_digest(built, registry, docker_engine):
    """An image the engine lacks is pulled by ``repository@digest`` and checked by its labels
    (a variant spec of sh010's image, as in test_registry.py: its own key, a fully cached
    build); the same digest asked for another spec is refused."""
    import uuid

    from landscape.engine.images import build_image, find_image
    from landscape.engine.registry import (ImageMismatch, image_by_digest, push_image,
                                           registry_reference, registry_repository)
    from landscape.plan import make_plan
    from test_registry import variant

    studio, _ = built
    plan = make_plan(studio / "projects/lighthouse")
    spec = next(im.spec for im in plan.images.values()
                for c in im.contexts if not c.variants and Path(c.path).name == "sh010")
    v = variant(spec, uuid.uuid4().hex[:8], project=spec.project)  # the same repository
    ref = registry_reference(v, registry)
    build_image(v, log=lambda line: None)
    try:
        digest = push_image(v, registry, log=lambda line: None)
        for r in (ref, v.tag):  # the variant leaves the engine (its layers are the example's)
            docker_engine.images.remove(r)
        assert find_image(v, tag=False) is None
        lines: list[str] = []
        image = image_by_digest(v, registry, digest, log=lines.append)
        want = f"{registry_repository(v, registry)}@{digest}"
        assert want in image.attrs["RepoDigests"] and v.tag in image.tags
        assert any(line.startswith(f"pulling {want}") for line in lines)
        assert image_by_digest(v, registry, digest).id == image.id  # local now: no pull
        with pytest.raises(ImageMismatch) as e:
            image_by_digest(spec, registry, digest)
        assert e.value.reference == want and "is not the image of" in str(e.value)
    finally:
        for r in (v.tag, ref):
            try:
                docker_engine.images.remove(r)
            except Exception:  # already gone
                pass
        leftover = find_image(v, tag=False)
        if leftover is not None:
            docker_engine.images.remove(leftover.id, force=True)
