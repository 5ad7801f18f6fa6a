"""Warm launches against a real Docker engine (marked ``docker``): one workspace reused per
image, user and storage set; per-launch environment, context file, stdin and exit code; a
rebuilt or removed image never reused; Ctrl-C through the exec'd ``kill`` and through the
TTY; the idle stop with no daemon; ``ps --workspaces`` and ``stop``.

Every workspace a test makes is removed at the end by its ``io.landscape.root`` label (the
session's private copy of the example studio), with its host folder."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
import uuid

import pytest

from conftest import landscape_exe

pytestmark = pytest.mark.docker

SH010 = "projects/lighthouse/seq010/sh010"
SH040 = "projects/lighthouse/seq020/sh040"  # (sh030 is the artist test's shot)
PROJECT = "projects/lighthouse"
SHOW = ("import getpass, json, os, socket, sys; "
        "ctx = json.load(open(os.environ['LANDSCAPE_CONTEXT_FILE'])); "
        "print(json.dumps({'host': socket.gethostname(), 'shot': os.environ['LANDSCAPE_SHOT'], "
        "'ctx': ctx['levels']['shot'], 'user': getpass.getuser(), 'cwd': os.getcwd(), "
        "'file': os.environ['LANDSCAPE_CONTEXT_FILE']})); sys.exit(5)")
ON_INT = ("import signal, sys, time\n"
          "def stop(n, f):\n    print('got', signal.Signals(n).name, flush=True); sys.exit(5)\n"
          "signal.signal(signal.SIGINT, stop); signal.signal(signal.SIGTERM, stop)\n"
          "print('ready', flush=True); time.sleep(120)")


def _launch(studio, shot, code, *extra, **kw):
    return subprocess.run([*landscape_exe(), "launch", "--warm", str(studio / shot), "--tool",
                           "python", *extra, "--", "-c", code], capture_output=True,
                          text=True, timeout=300, **kw)


def _rows(cli, studio):
    r = cli("ps", "--workspaces", studio / PROJECT, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def _processes(name):
    """The command lines running in workspace ``name``."""
    out = subprocess.run(["docker", "exec", name, "sh", "-c",
                          "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_one_workspace_serves_every_shot_of_an_image(warm, cli):
    a = _launch(warm, SH010, SHOW)
    b = _launch(warm, SH040, SHOW)
    assert a.returncode == 5 and b.returncode == 5, (a.stderr, b.stderr)
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["host"] == rb["host"]  # the same container
    assert (ra["shot"], ra["ctx"], rb["shot"], rb["ctx"]) == ("sh010", "sh010", "sh040", "sh040")
    assert ra["file"] != rb["file"] and ra["file"].startswith("/run/landscape/")
    assert ra["cwd"] == str(warm / SH010 / "work/python") and ra["user"] == rb["user"]
    rows = _rows(cli, warm)
    assert len(rows) == 1 and rows[0]["state"] == "running" and rows[0]["project"] == "lighthouse"
    assert rows[0]["name"].startswith("landscape-ws-")
    leftovers = os.listdir(f"{os.environ['LANDSCAPE_CACHE_DIR']}/workspaces/{rows[0]['name']}")
    assert sorted(leftovers) == ["f0", "f1"]  # passwd and group; no per-launch files left


def test_stdin_and_exit_code_pass_through(warm):
    r = _launch(warm, SH010, "import sys; d = sys.stdin.read(); print(d.upper()); "
                "sys.exit(len(d))", input="abc")
    assert r.returncode == 3 and r.stdout.strip() == "ABC", r.stderr


@pytest.mark.parametrize("stdin", [subprocess.DEVNULL, subprocess.PIPE],
                         ids=["engine-api-exec", "docker-cli-exec"])
def test_ctrl_c_and_sigterm_reach_the_tool_through_an_exec_kill(warm, cli, stdin):
    """Without stdin the launch talks to the engine itself; with piped stdin through the
    Docker CLI: both deliver signals by exec'ing a kill of the recorded PID."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([*landscape_exe(), "launch", "--warm", str(warm / SH010),
                                 "--tool", "python", "--", "-c", ON_INT], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 5, proc.stderr.read()
        assert proc.stdout.read().strip() == f"got {sig.name}"
    name = _rows(cli, warm)[0]["name"]
    assert not [p for p in _processes(name) if "time.sleep" in p]


def test_ctrl_c_twice_kills_a_stubborn_tool_and_keeps_the_workspace(warm, cli):
    proc = subprocess.Popen(
        [*landscape_exe(), "launch", "--warm", str(warm / SH010), "--tool", "python", "--",
         "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None  # the tool ignores the first
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 137, proc.stderr.read()
    (row,) = _rows(cli, warm)
    assert row["state"] == "running"
    deadline = time.monotonic() + 10
    while [p for p in _processes(row["name"]) if "time.sleep" in p]:
        assert time.monotonic() < deadline, _processes(row["name"])
        time.sleep(0.2)


@pytest.mark.parametrize("warm_flag", [["--warm"], []], ids=["warm", "cold"])
def test_ctrl_c_is_a_key_of_the_tools_terminal(warm, warm_flag):
    pid, fd = pty.fork()
    if pid == 0:  # the child: landscape on a terminal
        os.execvp(landscape_exe()[0], [*landscape_exe(), "launch", *warm_flag,
                                       str(warm / SH010), "--tool", "python", "--", "-c",
                                       ON_INT])
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while b"ready" not in seen:
            assert time.monotonic() < deadline, seen
            seen += os.read(fd, 1024)
        os.write(fd, b"\x03")  # Ctrl-C typed at the terminal
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the terminal closed
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5, seen
    assert b"got SIGINT" in seen


def test_a_rebuilt_image_gets_a_new_workspace_and_a_removed_one_is_never_reused(
        warm, cli, docker_engine):
    from landscape.context import resolve
    from landscape.engine.images import image_id

    first = json.loads(_launch(warm, SH010, SHOW).stdout)["host"]
    spec = resolve(warm / SH010).image
    old = image_id(spec)
    repo, _, tag = spec.tag.rpartition(":")
    rebuilt_tag = f"landscape/warm-test:{uuid.uuid4().hex[:8]}"
    import io

    rebuilt, _ = docker_engine.images.build(fileobj=io.BytesIO(
        f"FROM {old}\nLABEL io.landscape.test.rebuilt={rebuilt_tag}\n".encode()),
        tag=rebuilt_tag, rm=True)
    try:
        rebuilt.tag(repo, tag)  # a rebuild: another image id with the context's labels
        assert image_id(spec) == rebuilt.id != old
        second = json.loads(_launch(warm, SH010, SHOW).stdout)["host"]
        assert second != first  # a new workspace, on the new image
        rows = {r["image"]: r for r in _rows(cli, warm)}
        assert set(rows) == {old, rebuilt.id}
        docker_engine.images.get(old).tag(repo, tag)
        docker_engine.images.remove(rebuilt_tag, force=True)  # removed while its workspace runs
        rows = {r["image"]: r for r in _rows(cli, warm)}
        assert rows[rebuilt.id]["state"] == "stale" and rows[old]["state"] == "running"
        third = json.loads(_launch(warm, SH010, SHOW).stdout)["host"]
        assert third == first  # the current image's workspace, never the stale one
    finally:
        docker_engine.images.get(old).tag(repo, tag)
        for c in docker_engine.containers.list(all=True, filters={"ancestor": rebuilt.id}):
            c.remove(force=True)
        try:
            docker_engine.images.remove(rebuilt.id, force=True)
        except Exception:  # noqa: BLE001 - already removed above
            pass


def test_an_idle_workspace_stops_by_itself_and_a_busy_one_does_not(warm, cli,
                                                                    docker_engine):
    root = warm / "landscape.yaml"
    original = root.read_text()
    root.write_text(original + "launch: {warm_idle: 2s}\n")
    try:
        proc = subprocess.Popen([*landscape_exe(), "launch", "--warm", str(warm / SH010),
                                 "--tool", "python", "--", "-c",
                                 "import time; print('ready', flush=True); time.sleep(6)"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(4)  # twice the idle time, but busy
        (row,) = _rows(cli, warm)
        assert row["state"] == "running" and row["idle"] == 2
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while _rows(cli, warm):
            assert time.monotonic() < deadline, "the idle workspace did not stop"
            time.sleep(0.5)
        assert docker_engine.containers.list(all=True, filters={
            "label": f"io.landscape.workspace={row['name']}"}) == []
    finally:
        root.write_text(original)


def test_stop_ends_the_projects_workspaces(warm, cli):
    assert _launch(warm, SH010, SHOW).returncode == 5
    (row,) = _rows(cli, warm)
    r = cli("stop", warm / SH010, "--json")
    assert r.code == 0 and json.loads(r.out) == {"stopped": [row["name"]]}, r
    assert _rows(cli, warm) == []
    assert not os.path.exists(f"{os.environ['LANDSCAPE_CACHE_DIR']}/workspaces/{row['name']}")
    again = cli("stop", warm / PROJECT)
    assert again.code == 0 and "no workspaces to stop" in again.err


def test_a_planted_container_under_the_workspace_name_is_not_used(warm, cli, docker_engine):
    from landscape.context import resolve
    from landscape.engine.images import image_id
    from landscape.engine.launch import launch_spec
    from landscape.cascade import warm_idle
    from landscape.engine.workspace import PREFIX, identity

    rc = resolve(warm / SH010, tool="python")
    spec = launch_spec(rc, [])
    spec.image = image_id(rc.image)
    digest = identity(spec, str(rc.cascade.root), rc.project, warm_idle(None))
    name = PREFIX + digest[:20]
    base = docker_engine.images.get("landscape/base:bookworm")
    planted = docker_engine.containers.run(  # the right name and labels, another image
        base.id, ["sleep", "300"], name=name, detach=True, labels={
            "io.landscape.role": "workspace", "io.landscape.workspace": digest,
            "io.landscape.image": spec.image, "io.landscape.root": str(rc.cascade.root),
            "io.landscape.user": str(os.getuid()), "io.landscape.project": rc.project})
    try:
        r = _launch(warm, SH010, SHOW)
        assert r.returncode == 5, r.stderr
        host = json.loads(r.stdout)["host"]
        assert not planted.id.startswith(host)
        assert docker_engine.containers.get(name).attrs["Image"] == spec.image
    finally:
        try:
            planted.remove(force=True)
        except Exception:  # noqa: BLE001 - the launch already replaced it
            pass


def test_a_forged_pid_record_cannot_make_ctrl_c_kill_other_launches(warm):
    victim = subprocess.Popen([*landscape_exe(), "launch", "--warm", str(warm / SH010),
                               "--tool", "python", "--", "-c",
                               "import time; print('ready', flush=True); time.sleep(8); "
                               "print('victim done')"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert victim.stdout.readline().strip() == "ready"
    forger = subprocess.Popen(
        [*landscape_exe(), "launch", "--warm", str(warm / SH010), "--tool", "python", "--",
         "-c", "import glob, time\n"
         "for f in glob.glob('/run/landscape-warm/pid.*'):\n    open(f, 'w').write('1')\n"
         "print('ready', flush=True); time.sleep(3)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert forger.stdout.readline().strip() == "ready"
    forger.send_signal(signal.SIGINT)  # SIGINT to PID 1 would end the workspace
    assert forger.wait(timeout=60) == 0  # not signalled: its record is not a PID
    assert victim.wait(timeout=60) == 0 and "victim done" in victim.stdout.read()


def test_a_tool_quiet_for_longer_than_the_engine_timeout_is_waited_for(warm):
    """The engine has LANDSCAPE_ENGINE_TIMEOUT seconds to answer a request; a warm launch's
    tool may then print nothing for longer (a render of one frame) without the launch
    taking the silence for a dead engine."""
    first = _launch(warm, SH010, "pass")     # the workspace made and started beforehand
    assert first.returncode == 0, first.stderr
    # the engine's own requests get 5 s (ample even on a loaded machine); the tool is
    # quiet for three times that
    env = dict(os.environ, LANDSCAPE_ENGINE_TIMEOUT="5", LANDSCAPE_NO_AGENT="1")
    r = _launch(warm, SH010, "import time; time.sleep(15); print('done')",
                env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
