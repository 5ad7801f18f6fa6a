"""``landscape render --swarm`` for real: a one-node Swarm on this engine (made by the module
when the engine is in none, and left afterwards only then), a registry on the loopback, the
example studio's root pointed at it. Marked ``docker``: fails (never skips) without an engine.

Each test removes the services, configs, secrets and containers labelled with its shot;
the image's registry tag and digest reference (what the push and the task added to the
example image) are untagged at the end — the image itself stays the ``built`` fixture's.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest

from conftest import landscape_exe, swarm_state
from renderfarm import SH010, SH020, flaky_and_silent_chunks_are_retried, frames_in
from landscape.renderspec import png_size

pytestmark = pytest.mark.docker

RENDER = ["io.landscape.role=render"]


def test_not_a_swarm_is_one_line(built, cli, monkeypatch):
    """Runs first, before the module's Swarm exists; an engine already in a Swarm (another
    process's) is answered by a stand-in ``GET /info``."""
    from landscape.engine import docker as dk

    studio, _ = built
    if swarm_state() == "active":
        real = dk.api
        monkeypatch.setattr(dk, "api", lambda method, path, *a, **k: {
            "Swarm": {"LocalNodeState": "inactive"}} if path == "/info" else real(
                method, path, *a, **k))
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1-2",
            "--swarm")
    assert r.code == 1, r
    assert "not part of a Swarm: docker swarm init, or join one" in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_a_registry_that_refuses_is_one_line_naming_it(built, swarm, cli, docker_engine):
    studio, _ = built
    root = studio / "landscape.yaml"
    text = root.read_text()
    root.write_text(text.replace("\nimage:\n  labels:",
                                 '\nimage:\n  registry: "127.0.0.1:1"\n  labels:'))
    try:
        r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1-2",
                "--swarm")
    finally:
        root.write_text(text)
    assert r.code == 1, r
    assert "registry 127.0.0.1:1 refused the image" in r.err
    assert "Traceback" not in r.err
    assert [line for line in r.err.splitlines() if "error" in line.lower()][0].count(
        "127.0.0.1:1") >= 1
    assert not [t for im in docker_engine.images.list() for t in im.tags
                if t.startswith("127.0.0.1:1/")]  # the push took its tag back


@pytest.fixture(scope="module")
def studio(built, swarm, registry, docker_engine):
    """The built example studio with ``image.registry`` set to the module's registry in
    its root file (put back afterwards), plus cleanup of what the pushes and tasks added to
    the example image: its registry tag and digest reference, untagged by name."""
    studio, _ = built
    root = studio / "landscape.yaml"
    text = root.read_text()
    assert "\nimage:\n  labels:" in text
    root.write_text(text.replace("\nimage:\n  labels:",
                                 f'\nimage:\n  registry: "{registry}"\n  labels:'))
    yield studio
    root.write_text(text)
    import docker

    for image in docker_engine.images.list():
        refs = [*image.tags, *(image.attrs.get("RepoDigests") or [])]
        for ref in refs:
            if ref.startswith(registry + "/"):
                try:
                    docker_engine.images.remove(ref, noprune=True)  # untags only
                except docker.errors.NotFound:  # the digest went with the tag
                    pass


def _leftovers(docker_engine, shot) -> dict[str, list]:
    """Services, configs, secrets and containers of renders of ``shot`` still there."""
    labels = [*RENDER, f"io.landscape.context={shot}"]
    api = docker_engine.api
    return {"services": api.services(filters={"label": labels}),
            "configs": api.configs(filters={"label": labels}),
            "secrets": api.secrets(filters={"label": labels}),
            "containers": docker_engine.containers.list(all=True, filters={"label": labels})}


@pytest.fixture
def clean(docker_engine):
    """Yields a function checking that renders of a shot left nothing (call it once at the
    start of the test too); removes whatever they left, by the shot's label, at the end of
    the test — a failed test's included."""
    shots = []

    def check(shot) -> dict[str, list]:
        if shot not in shots:
            shots.append(shot)
        return {k: v for k, v in _leftovers(docker_engine, shot).items() if v}

    yield check
    api = docker_engine.api
    for shot in shots:
        left = _leftovers(docker_engine, shot)
        for s in left["services"]:
            api.remove_service(s["ID"])
        for c in left["containers"]:
            c.remove(force=True)
        for c in left["configs"]:
            api.remove_config(c["ID"])
        for s in left["secrets"]:
            api.remove_secret(s["ID"])


def test_no_registry_is_one_line(built, swarm, cli):
    studio, _ = built
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1-2",
            "--swarm")
    assert r.code == 1, r
    assert ("--swarm runs the image from the studio registry (every node pulls it by "
            "digest): set image.registry") in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_8_frames_in_4_chunks_with_the_environment_of_a_local_chunk(studio, farm, cli, clean):
    shot = studio / SH010
    renders = shot / "work/python/renders"
    clean(shot)
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-2",
            "--chunk", "2")
    assert r.code == 0, r
    local = json.loads((renders / "env-1,2.json").read_text())
    shutil.rmtree(renders)
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-8",
            "--chunk", "2", "--swarm")
    assert r.code == 0, r
    assert "as Swarm services" in r.err and "@sha256:" in r.err
    assert r.err.count(": done, 2 frame(s) verified") == 4
    assert "warning: --swarm: no-new-privileges" in r.err
    assert r.err.count(" on node ") == 4
    assert frames_in(renders) == [f"frame_{f:04d}.png" for f in range(1, 9)]
    swarm = json.loads((renders / "env-1,2.json").read_text())
    for data in (local, swarm):
        data["env"].pop("HOSTNAME")  # the container's own id
    assert swarm == local
    # a resume after two frames were lost renders exactly those two, on the Swarm too
    kept = {p.name: p.stat().st_mtime_ns for p in renders.glob("frame_*.png")}
    (renders / "frame_0003.png").unlink()
    (renders / "frame_0006.png").write_bytes(b"")
    r = cli("render", shot, "--tool", "python", "--variant", "farm-ok", "--frames", "1-8",
            "--chunk", "2", "--swarm", "--resume")
    assert r.code == 0, r
    assert "rendering 2 frame(s) in 1 chunk(s)" in r.err  # {frames} takes a step: 3-6x3
    assert "chunk 3-6x3: done, 2 frame(s) verified" in r.err
    now = {p.name: p.stat().st_mtime_ns for p in renders.glob("frame_*.png")}
    assert sorted(n for n in now if now[n] != kept.get(n)) == ["frame_0003.png",
                                                               "frame_0006.png"]
    assert clean(shot) == {}


def test_failures_are_retried_caught_and_reported_by_chunk(studio, farm, cli, clean):
    shot = studio / SH010
    renders = shot / "work/python/renders"
    clean(shot)
    flaky_and_silent_chunks_are_retried(cli, shot, "--swarm")

    r = cli("render", shot, "--tool", "python", "--variant", "farm-always", "--frames", "7-8",
            "--chunk", "2", "--retries", "2", "--swarm")
    assert r.code == 1, r
    assert "chunk 7-8 failed after 3 attempt(s): exit 3" in r.err
    assert "Error: no licence" in r.err  # the tail of its log: the service's logs
    assert "no licence" in (renders / ".landscape-logs/7-8.3.log").read_text()
    assert not list(renders.glob(".landscape-attempt-*"))
    assert clean(shot) == {}


def test_a_running_task_is_hardened_and_an_interrupt_removes_everything(studio, farm,
                                                                      docker_engine, clean):
    shot = studio / SH010
    clean(shot)
    proc = subprocess.Popen(
        [*landscape_exe(), "render", str(shot), "--tool", "python", "--variant", "farm-sleep",
         "--frames", "1-2", "--chunk", "1", "--parallel", "2", "--swarm"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    labels = [*RENDER, f"io.landscape.context={shot}"]
    try:
        deadline = time.monotonic() + 120
        running = []
        while time.monotonic() < deadline and proc.poll() is None:
            running = docker_engine.containers.list(filters={"label": labels})
            if len(running) == 2:
                break
            time.sleep(0.5)
        assert len(running) == 2, proc.stderr.read() if proc.poll() is not None else running
        assert len(docker_engine.api.services(filters={"label": labels})) == 2
        host = running[0].attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["PidsLimit"] == 4096
        assert host["Init"] is True
        import os

        assert running[0].attrs["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
        assert running[0].attrs["Config"]["Image"].split("@")[1].startswith("sha256:")
        targets = {m["Destination"]: m for m in running[0].attrs["Mounts"]}
        assert {"/tmp", "/var/tmp", "/run", "/dev/shm"} <= set(targets)
        assert targets["/dev/shm"]["Type"] == "tmpfs"
        service = docker_engine.api.services(filters={"label": labels})[0]
        files = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"]
        assert {f["File"]["Name"] for f in files} == {"/etc/passwd", "/etc/group",
                                                      "/landscape/context.json"}
        whoami = running[0].exec_run(["id", "-un"], user=f"{os.getuid()}")
        assert whoami.exit_code == 0, whoami.output
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        err = proc.stderr.read()
        assert code == 130, err
        assert "interrupted" in err and "services, configs and secrets" in err
    finally:
        if proc.poll() is None:  # a failed assertion: let it clean up, then end it
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert clean(shot) == {}
    assert not list((shot / "work/python/renders").glob(".landscape-attempt-*"))


def test_an_attempt_that_runs_too_long_loses_its_service_and_container(studio, farm, cli,
                                                                       clean):
    """Removing a job's service on Engine 20.10 leaves its task's container running: the
    runner removes it too."""
    shot = studio / SH010
    clean(shot)
    r = cli("render", shot, "--tool", "python", "--variant", "farm-sleep", "--frames", "1",
            "--retries", "0", "--timeout", "5", "--swarm")
    assert r.code == 1, r
    assert "chunk 1 failed after 1 attempt(s): exit 137" in r.err
    assert "(--timeout)" in (shot / "work/python/renders/.landscape-logs/1.1.log").read_text()
    assert clean(shot) == {}


def test_blender_renders_2_frames_of_sh020_on_the_swarm(studio, cli, clean):
    renders = studio / SH020 / "work/blender/renders"
    shutil.rmtree(renders, ignore_errors=True)
    clean(studio / SH020)
    r = cli("render", studio / SH020, "--tool", "blender/render", "--frames", "1001-1002",
            "--chunk", "1", "--swarm")
    assert r.code == 0, r
    assert r.err.count(": done, 1 frame(s) verified") == 2
    assert frames_in(renders) == ["frame_1001.png", "frame_1002.png"]
    for p in renders.glob("frame_*.png"):
        assert png_size(p) == (640, 272)
    assert clean(studio / SH020) == {}
    shutil.rmtree(renders, ignore_errors=True)


def test_files_and_secrets_reach_the_task_as_configs_and_secrets(base_image, swarm, tmp_path,
                                                                 docker_engine):
    """The runner alone, on the base image (a local tag: one node needs no registry)."""
    import threading

    from landscape.engine.launch import LaunchSpec
    from landscape.engine.swarm import SwarmRunner
    from landscape.frames import Chunk

    script = ("id -u; stat -c '%a %u' /run/secrets/token /etc/passwd; cat /run/secrets/token; "
              "echo; whoami; grep -c ' /tmp ' /proc/mounts; test -w \"$HOME\" && echo home")
    spec = LaunchSpec(
        image="landscape/base:bookworm", argv=["sh", "-c", script], uid=1000, gid=1000,
        group_add=[], environment={"HOME": "/home/ann"}, binds=[], home="/home/ann",
        labels={"io.landscape.context": str(tmp_path)},
        files={"/etc/passwd": "root:x:0:0::/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/sh\n"},
        secret_files={"token": b"s3cret $(id)"})
    lines: list[str] = []
    runner = SwarmRunner(spec, "0123456789abcdef", threading.Event(), log=lines.append)
    log = tmp_path / "1.1.log"
    try:
        assert runner(Chunk(1, 1), 1, [], log) == 0, log.read_text()
    finally:
        runner.stop_all()
    assert log.read_text().split("\n")[:7] == [
        "1000", "400 1000", "644 1000", "s3cret $(id)", "ann", "1", "home"]
    assert lines and lines[0].startswith("service landscape-render-0123456789abcdef-1 on node ")
    label = ["io.landscape.render.id=0123456789abcdef"]
    assert docker_engine.api.services(filters={"label": label}) == []
    assert docker_engine.api.secrets(filters={"label": label}) == []
    assert docker_engine.api.configs(filters={"label": label}) == []
    assert docker_engine.containers.list(all=True, filters={"label": label}) == []


def test_a_node_without_the_image_stops_the_render_in_one_line(swarm, docker_engine, tmp_path):
    """A task the node cannot start because the image is not there (and no registry has
    it) is rejected by the Swarm: the runner raises the engine's reason in one line (the
    scheduler's fatal error) and leaves nothing behind."""
    import threading

    from landscape.engine.launch import LaunchSpec
    from landscape.engine.swarm import SwarmRunner
    from landscape.errors import EngineError
    from landscape.frames import Chunk

    spec = LaunchSpec(
        image="127.0.0.1:1/landscape/nowhere@sha256:" + "0" * 64, argv=["true"], uid=1000,
        gid=1000, group_add=[], environment={}, binds=[], home="/home/ann",
        labels={"io.landscape.context": str(tmp_path)})
    runner = SwarmRunner(spec, "fedcba9876543210", threading.Event(), log=lambda line: None)
    try:
        with pytest.raises(EngineError) as e:
            runner(Chunk(1, 1), 1, [], tmp_path / "1.1.log")
    finally:
        runner.stop_all()
    assert "\n" not in e.value.message
    assert "task rejected: No such image: 127.0.0.1:1/landscape/nowhere@" in e.value.message
    label = ["io.landscape.render.id=fedcba9876543210"]
    assert docker_engine.api.services(filters={"label": label}) == []
    assert docker_engine.api.configs(filters={"label": label}) == []
