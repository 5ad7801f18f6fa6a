"""Launching a tool of a resolved context in a fresh container (README.md, What a launch gets).

A launch runs the context's image (built first when missing) with:

- the invoking user's uid, gid and supplementary groups, and generated ``/etc/passwd`` and
  ``/etc/group`` files mounted read-only so ``whoami`` and ``getpass`` work; the names in
  them come from the host's user database and are validated (:mod:`landscape.grammar`),
  never from config; ``HOME`` is a private tmpfs at ``/home/<user>`` (``/root`` for root),
  and ``USER``, ``LOGNAME`` and ``HOME`` are the launch's own;
- every storage mount at its target, by the **real** path the policy judged;
- the folder of each package whose payload is not baked (``delivery: mount``, ``--dev``),
  read-only where a baked copy would be, each checked first
  (:func:`landscape.engine.payloads.payload_binds`: against ``landscape.lock``);
- the resolved environment (rez's, ``LANDSCAPE_*``, env actions) and the resolved context as
  ``/landscape/context.json`` (read-only);
- ``/landscape/bin/landscape-enter`` as entry: it creates the working directory and its
  ``dirs`` as the user, enters it and ``exec``\\ s the tool, so exit code and signals are the
  tool's; ``--init`` reaps children; labels name the context and tool;
- hardening by default: ``no-new-privileges``, every capability dropped (a tool's declared
  ``capabilities`` are added back when policy allows them), a read-only root filesystem
  (``/landscape`` included; ``/tmp``, ``/var/tmp``, ``/run`` and ``HOME`` are tmpfs) and a
  process limit (``policy.pids_limit``);
- ``gui: true``: the X11 socket, ``DISPLAY`` and a copy of the Xauthority file;
  ``gpu: true``: all GPUs or ``/dev/dri`` — each only if policy allows.

There is **one** container configuration (:func:`container_config`): the Engine API's own
JSON body, sent to the engine as data (:func:`landscape.engine.docker.api`, without the
Docker SDK, whose import alone costs more than the engine's work) — no ``docker run``
command line is ever assembled. The Docker CLI then attaches to the container **before** it
starts (``docker start --attach``; with Docker 20.10, attaching after a short-lived
container exits hangs forever): it streams the output, passes stdin on (``--interactive``,
when stdin is not a terminal or the launch has one) and, for a launch from a terminal,
connects the user's terminal to the container's TTY (keys, Ctrl-C, window size). Ctrl-C and
SIGTERM reach the tool; a second Ctrl-C kills it; the exit code is the tool's; the engine
removes the container when it ends (``AutoRemove``) and the launch removes it in every other
case. Warm launches (:mod:`landscape.engine.workspace`) run the same configuration as a
long-running workspace and ``exec`` each tool in it.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import grammar
from ..errors import EngineError, ErrorGroup, LandscapeError
from ..identity import user_name
from ..launchinputs import CONTEXT_FILE, LaunchInputs
from . import docker as dk
from ..names import LABEL_CONTEXT, LABEL_KEY, LABEL_PROJECT, LABEL_ROLE, LABEL_TOOL

if TYPE_CHECKING:
    from ..context import ResolvedContext

ENTRY = "/landscape/bin/landscape-enter"
#: tmpfs options of the writable places of a read-only root filesystem
TMPFS = "rw,nosuid,nodev"


@dataclass
class LaunchSpec:
    """Everything the container of one launch needs, computed without the engine.

    ``image`` is a tag or, once the launch has checked the image's labels, its id (what
    runs); ``argv`` is the container's command (the entry, then the tool); ``binds`` are
    ``(host source, container target, "ro"|"rw")``; ``files`` maps container paths to the
    content of generated files mounted read-only; ``home`` is the tmpfs home folder.
    """

    image: str
    argv: list[str]
    uid: int
    gid: int
    group_add: list[str]
    environment: dict[str, str]
    binds: list[tuple[str, str, str]]
    home: str
    labels: dict[str, str]
    devices: list[str] = field(default_factory=list)
    gpus: bool = False
    files: dict[str, str | bytes] = field(default_factory=dict)
    cap_add: list[str] = field(default_factory=list)
    pids_limit: int = 4096
    #: binds Landscape adds itself (display sockets), not judged as storage
    unchecked: set[str] = field(default_factory=set)


def _group_name(gid: int) -> str:
    try:
        name = grp.getgrgid(gid).gr_name
    except KeyError:
        name = ""
    return name if grammar.is_user_name(name) else f"g{gid}"


def user_entries(uid: int, gid: int, user: str, home: str, groups: list[int]) -> tuple[str, str]:
    """``/etc/passwd`` and ``/etc/group`` text for the launch: root, the user, and each of
    its groups. ``user`` must pass :func:`landscape.grammar.is_user_name` (raises
    ``ValueError`` otherwise); group names that do not are written ``g<gid>``."""
    if not grammar.is_user_name(user) or grammar.check_container_path(home) \
            or any(c in home for c in ":,") or not home.isprintable():
        raise ValueError(f"unsafe user entry {user!r} {home!r}")
    passwd = "root:x:0:0:root:/root:/bin/sh\n"
    group = "root:x:0:\n"
    if uid != 0:
        passwd += f"{user}:x:{uid}:{gid}:{user}:{home}:/bin/sh\n"
    names = {0: "root"}
    for g in [gid] + [g for g in groups if g != gid]:
        if g in names:
            continue
        names[g] = _group_name(g)
        group += f"{names[g]}:x:{g}:{user if g != gid else ''}\n"
    return passwd, group


def home_of(uid: int, user: str) -> str:
    """The container home of the launching user: ``/root`` for root, else ``/home/<user>``."""
    return "/root" if uid == 0 else f"/home/{user}"


def launch_spec(rc: "ResolvedContext | LaunchInputs", args: list[str],
                command: list[str] | None = None) -> LaunchSpec:
    """The :class:`LaunchSpec` of running the selected tool of ``rc`` (a resolved context,
    or its :class:`~landscape.context.LaunchInputs` — from the resolve cache) with launch
    ``args`` (``command`` replaces the tool's argv, for ``shell``).

    Raises :class:`LandscapeError` when the tool asks for what ``policy`` forbids, when
    its working-directory template needs a level this context does not have, or when a
    mounted package folder fails its check (:func:`~landscape.engine.payloads.payload_binds`).
    """
    inputs = rc if isinstance(rc, LaunchInputs) else rc.launch_inputs()
    ErrorGroup.raise_if_any(inputs.errors)
    if inputs.workdir is None:
        raise LandscapeError(f"tool {inputs.tool!r} has no working directory for "
                             f"{inputs.context}: {inputs.workdir_error}",
                             hint="launch a context that declares that level (a folder whose "
                             "landscape.yaml says e.g. `level: shot`)")
    if inputs.cap_error is not None:
        raise LandscapeError(f"tool {inputs.tool!r}: {inputs.cap_error}")
    gui, gpu = inputs.gui, inputs.gpu
    uid, gid = os.getuid(), os.getgid()
    user = user_name()
    home = home_of(uid, user)
    groups = [g for g in os.getgroups() if g != gid]
    passwd, group = user_entries(uid, gid, user, home, groups)
    env = dict(inputs.env)
    env.update(USER=user, LOGNAME=user, HOME=home)
    context_json = json.dumps(inputs.context_json, indent=1, default=str)
    binds = [(m.source, m.target, m.mode) for m in inputs.storage]
    if inputs.payloads:
        from .payloads import payload_binds

        binds += payload_binds(inputs)
    unchecked: set[str] = set()
    for _s, target, _m in binds:
        if target == home:
            raise LandscapeError(f"a storage mount targets {home}, the launch's private home")
    devices: list[str] = []
    files: dict[str, str | bytes] = {"/etc/passwd": passwd, "/etc/group": group,
                                     CONTEXT_FILE: context_json}
    if gui and os.environ.get("DISPLAY"):
        env["DISPLAY"] = os.environ["DISPLAY"]
        if os.path.isdir("/tmp/.X11-unix"):
            binds.append(("/tmp/.X11-unix", "/tmp/.X11-unix", "ro"))
            unchecked.add("/tmp/.X11-unix")
        xauth = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
        if xauth.is_file():  # a per-launch copy: the container never sees the user's file
            files["/tmp/.landscape-xauthority"] = xauth.read_bytes()
            env["XAUTHORITY"] = "/tmp/.landscape-xauthority"
        wayland = os.environ.get("WAYLAND_DISPLAY")
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if wayland and runtime and "/" not in wayland \
                and os.path.exists(os.path.join(runtime, wayland)):
            sock = os.path.join(runtime, wayland)
            binds.append((sock, f"/tmp/{wayland}", "rw"))
            unchecked.add(sock)
            env.update(WAYLAND_DISPLAY=wayland, XDG_RUNTIME_DIR="/tmp")
    if gpu and os.path.exists("/dev/dri"):
        devices.append("/dev/dri:/dev/dri:rwm")
    argv = [ENTRY, inputs.workdir, str(len(inputs.dirs)), *inputs.dirs,
            *(command if command is not None else [*inputs.command, *args])]
    return LaunchSpec(
        image=inputs.image.tag, argv=argv, uid=uid, gid=gid, group_add=[str(g) for g in groups],
        environment=env, binds=binds, home=home,
        labels={LABEL_CONTEXT: inputs.context, LABEL_TOOL: inputs.tool,
                LABEL_PROJECT: inputs.project, LABEL_KEY: inputs.image.key,
                LABEL_ROLE: "launch"},
        devices=devices, gpus=gpu and shutil.which("nvidia-smi") is not None, files=files,
        cap_add=inputs.cap_add, pids_limit=inputs.pids_limit, unchecked=unchecked)


def write_files(spec: LaunchSpec, scratch: Path) -> list[tuple[str, str]]:
    """Write the generated files of ``spec`` into ``scratch``; ``[(host path, target)]``."""
    written = []
    for i, (target, content) in enumerate(sorted(spec.files.items())):
        f = scratch / f"f{i}"
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        f.chmod(0o644)
        written.append((str(f), target))
    return written


def container_config(spec: LaunchSpec, files: list[tuple[str, str]], tty: bool = False,
                     stdin: bool = False) -> dict[str, Any]:
    """The Engine API body that creates the container of ``spec`` (``POST
    /containers/create``, API v1.41; ``files``: the generated files as written by
    :func:`write_files`). Every value is a JSON field of its own (the argv a list, each
    mount a ``Source``/``Target`` pair, the environment ``KEY=VALUE`` items), so nothing is
    ever parsed out of a string. ``stdin`` keeps the container's stdin open for the Docker CLI
    to attach (closed when the client's ends, as ``docker run -i``), ``tty`` gives it a
    terminal: the only differences between a launch from a terminal, a piped launch and a
    streamed one. ``AutoRemove``: the engine removes the container when it ends.

    Raises :class:`LandscapeError` for an environment name an ``Env`` item cannot carry
    (empty, or holding ``=`` or NUL)."""
    mounts = [{"Type": "bind", "Source": s, "Target": t, "ReadOnly": m == "ro"}
              for s, t, m in spec.binds]
    mounts += [{"Type": "bind", "Source": f, "Target": t, "ReadOnly": True} for f, t in files]
    tmpfs = {"/tmp": f"{TMPFS},mode=1777", "/var/tmp": f"{TMPFS},mode=1777",
             "/run": f"{TMPFS},mode=755",
             spec.home: f"{TMPFS},uid={spec.uid},gid={spec.gid},mode=0700"}
    devices = []
    for d in spec.devices:
        host, inside, perms = d.split(":")
        devices.append({"PathOnHost": host, "PathInContainer": inside,
                        "CgroupPermissions": perms})
    host = {
        "GroupAdd": spec.group_add or None, "Mounts": mounts, "Tmpfs": tmpfs, "Init": True,
        "ShmSize": 1 << 30, "Devices": devices or None,
        "DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
        if spec.gpus else None,
        "ReadonlyRootfs": True, "SecurityOpt": ["no-new-privileges:true"], "CapDrop": ["ALL"],
        "CapAdd": spec.cap_add or None, "PidsLimit": spec.pids_limit, "AutoRemove": True,
    }
    return {
        "Image": spec.image, "Cmd": spec.argv, "Entrypoint": None,
        "User": f"{spec.uid}:{spec.gid}", "Env": env_items(spec.environment),
        "Labels": spec.labels, "Tty": tty, "OpenStdin": stdin, "StdinOnce": stdin,
        "AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True, "HostConfig": host,
    }


def env_items(environment: dict[str, str]) -> list[str]:
    """``environment`` as the Engine API's ``KEY=VALUE`` items (sorted). Raises
    :class:`LandscapeError` for a name that cannot be one (empty, ``=`` or NUL in it) or a
    value with NUL."""
    for k, v in environment.items():
        if not k or "=" in k or "\0" in k or "\0" in v:
            raise LandscapeError(f"environment variable {k!r} cannot be passed to a container")
    return [f"{k}={v}" for k, v in sorted(environment.items())]


def verify_binds(spec: LaunchSpec) -> None:
    """Just before the container is created: every storage source must still be the real
    path that was judged (no folder on the way replaced by a symlink since — a build may
    have taken minutes). Raises :class:`LandscapeError` naming the path that changed."""
    for source, _target, _mode in spec.binds:
        if source in spec.unchecked:
            continue
        now = os.path.realpath(source)
        if now != source:
            raise LandscapeError(f"storage {source} changed since it was checked (it now leads "
                                 f"to {now}); not launched")


def create(config: dict[str, Any], name: str | None = None) -> str:
    """Create a container from an Engine API body (:func:`container_config`); returns its
    id. Raises :class:`EngineError` naming the engine's reason when it refuses (a
    :class:`~landscape.engine.docker.APIError` with status 409 when ``name`` is taken)."""
    answer = dk.api("POST", "/containers/create", {"name": name} if name else None, config)
    return answer["Id"]


def remove(container: str) -> None:
    """Remove ``container`` (an id or name), killing it first; nothing when it is gone."""
    try:
        dk.api("DELETE", f"/containers/{container}", {"force": "1"})
    except dk.APIError:  # 404: gone; 409: the engine is already removing it
        pass


def kill(container: str, signame: str) -> bool:
    """Send ``signame`` (``SIGINT``…) to ``container``'s main process (its ``--init``, which
    passes it on to the tool); ``False`` when the container is gone or not running."""
    try:
        dk.api("POST", f"/containers/{container}/kill", {"signal": signame})
    except dk.APIError:
        return False
    return True


def docker_cli() -> str:
    """The path of the ``docker`` command (it attaches terminals and streams). Raises
    :class:`EngineError` when it is not installed."""
    path = shutil.which("docker")
    if path is None:
        raise EngineError("the `docker` command is not installed (launches attach through it)")
    return path


def run(spec: LaunchSpec, out: Callable[[bytes], None] | None = None,
        err: Callable[[bytes], None] | None = None, *, tty: bool = False,
        stdin: bool = False) -> int:
    """Run ``spec`` in a fresh container; return the tool's exit code.

    The container is created through the Engine API (:func:`container_config`, removed by
    the engine when it ends and by this function in every other case) and the Docker CLI
    attaches to it before it starts (``docker start --attach``; ``--interactive`` when
    ``stdin``: this process's stdin reaches the tool). ``tty`` gives the tool the terminal
    (keys, Ctrl-C and the window size go through the CLI); otherwise the output is streamed
    (to this process's stdout and stderr, or to ``out``/``err``) and signals are handled as
    :func:`attach` says. Raises :class:`EngineError` when the engine refuses the container.
    """
    scratch = Path(tempfile.mkdtemp(prefix="landscape-launch-"))
    container = None
    try:
        verify_binds(spec)
        try:
            container = create(container_config(spec, write_files(spec, scratch), tty, stdin))
        except EngineError as e:
            raise EngineError(f"the engine refused the launch: {e.message}") from None
        argv = [docker_cli(), "start", "--attach", *(["--interactive"] if stdin else []),
                container]
        return attach(argv, lambda name: kill(container, name), tty=tty, stdin=stdin,
                      out=out, err=err)
    finally:
        if container is not None:
            remove(container)
        shutil.rmtree(scratch, ignore_errors=True)


def run_in_terminal(spec: LaunchSpec, tty: bool = True) -> int:
    """:func:`run` attached to this process's stdin (and terminal, when ``tty``)."""
    return run(spec, tty=tty, stdin=True)


def attach(argv: list[str], deliver: Callable[[str], bool], *, tty: bool, stdin: bool,
           out: Callable[[bytes], None] | None = None,
           err: Callable[[bytes], None] | None = None) -> int:
    """Run the Docker CLI ``argv`` (``docker start --attach …`` or ``docker exec …``) and
    return the tool's exit code (the CLI's; ``128 + N`` when the CLI died of signal N).

    With ``tty`` the CLI shares this process's terminal: Ctrl-C is a key the tool's
    terminal turns into SIGINT, so this process ignores SIGINT and SIGQUIT, and passes
    SIGTERM and SIGHUP on with ``deliver``. Otherwise the CLI runs in a session of its own
    (terminal signals reach only this process), and SIGINT, SIGTERM and SIGHUP are passed on
    with ``deliver(name)``; a second SIGINT delivers SIGKILL. ``deliver`` returns ``False``
    when the tool is gone: the launch then ends with 130. The output goes to this process's
    stdout/stderr file descriptors, or is copied to ``out``/``err`` (and to ``sys.stdout``/
    ``sys.stderr`` when those have no descriptor, as under a capturing test runner)."""
    out_fd, out_fn = _target(sys.stdout, out)
    err_fd, err_fn = _target(sys.stderr, err)
    previous: dict[int, Any] = {}
    interrupts = 0
    proc: subprocess.Popen | None = None

    def forward(signum: int, _frame: Any) -> None:
        nonlocal interrupts
        interrupts += signum == signal.SIGINT
        name = "SIGKILL" if interrupts > 1 else signal.Signals(signum).name
        if not deliver(name) and proc is not None and proc.poll() is None:
            proc.kill()  # the tool is gone: stop waiting for the CLI
            raise KeyboardInterrupt

    # A Python handler (not SIG_IGN) is reset to the default in the CLI's process.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        if tty and sig in (signal.SIGINT, signal.SIGQUIT):
            previous[sig] = signal.signal(sig, _ignore)
        elif sig != signal.SIGQUIT:
            previous[sig] = signal.signal(sig, forward)
    pumps = []
    try:
        proc = subprocess.Popen(argv, env=dk.cli_env(), stdin=None if stdin else
                                subprocess.DEVNULL, stdout=out_fd, stderr=err_fd,
                                start_new_session=not tty)
        for stream, fn in ((proc.stdout, out_fn), (proc.stderr, err_fn)):
            if stream is not None:
                pumps.append(threading.Thread(target=_pump, args=(stream, fn), daemon=True))
                pumps[-1].start()
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            return 130
        for t in pumps:
            t.join()
        return code if code >= 0 else 128 - code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _ignore(*_: Any) -> None:
    pass


def _target(stream: Any, fn: Callable[[bytes], None] | None
            ) -> tuple[Any, Callable[[bytes], None] | None]:
    """Where the CLI writes one output stream: this process's descriptor (``None``: the
    child inherits it) when it has one and no ``fn`` is given, else a pipe copied to ``fn``
    (or to ``stream``'s buffer)."""
    if fn is None:
        try:
            stream.flush()
            if stream.fileno() >= 0:
                return None, None
        except (AttributeError, OSError, ValueError):
            pass
        fn = _writer(stream)
    return subprocess.PIPE, fn


def _pump(pipe: Any, fn: Callable[[bytes], None]) -> None:
    with pipe:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            fn(chunk)


def _writer(stream: Any) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        stream.buffer.write(data)
        stream.buffer.flush()
    return write
