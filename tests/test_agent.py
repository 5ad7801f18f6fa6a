"""The launch agent (landscape.cli.agent): a command handed to it gives the same output,
exit code, stdin and signals as one run in the client; only this user reaches it; it
stops when asked. Each test runs its agents in a socket folder of its own and stops them.

The tests without a ``docker`` mark use ``launch --help`` and usage errors (served by the
agent like any launch); the marked ones launch real containers through it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, landscape_exe
from landscape.cli import agent

#: runs the real entry point and says on stderr whether this process imported Typer
PROBE = ("import sys\nfrom landscape.cli import main\n"
         "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
         "else:\n    code = 0\n"
         "sys.stderr.write('TYPER=%s' % ('typer' in sys.modules))\nsys.exit(code)\n")


@pytest.fixture
def runtime():
    """An environment whose agents live in a short private folder; they are stopped (and
    the folder removed) at the end."""
    folder = tempfile.mkdtemp(prefix="ls-agent-", dir="/tmp")
    env = {**os.environ, "XDG_RUNTIME_DIR": folder, "PYTHONPATH": str(REPO / "src")}
    env.pop("LANDSCAPE_NO_AGENT", None)
    yield env
    pids = _agent_pids(env)
    subprocess.run([sys.executable, "-c", "from landscape.cli.agent import stop_all; stop_all()"],
                   env=env, check=True)
    for pid in pids:
        _wait_gone(pid)
    shutil.rmtree(folder, ignore_errors=True)


def _sockets(env) -> list[Path]:
    top = Path(env["XDG_RUNTIME_DIR"]) / "landscape"
    return sorted(top.glob("agent-*.sock")) if top.is_dir() else []


def _agent_pids(env) -> list[int]:
    pids = []
    for path in _sockets(env):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(path))
                creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                     struct.calcsize("3i"))
                pids.append(struct.unpack("3i", creds)[0])
        except OSError:
            pass
    return pids


def _wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"agent {pid} did not stop")


def _probe(env, *args, **kw):
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300,
                          **({"stdin": subprocess.DEVNULL} | kw))


def _started(env, timeout: float = 30) -> None:
    """Wait until the agent the first command started answers."""
    deadline = time.monotonic() + timeout
    while not _agent_pids(env):
        assert time.monotonic() < deadline, "no agent started"
        time.sleep(0.1)


# -- without Docker -------------------------------------------------------------------------

def test_the_socket_folder_is_the_cache_folder_of_resources(monkeypatch, tmp_path):
    from landscape.resources import cache_dir

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    for cache, xdg in ((str(tmp_path / "c"), None), (None, str(tmp_path / "x")), (None, None)):
        for name, value in (("LANDSCAPE_CACHE_DIR", cache), ("XDG_CACHE_HOME", xdg)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert agent.folder() == str(cache_dir() / "agent")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/run")  # not absolute: not used
    assert agent.folder() == str(cache_dir() / "agent")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert agent.folder() == str(tmp_path / "run" / "landscape")


def test_another_import_path_is_another_agent(monkeypatch):
    first = agent.stamp()
    monkeypatch.setattr(sys, "path", [*sys.path, "/elsewhere"])
    assert agent.stamp() != first


def test_a_socket_path_too_long_for_unix_sockets_means_no_agent(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/" + "d" * 120)
    assert agent.socket_path() is None


def test_a_command_runs_in_the_agent_with_the_same_output_and_exit_code(runtime):
    alone = _probe({**runtime, "LANDSCAPE_NO_AGENT": "1"}, "launch", "--help")
    first = _probe(runtime, "launch", "--help")  # starts the agent, runs here
    _started(runtime)
    second = _probe(runtime, "launch", "--help")
    assert "TYPER=True" in first.stderr and "TYPER=False" in second.stderr, second.stderr
    assert alone.returncode == first.returncode == second.returncode == 0
    assert alone.stdout == first.stdout == second.stdout and "--warm" in second.stdout
    usage = _probe(runtime, "launch", "--bogus")  # a usage error, from the agent's Typer
    assert usage.returncode == 2 and "No such option" in usage.stderr, usage
    assert "TYPER=False" in usage.stderr
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "landscape"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert [p.stat().st_mode & 0o777 for p in _sockets(runtime)] == [0o600]


def test_other_commands_and_terminal_launches_never_use_it(runtime):
    r = _probe(runtime, "--help")
    assert r.returncode == 0 and "TYPER=True" in r.stderr and not _sockets(runtime)
    args = ["launch", "--help"]
    assert agent.forward(["--help"]) is None and agent.forward(["resolve", "x"]) is None
    os.environ.pop("LANDSCAPE_NO_AGENT")
    try:  # under pytest's capture the standard streams are not descriptors 0-2
        assert agent.forward(args) is None
    finally:
        os.environ["LANDSCAPE_NO_AGENT"] = "1"


def test_stop_agents_stops_them(runtime):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    pids = _agent_pids(runtime)
    r = subprocess.run([*landscape_exe(), "stop", "--agents", "--json"], env=runtime,
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout) == {"stopped": [], "agents": [str(p) for p in
                                                              _sockets(runtime)] or
                                    json.loads(r.stdout)["agents"]}
    assert len(json.loads(r.stdout)["agents"]) == 1
    for pid in pids:
        _wait_gone(pid)
    assert not _sockets(runtime)


def test_a_folder_others_may_enter_is_not_used(runtime):
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "landscape"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    r = _probe(runtime, "launch", "--help")
    assert r.returncode == 0 and "TYPER=True" in r.stderr
    time.sleep(1)
    assert not _sockets(runtime)  # no agent started there
    assert agent._private_folder(str(folder), make=False) is False


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_the_agent(runtime):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    path = str(_sockets(runtime)[0])
    Path(runtime["XDG_RUNTIME_DIR"]).chmod(0o755)  # even past the runtime folder
    pid = os.fork()
    if pid == 0:  # as nobody: connecting must be refused
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
            code = 0
        except PermissionError:
            code = 13
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 13


def test_the_agent_checks_the_peer_user(monkeypatch):
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert agent._same_user(a)
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)
        assert not agent._same_user(a)


# -- with Docker ------------------------------------------------------------------------------

SH010 = "projects/lighthouse/seq010/sh010"
SHOW = ("import json, os, sys; d = sys.stdin.read(); "
        "print(json.dumps({'cwd': os.getcwd(), 'in': d, 'uid': os.getuid(), 'env': sorted("
        "k for k in os.environ if k != 'HOSTNAME'), 'shot': os.environ['LANDSCAPE_SHOT']})); "
        "sys.exit(7)")
ON_TERM = ("import signal, sys, time\n"
           "signal.signal(signal.SIGTERM, lambda n, f: sys.exit(5))\n"
           "print('ready', flush=True); time.sleep(120)")


@pytest.mark.docker
@pytest.mark.parametrize("flags", [[], ["--warm"]], ids=["cold", "warm"])
def test_a_launch_through_the_agent_is_the_launch_in_the_client(warm, runtime, flags):
    args = ["launch", *flags, warm / SH010, "--tool", "python", "--", "-c", SHOW]
    alone = _probe({**runtime, "LANDSCAPE_NO_AGENT": "1"}, *args, input="abc", stdin=None)
    _probe(runtime, "launch", "--help")
    _started(runtime)
    served = _probe(runtime, *args, input="abc", stdin=None)
    assert "TYPER=False" in served.stderr, served.stderr
    assert alone.returncode == served.returncode == 7, (alone.stderr, served.stderr)
    assert json.loads(alone.stdout) == json.loads(served.stdout)
    assert json.loads(served.stdout)["in"] == "abc"


@pytest.mark.docker
@pytest.mark.parametrize("flags", [[], ["--warm"]], ids=["cold", "warm"])
def test_sigterm_to_the_client_reaches_the_tool_through_the_agent(warm, runtime, flags):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    proc = subprocess.Popen([*landscape_exe(), "launch", *flags, str(warm / SH010), "--tool",
                             "python", "--", "-c", ON_TERM], env=runtime,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 5, proc.stderr.read()


# -- launch --host (no Docker), audited ------------------------------------------------------

def test_a_host_launch_through_the_agent_is_audited_like_one_in_the_client(runtime, example,
                                                                          tmp_path):
    log = tmp_path / "audit"
    log.mkdir()
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + f"launch: {{audit: {log}}}\n")
    args = ["launch", "--host", example / SH010, "--tool", "python", "--", "-c", SHOW]
    alone = _probe({**runtime, "LANDSCAPE_NO_AGENT": "1"}, *args, input="abc", stdin=None)
    _probe(runtime, "launch", "--help")
    _started(runtime)
    served = _probe(runtime, *args, input="abc", stdin=None)
    assert "TYPER=False" in served.stderr, served.stderr  # the agent's child, fast path
    assert alone.returncode == served.returncode == 7, (alone.stderr, served.stderr)
    assert json.loads(alone.stdout) == json.loads(served.stdout)
    assert json.loads(served.stdout)["in"] == "abc"
    records = [json.loads(line) for f in log.iterdir() for line in f.read_text().splitlines()]
    assert [(r["mode"], r["exit"], r["context"]) for r in records] == \
        [("host", 7, str(example / SH010))] * 2
    proc = subprocess.Popen([*landscape_exe(), "launch", "--host", str(example / SH010),
                             "--tool", "python", "--", "-c", ON_TERM], env=runtime,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 5, proc.stderr.read()
    assert len([line for f in log.iterdir() for line in f.read_text().splitlines()]) == 3


# -- what the review found ------------------------------------------------------------------

@pytest.mark.skipif(os.getuid() != 0, reason="needs root to listen as another user")
def test_the_client_never_talks_to_another_users_socket(runtime):
    """A socket at the agent's path whose listening process is another user's gets no
    command, environment or descriptor: the kernel's word (SO_PEERCRED) decides."""
    path = subprocess.run([sys.executable, "-c", "from landscape.cli.agent import "
                           "socket_path, _private_folder; import os; p = socket_path(); "
                           "_private_folder(os.path.dirname(p), make=True); print(p)"],
                          env=runtime, capture_output=True, text=True, check=True).stdout.strip()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # bound as root, listening as nobody: the credentials of listen() count
        try:
            os.close(reader)
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            os.setgid(65534)
            os.setuid(65534)
            s.listen(1)
            os.write(writer, b"ready\n")
            s.settimeout(20)
            conn, _ = s.accept()
            conn.settimeout(5)
            os.write(writer, conn.recv(65536) or b"(nothing)")
        except OSError:
            pass
        finally:
            os._exit(0)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as pipe:
            assert pipe.readline() == b"ready\n"
            r = _probe({**runtime, "PLANTED": "hunter2"}, "launch", "--help")
            assert r.returncode == 0 and "TYPER=True" in r.stderr  # ran in the client itself
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            assert b"hunter2" not in pipe.read()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_a_stopped_agent_holds_no_launch_up(runtime):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    pid = _agent_pids(runtime)[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = _probe(runtime, "launch", "--help")
        assert r.returncode == 0 and "TYPER=True" in r.stderr  # given back, run here
        assert time.monotonic() - started < 30
    finally:
        os.kill(pid, signal.SIGCONT)


def test_groups_are_the_kernels_word_and_only_launch_is_served(runtime):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    if os.getuid() == 0:  # other supplementary groups: given back, whatever the client says
        r = subprocess.run([sys.executable, "-c", PROBE, "launch", "--help"], env=runtime,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           extra_groups=[4242], timeout=120)
        assert r.returncode == 0 and "TYPER=True" in r.stderr, r.stderr
    with socket.socket(socket.AF_UNIX) as s:  # another command: given back
        s.connect(str(_sockets(runtime)[0]))
        request = {"args": ["--version"], "cwd": "/", "env": {}, "umask": 0o22}
        socket.send_fds(s, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        assert json.loads(s.recv(4096).split(b"\n")[0]) == {"fallback": True}


def test_a_launch_from_a_deleted_folder_runs_without_the_agent(runtime, tmp_path):
    _probe(runtime, "launch", "--help")
    _started(runtime)
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            "sys.argv[1:] = ['launch', '--help']\n" + PROBE)
    r = subprocess.run([sys.executable, "-c", code], env=runtime, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "TYPER=True" in r.stderr
