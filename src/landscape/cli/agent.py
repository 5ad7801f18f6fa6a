"""The launch agent: a per-user process that keeps Landscape imported, so that a launch
without a terminal costs little more than the engine's own work.

Starting Python and importing what a launch needs takes longer than the engine takes to
``exec`` a tool in a running workspace. So ``landscape launch`` without a terminal (a
launcher, a script, a pipe) hands its command to the agent when one runs:

- The **client** (:func:`forward`, run first by :func:`landscape.cli.main`) imports only
  the standard library's socket support. It uses a socket only in a folder that is the
  user's alone and only when the kernel says the listening process is the user's
  (``SO_PEERCRED``). It sends the command line, working directory, environment and umask.
  The agent must take the command within :data:`ACCEPT_TIMEOUT` seconds, else the client
  runs it itself (a stopped agent holds nothing up); only then does the client pass its
  own stdin, stdout and stderr as file descriptors (``SCM_RIGHTS``), so no descriptor of
  it waits in a socket nobody reads. Once taken, SIGINT, SIGTERM and SIGHUP are sent on to
  the agent; the agent's answer is the exit code. When no agent answers, the
  client starts one in the background and runs the command itself.
- The **agent** (:func:`serve`) imports the launch path once, then forks one child per
  command. The child takes on the client's working directory, environment, umask and
  descriptors, runs the same command-line entry (:func:`landscape.cli.run`) and sends
  back its exit code; signals from the client are raised in the child, where the launch's
  own handlers pass them to the tool. The agent refuses a client of another user and gives
  a command back (the client runs it itself) when it is not ``launch`` or when the
  client's group or supplementary groups — as the kernel reports them
  (``SO_PEERCRED``, ``SO_PEERGROUPS``), not as the client says — are not the agent's. It
  exits after :data:`IDLE` seconds without a command (``$LANDSCAPE_AGENT_IDLE``).

The socket is ``$XDG_RUNTIME_DIR/landscape/agent-<stamp>.sock`` (else under the user
cache, ``<cache>/agent/``), in a folder only the user may enter. The stamp digests the
Python executable and version, the import path and every module file of Landscape (path,
size, modification time): another install or a changed file is another agent, so an
agent never runs code older than the client's. Launches from a terminal never use the
agent (the terminal's job control belongs to the client's session).
``LANDSCAPE_NO_AGENT=1`` turns it off; ``landscape stop --agents`` stops the user's agents.
"""

from __future__ import annotations

import json
import os
import socket
import sys

#: seconds without a command after which the agent exits (``$LANDSCAPE_AGENT_IDLE``)
IDLE = 900
#: turns the agent off (client and server) when set to anything but empty or ``0``
VAR_OFF = "LANDSCAPE_NO_AGENT"
VAR_IDLE = "LANDSCAPE_AGENT_IDLE"
#: the longest socket path ``AF_UNIX`` takes (with its NUL)
MAX_PATH = 107
#: commands the agent serves (first argument); everything else runs in the client
SERVED = ("launch",)
#: seconds the client waits for the agent to take a command before running it itself (an
#: agent that is stopped, or busy starting, must not hold a launch up)
ACCEPT_TIMEOUT = 2.0
#: the largest request the agent reads (argv and environment), in bytes
MAX_REQUEST = 16 << 20
#: modules the agent imports before it serves (what a launch needs, and the full CLI)
PRELOAD = ("landscape.cli.fast", "landscape.resolvecache", "landscape.launchinputs",
           "landscape.engine.launch", "landscape.engine.workspace", "landscape.engine.images",
           "landscape.engine.docker", "landscape.engine.payloads", "http.client",
           "landscape.cli.app", "landscape.cli.output")


def enabled() -> bool:
    """Whether the agent may be used (``$LANDSCAPE_NO_AGENT`` unset, empty or ``0``)."""
    return os.environ.get(VAR_OFF, "") in ("", "0")


def folder() -> str:
    """The folder of the user's agent sockets: ``$XDG_RUNTIME_DIR/landscape`` when that is
    an absolute path, else ``<user cache>/agent``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "landscape")
    # landscape.resources.cache_dir, without importing it (pathlib, tempfile): a test
    # keeps the two the same
    cache = os.environ.get("LANDSCAPE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "landscape")
    return os.path.join(cache, "agent")


def stamp() -> str:
    """A checksum (16 hex digits: CRC-32 and Adler-32) of the code a process runs: Python
    executable and version, import path, user id and each Landscape module file (path,
    size, mtime). Not a secure digest, and it needs none: it only keeps apart agents in a
    folder no one else may enter."""
    import zlib

    parts = [sys.executable, sys.version, str(os.getuid()), *sys.path]
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                full = os.path.join(dirpath, name)
                st = os.stat(full)
                parts.append(f"{full}\0{st.st_size}\0{st.st_mtime_ns}")
    data = "\0".join(parts).encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def socket_path() -> str | None:
    """This code's agent socket (see the module doc), or ``None`` when its path is too long
    for a Unix socket."""
    path = os.path.join(folder(), f"agent-{stamp()}.sock")
    return path if len(path.encode()) <= MAX_PATH else None


def _private_folder(path: str, make: bool) -> bool:
    """Whether ``path`` is a folder of this user that no one else may enter (made so, mode
    0700, when ``make`` and missing)."""
    if make:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


# -- the client ---------------------------------------------------------------------------

def _standard_streams() -> bool:
    """Whether this process's ``sys.stdin``/``stdout``/``stderr`` are descriptors 0, 1 and 2
    and all three are open (not so under a capturing test runner)."""
    try:
        if (sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()) != (0, 1, 2):
            return False
        for fd in (0, 1, 2):
            os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return False
    return True


def forward(args: list[str]) -> int | None:
    """Run ``landscape ARGS`` in the agent and return its exit code; ``None`` when the agent
    is not used — off, another command, a terminal launch, no standard descriptors, no agent
    running (one is then started for the next command) or the agent gave the command back.
    Never raises for the agent's sake: anything wrong with it means ``None``, before the
    command has started."""
    if args[:1] != list(SERVED[:1]) or not enabled() or not _standard_streams():
        return None
    if sys.stdin.isatty() and sys.stdout.isatty():
        return None
    try:
        path = socket_path()
    except OSError:
        return None
    if path is None:
        return None
    if not _private_folder(os.path.dirname(path), make=False):
        _start(path)  # makes the folder, or finds it is not this user's alone: then no agent
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(ACCEPT_TIMEOUT)
        sock.connect(path)
    except OSError:
        sock.close()
        _start(path)
        return None
    with sock:
        if _peer(sock)[1] != os.getuid():
            return None  # not this user's agent: nothing is sent to it
        return _converse(sock, args)


def _converse(sock: socket.socket, args: list[str]) -> int | None:
    """Send the command, wait :data:`ACCEPT_TIMEOUT` seconds for the agent to take it
    (``None`` if it does not, or gives it back: nothing has started), then pass signals
    on until the exit code comes."""
    import signal

    umask = os.umask(0)
    os.umask(umask)
    try:
        request = {"args": args, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
        sock.sendall(json.dumps(request).encode() + b"\n")
        taken = _read_line(sock)
        if json.loads(taken).get("accepted") is not True:
            return None
        # the descriptors go only to an agent that took the command: descriptors in flight
        # to one that never reads them would keep this process's pipes open
        socket.send_fds(sock, [b"\0"], [0, 1, 2])
    except (OSError, ValueError, AttributeError, KeyboardInterrupt):
        return None  # no working directory, an agent that went away: nothing has started
    sock.settimeout(None)

    def forward_signal(signum: int, _frame: object) -> None:
        try:
            sock.sendall(json.dumps({"signal": signal.Signals(signum).name}).encode() + b"\n")
        except OSError:
            pass

    previous = {s: signal.signal(s, forward_signal)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        answer = _read_line(sock)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    try:
        reply = json.loads(answer) if answer else {}
    except ValueError:
        reply = {}
    if reply.get("fallback") is True:
        return None
    code = reply.get("code")
    if not isinstance(code, int):
        sys.stderr.write("error: the launch agent ended without an exit code "
                         f"(set {VAR_OFF}=1 to launch without it)\n")
        return 1
    return code


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        try:
            chunk = sock.recv(65536)
        except InterruptedError:  # pragma: no cover - Python retries recv itself (PEP 475)
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def _start(path: str) -> None:
    """Start an agent for ``path`` in the background (its own session, no descriptors of
    this process); nothing when the socket folder is not private to this user."""
    if not _private_folder(os.path.dirname(path), make=True):
        return
    import subprocess

    try:
        subprocess.Popen([sys.executable, "-m", "landscape.cli.agent", path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
    except OSError:
        pass


def stop_all() -> list[str]:
    """Ask every agent of this user to exit — in :func:`folder` and, when that is the
    runtime folder, in the user cache's too; the sockets it asked."""
    asked: list[str] = []
    tops = [folder()]
    if os.environ.get("XDG_RUNTIME_DIR"):
        saved = os.environ.pop("XDG_RUNTIME_DIR")
        try:
            tops.append(folder())
        finally:
            os.environ["XDG_RUNTIME_DIR"] = saved
    for top in dict.fromkeys(tops):
        if _private_folder(top, make=False):
            asked += _stop_in(top)
    return asked


def _stop_in(top: str) -> list[str]:
    asked = []
    for name in sorted(os.listdir(top)):
        if not (name.startswith("agent-") and name.endswith(".sock")):
            continue
        path = os.path.join(top, name)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
                if _peer(s)[1] != os.getuid():
                    continue
                s.sendall(b'{"stop": true}\n')
                _read_line(s)
            asked.append(path)
        except OSError:
            pass
    return asked


# -- the agent ------------------------------------------------------------------------------

def serve(path: str, idle: float) -> None:
    """Serve commands on Unix socket ``path`` until ``idle`` seconds pass without one (and
    no command runs) or a client asks it to stop. One agent per path: a second one finds
    the lock taken and exits. The folder of ``path`` must be private to this user."""
    import fcntl
    import importlib
    import select
    import time

    top = os.path.dirname(path)
    if not _private_folder(top, make=False):
        return
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another agent serves this path
    for name in PRELOAD:
        importlib.import_module(name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(16)
    mine = os.stat(path).st_ino
    children: set[int] = set()
    last = time.monotonic()
    try:
        while True:
            _reap(children)
            if _STOP["flag"]:
                return
            ready, _, _ = select.select([server], [], [], 1.0)
            if not ready:
                if not children and time.monotonic() - last > idle:
                    return
                continue
            conn, _ = server.accept()
            last = time.monotonic()
            if not _same_user(conn):
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:  # the child serves this one command
                server.close()
                os.close(lock)  # a long launch must not keep a new agent from starting
                code = 1
                try:
                    code = _child(conn)
                finally:
                    os._exit(code)
            conn.close()
            children.add(pid)
    finally:
        try:
            if os.stat(path).st_ino == mine:
                os.unlink(path)
        except OSError:
            pass
        server.close()
        os.close(lock)


#: set when a child served a stop request (the agent then exits)
_STOP = {"flag": False}


def _reap(children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            if os.waitstatus_to_exitcode(status) == STOP_CODE:
                _STOP["flag"] = True


#: exit status of a child that was asked to stop the agent
STOP_CODE = 99


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end of ``conn``, as the kernel
    knows them (``SO_PEERCRED``); ``(0, -1, -1)`` when it will not say."""
    import struct

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return 0, -1, -1
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def _same_user(conn: socket.socket) -> bool:
    return _peer(conn)[1] == os.getuid()


#: ``SO_PEERGROUPS`` (Linux 4.13): the peer's supplementary groups, as the kernel knows them
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)


def _same_ids(conn: socket.socket) -> bool:
    """Whether the client at ``conn`` runs with this agent's user, group and supplementary
    groups — as the kernel reports them (``SO_PEERCRED``, ``SO_PEERGROUPS``), never as the
    client says: a launch passes them on to the container."""
    import struct

    _pid, uid, gid = _peer(conn)
    if (uid, gid) != (os.getuid(), os.getgid()):
        return False
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 1024)  # 256 groups
    except OSError:
        return False
    groups = struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
    return sorted(set(groups)) == sorted(set(os.getgroups()))


def _child(conn: socket.socket) -> int:
    """Serve one command on ``conn`` in this forked child; its own exit status (0, or
    :data:`STOP_CODE` for a stop request)."""
    import signal
    import threading

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        conn.settimeout(ACCEPT_TIMEOUT)
        data = b""
        while b"\n" not in data and len(data) <= MAX_REQUEST:
            more = conn.recv(1 << 20)
            if not more:
                break
            data += more
        request = json.loads(data.split(b"\n", 1)[0])
        if not isinstance(request, dict):
            raise ValueError("request")
    except (OSError, ValueError):
        return 0
    if request.get("stop") is True:
        _reply(conn, {"stopping": True})
        return STOP_CODE
    try:
        args = [str(a) for a in request["args"]]
        umask = int(request["umask"])
        env = {str(k): str(v) for k, v in dict(request["env"]).items()}
        if args[:1] != list(SERVED[:1]) or not 0 <= umask <= 0o777 or not _same_ids(conn):
            raise ValueError("not a command this agent serves")
        os.chdir(request["cwd"])
        os.umask(umask)
    except (OSError, KeyError, TypeError, ValueError):
        _reply(conn, {"fallback": True})
        return 0
    _reply(conn, {"accepted": True})
    fds: list[int] = []
    try:
        _data, fds, _flags, _addr = socket.recv_fds(conn, 1, 3)
    except OSError:
        pass
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return 0  # the client ran it itself, or went away
    conn.settimeout(None)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["landscape", *args]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, encoding=sys.stdin.encoding, closefd=False)
    sys.stdout = open(1, "w", encoding=sys.stdout.encoding, closefd=False)
    sys.stderr = open(2, "w", encoding=sys.stderr.encoding, buffering=1, closefd=False)
    threading.Thread(target=_signals, args=(conn,), daemon=True).start()
    code = _run(args)
    _reply(conn, {"code": code})
    return 0


def _run(args: list[str]) -> int:
    from . import run

    try:
        run(args)
        code: object = 0
    except SystemExit as e:
        code = e.code
    except BaseException:  # pragma: no cover - run() turns errors into exit codes
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _signals(conn: socket.socket) -> None:
    """Raise in this process each signal the client sends; SIGHUP when the client is gone."""
    import signal

    buffer = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            os.kill(os.getpid(), signal.SIGHUP)
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                name = json.loads(line).get("signal")
                signum = signal.Signals[name] if name in ("SIGINT", "SIGTERM", "SIGHUP") \
                    else None
            except (ValueError, AttributeError, KeyError):
                signum = None
            if signum is not None:
                os.kill(os.getpid(), signum)


def _reply(conn: socket.socket, answer: dict) -> None:
    try:
        conn.sendall(json.dumps(answer).encode() + b"\n")
    except OSError:
        pass


if __name__ == "__main__":  # started by forward(): python -m landscape.cli.agent SOCKET
    try:
        idle = float(os.environ.get(VAR_IDLE) or IDLE)
    except ValueError:
        idle = IDLE
    serve(sys.argv[1], idle)
