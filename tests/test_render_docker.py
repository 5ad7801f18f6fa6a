"""``landscape render`` for real: chunks in the context's image, verified on disk, retried,
resumed, interrupted. Marked ``docker``: fails (never skips) without an engine.

The Blender cases render the example's shot sh020 (640x272, 8 samples: a few seconds a
frame). The failure cases use the example's ``python`` tool, given render keys by a context
variant file written for the test (``landscape.<variant>.yaml``; render keys do not change the
image), so they need no other image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import landscape_exe
from renderfarm import SH010, SH020, flaky_and_silent_chunks_are_retried, frames_in
from landscape.renderspec import png_size

pytestmark = pytest.mark.docker

def test_blender_renders_8_frames_in_4_chunks_verified_and_resumes_2(built, cli):
    import shutil

    studio, _ = built
    renders = studio / SH020 / "work/blender/renders"
    shutil.rmtree(renders, ignore_errors=True)
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1001-1008",
            "--chunk", "2", "--parallel", "2")
    assert r.code == 0, r
    assert r.err.count(": done, 2 frame(s) verified") == 4
    assert frames_in(renders) == [f"frame_{f}.png" for f in range(1001, 1009)]
    for p in renders.glob("frame_*.png"):
        assert png_size(p) == (640, 272)  # the shot's metadata.resolution
        assert p.stat().st_uid == os.getuid()
    assert not [p for p in renders.iterdir() if p.name.startswith(".landscape-")]
    kept = {p.name: p.stat().st_mtime_ns for p in renders.glob("frame_*.png")}
    (renders / "frame_1003.png").unlink()
    (renders / "frame_1006.png").write_bytes(b"")
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1001-1008",
            "--chunk", "2", "--resume")
    assert r.code == 0, r
    assert "rendering 2 frame(s) in 1 chunk(s)" in r.err
    assert "chunk 1003-1006x3: done, 2 frame(s) verified" in r.err  # Blender's -j 3
    now = {p.name: p.stat().st_mtime_ns for p in renders.glob("frame_*.png")}
    changed = sorted(n for n in now if now[n] != kept.get(n))
    assert changed == ["frame_1003.png", "frame_1006.png"]
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1001-1008",
            "--resume")
    assert r.code == 0 and "nothing to render" in r.err, r


def test_a_chunk_runs_with_the_environment_of_a_launch(farm, cli):
    shot = farm / SH010
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-2",
            "--chunk", "2")
    assert r.code == 0, r
    chunk = json.loads((shot / "work/python/renders/env-1,2.json").read_text())
    code = ("import json, os; print(json.dumps({'env': dict(os.environ), 'uid': os.getuid(), "
            "'gid': os.getgid(), 'cwd': os.getcwd()}))")
    r = cli("launch", shot, "--tool", "python", "--variant", "farm-ok", "--", "-c", code)
    assert r.code == 0, r
    launch = json.loads(r.out.strip().splitlines()[-1])
    for data in (chunk, launch):
        data["env"].pop("HOSTNAME")  # the container's own id
    assert chunk == launch


def test_failures_are_retried_caught_and_reported_by_chunk(farm, cli):
    shot = farm / SH010
    renders = shot / "work/python/renders"
    flaky_and_silent_chunks_are_retried(cli, shot)

    started = time.monotonic()
    r = cli("render", shot, "--tool", "python", "--variant", "farm-always", "--frames", "7-8",
            "--chunk", "2", "--retries", "2")
    assert r.code == 1, r
    assert time.monotonic() - started < 120
    assert "chunk 7-8 failed after 3 attempt(s): exit 3" in r.err
    assert "Error: no licence" in r.err  # the tail of its log
    log = renders / ".landscape-logs/7-8.3.log"
    assert "no licence" in log.read_text()
    assert not list(renders.glob(".landscape-attempt-*"))


def test_an_interrupt_stops_and_removes_every_container(farm, docker_engine):
    shot = farm / SH010
    proc = subprocess.Popen(
        [*landscape_exe(), "render", str(shot), "--tool", "python", "--variant", "farm-sleep",
         "--frames", "1-4", "--chunk", "1", "--parallel", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    labels = ["io.landscape.role=render", f"io.landscape.context={shot}"]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = docker_engine.containers.list(filters={"label": labels})
            if len(running) == 2:
                break
            time.sleep(0.5)
        assert len(running) == 2, proc.stderr.read() if proc.poll() is not None else running
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        err = proc.stderr.read()
        assert code == 130, err
        assert "interrupted" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for c in docker_engine.containers.list(all=True, filters={"label": labels}):
            c.remove(force=True)
    assert docker_engine.containers.list(all=True, filters={"label": labels}) == []
    assert not list((shot / "work/python/renders").glob(".landscape-attempt-*"))


def test_an_attempt_that_runs_too_long_is_stopped_and_named(farm, cli, docker_engine):
    shot = farm / SH010
    started = time.monotonic()
    r = cli("render", shot, "--tool", "python", "--variant", "farm-sleep", "--frames", "1",
            "--retries", "0", "--timeout", "5")
    assert r.code == 1, r
    assert time.monotonic() - started < 90
    assert "chunk 1 failed after 1 attempt(s)" in r.err
    assert docker_engine.containers.list(all=True, filters={"label": [
        "io.landscape.role=render", f"io.landscape.context={shot}"]}) == []


def test_bad_input_is_one_line_without_traceback(built, cli, tmp_path):
    studio, _ = built
    for args, code, words in [
        (["--frames", "1100-1001"], 2, "runs backwards"),
        (["--frames", "1-4", "--chunk", "0"], 2, "at least 1 frame"),
    ]:
        r = _run(studio / SH020, "blender/render", *args)
        assert r.returncode == code, r.stderr
        assert words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = _run(studio / SH020, "blender", "--frames", "1-2")
    assert r.returncode == 1 and "cannot render" in r.stderr and "Traceback" not in r.stderr


def test_a_container_the_engine_refuses_stops_the_render_in_one_line(farm, cli, monkeypatch,
                                                                    docker_engine):
    """The engine refuses the chunks' container (here: its image is gone): the render stops
    at once with the engine's reason on one line, starts nothing else, and loses no frame
    already in place."""
    import landscape.cli.app as app

    shot = farm / SH010
    renders = shot / "work/python/renders"
    renders.mkdir(parents=True, exist_ok=True)
    kept = renders / "frame_0001.png"
    kept.write_bytes(b"an earlier render")
    gone = "sha256:" + "0" * 64
    monkeypatch.setattr(app, "_ensure_image", lambda inputs, fresh: gone)
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-8",
            "--chunk", "1", "--parallel", "2")
    assert r.code == 1, r
    errors = [line for line in r.err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "chunk " in errors[0] and "No such image" in errors[0], r.err
    assert "Traceback" not in r.err and r.err.count("attempt 1 started") <= 2
    assert kept.read_bytes() == b"an earlier render"
    assert not list(renders.glob(".landscape-attempt-*"))
    assert docker_engine.containers.list(all=True, filters={"label": [
        "io.landscape.role=render", f"io.landscape.context={shot}"]}) == []


def test_an_output_folder_that_cannot_be_made_is_one_line(farm, cli):
    shot = farm / SH010
    work = shot / "work/python"
    work.mkdir(parents=True, exist_ok=True)
    (work / "renders").write_text("a file where the output folder should be")
    try:
        r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-2")
        assert r.code == 1, r
        assert "cannot make the output folder" in r.err and "Traceback" not in r.err
        assert (work / "renders").read_text().startswith("a file")
    finally:
        (work / "renders").unlink()


def _run(shot: Path, tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*landscape_exe(), "render", str(shot), "--tool", tool, *args],
                          capture_output=True, text=True, timeout=300)
