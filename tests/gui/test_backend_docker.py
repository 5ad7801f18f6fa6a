"""The launcher's real Backend against the Docker engine: an image built with progress to
ready, python launches streaming their output with their exit codes, and a long launch
stopped (its container gone). Images are removed by the session's cleanup (their studio
label), containers by the engine (AutoRemove) and checked here by label."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from landscape.gui.backend import Backend
from landscape.gui.model import LaunchRequest

pytestmark = pytest.mark.docker


def _launch(backend: Backend, request: LaunchRequest, stop: threading.Event | None = None):
    out: list[tuple[str, str]] = []
    result = backend.launch(request, lambda stream, text: out.append((stream, text)),
                            stop or threading.Event())
    return result, "".join(t for s, t in out if s == "stdout"), \
        "".join(t for s, t in out if s == "stderr")


def test_get_image_builds_with_progress_to_ready(python_studio):
    studio, shot = python_studio
    b = Backend(studio)
    d = b.details(shot, "python", ())
    assert d.errors == [] and d.launchable
    assert b.image_state(d).state == "missing"
    with pytest.raises(Exception) as e:  # no registry: pulling alone cannot get it
        b.get_image(d, pull_only=True, progress=lambda *a: None)
    assert "\n" not in str(e.value) and b.image_state(d).state == "missing"
    seen: list[tuple[int, int, str]] = []
    b.get_image(d, pull_only=False, progress=lambda step, steps, line: seen.append(
        (step, steps, line)))
    steps = [(n, m) for n, m, line in seen if line.startswith("Step ")]
    assert steps and steps[0][0] == 1 and steps[-1][0] == steps[-1][1]
    assert [n for n, _m in steps] == sorted(n for n, _m in steps)
    assert b.image_state(d).state == "ready"


def test_python_launches_stream_output_and_exit_codes(python_studio, docker_engine):
    studio, shot = python_studio
    b = Backend(studio)
    ok, out, _err = _launch(b, LaunchRequest(shot, "python", args=(
        "-c", "import os; print('hello from', os.environ['LANDSCAPE_SHOT']); print('é')")))
    assert (ok.exit_code, ok.error) == (0, None), _err
    assert "hello from sh1\n" in out and "é" in out and ok.seconds > 0
    three, out, err = _launch(b, LaunchRequest(shot, "python", args=(
        "-c", "import sys; print('oops', file=sys.stderr); sys.exit(3)")))
    assert (three.exit_code, three.error) == (3, None)
    assert "oops" in err


def test_stop_ends_a_long_launch_and_its_container_goes(python_studio, docker_engine):
    studio, shot = python_studio
    b = Backend(studio)
    stop = threading.Event()
    out: list[str] = []
    results: list = []

    def output(stream: str, text: str) -> None:
        out.append(text)

    t = threading.Thread(target=lambda: results.append(b.launch(LaunchRequest(
        shot, "python", args=("-u", "-c", "import time; print('started', flush=True); "
                              "time.sleep(600)")), output, stop)))
    t.start()
    deadline = time.monotonic() + 300
    while "started" not in "".join(out) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "started" in "".join(out)
    running = docker_engine.containers.list(filters={"label": [
        f"io.landscape.context={shot}", "io.landscape.role=launch"]})
    assert len(running) == 1
    stop.set()
    t.join(120)
    assert not t.is_alive()
    [result] = results
    assert result.error is None and result.exit_code not in (0, None)
    assert docker_engine.containers.list(all=True, filters={"label": [
        f"io.landscape.context={shot}", "io.landscape.role=launch"]}) == []


def test_the_launch_is_audited(python_studio, tmp_path):
    studio, shot = python_studio
    root = studio / "landscape.yaml"
    original = root.read_text()
    root.write_text(original + f"launch: {{audit: {tmp_path / 'audit'}}}\n")
    (tmp_path / "audit").mkdir()
    try:
        result, _out, _err = _launch(Backend(studio),
                                     LaunchRequest(shot, "python", args=("-c", "pass")))
        assert result.exit_code == 0, result
        records = [p.read_text() for p in Path(tmp_path / "audit").iterdir()]
        assert records and '"exit":0' in "".join(records)
    finally:
        root.write_text(original)
