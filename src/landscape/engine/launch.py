"""Launching a tool of a resolved context in a fresh container (README.md, What a launch gets).

A launch runs the context's image (built first when missing) with:

- the invoking user's uid, gid and supplementary groups, and generated ``/etc/passwd`` and
  ``/etc/group`` files mounted read-only so ``whoami`` and ``getpass`` work; the names in
  them come from the host's user database and are validated (:mod:`landscape.grammar`),
  never from config; ``HOME`` is a private tmpfs at ``/home/<user>`` (``/root`` for root),
  and ``USER``, ``LOGNAME`` and ``HOME`` are the launch's own;
- every storage mount at its target, by the **real** path the policy judged;
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

There is **one** container configuration (:func:`container_config`), handed to the engine as
data through the Docker SDK — no ``docker run`` command line is ever assembled. A launch from
a terminal creates the same container with a TTY and lets the Docker CLI attach the user's
terminal to it (``docker start --attach --interactive``: keys, Ctrl-C, window size).
Otherwise the output is streamed through the SDK, attached **before** the container starts
(with Docker 20.10, attaching after a short-lived container exits hangs forever). Ctrl-C and
SIGTERM reach the tool; a second Ctrl-C kills it; the container is removed in every case.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .. import grammar
from ..errors import EngineError, ErrorGroup, LandscapeError
from ..identity import user_name
from ..launchinputs import CONTEXT_FILE, LaunchInputs
from . import docker as dk

if TYPE_CHECKING:
    from ..context import ResolvedContext

ENTRY = "/landscape/bin/landscape-enter"
#: tmpfs options of the writable places of a read-only root filesystem
TMPFS = "rw,nosuid,nodev"


@dataclass
class LaunchSpec:
    """Everything the container of one launch needs, computed without the engine.

    ``argv`` is the container's command (the entry, then the tool); ``binds`` are
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

    Raises :class:`LandscapeError` when the tool asks for what ``policy`` forbids, or when
    its working-directory template needs a level this context does not have.
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
    binds = [(m["source"], m["target"], m["mode"]) for m in inputs.storage]
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
        labels={"io.landscape.context": inputs.context, "io.landscape.tool": inputs.tool,
                "io.landscape.project": inputs.project, "io.landscape.key": inputs.image.key,
                "io.landscape.role": "launch"},
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
    """The keyword arguments of ``docker.DockerClient.containers.create`` for ``spec``
    (``files``: the generated files as written by :func:`write_files`). ``stdin`` keeps the
    container's stdin open for the Docker CLI to attach (closed when the client's ends, as
    ``docker run -i``), ``tty`` gives it a terminal: the only differences between a launch
    from a terminal, a piped ``shell`` and a streamed launch."""
    from docker.types import DeviceRequest, Mount

    mounts = [Mount(target=t, source=s, type="bind", read_only=(m == "ro"))
              for s, t, m in spec.binds]
    mounts += [Mount(target=t, source=f, type="bind", read_only=True) for f, t in files]
    tmpfs = {"/tmp": f"{TMPFS},mode=1777", "/var/tmp": f"{TMPFS},mode=1777",
             "/run": f"{TMPFS},mode=755",
             spec.home: f"{TMPFS},uid={spec.uid},gid={spec.gid},mode=0700"}
    return dict(
        image=spec.image, command=spec.argv, user=f"{spec.uid}:{spec.gid}",
        group_add=spec.group_add or None, environment=spec.environment, mounts=mounts,
        tmpfs=tmpfs, labels=spec.labels, init=True, shm_size="1g",
        devices=spec.devices or None,
        device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])] if spec.gpus else None,
        read_only=True, security_opt=["no-new-privileges:true"], cap_drop=["ALL"],
        cap_add=spec.cap_add or None, pids_limit=spec.pids_limit,
        stdin_open=stdin, tty=tty, detach=not stdin)


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


def _create(spec: LaunchSpec, scratch: Path, tty: bool, stdin: bool) -> Any:
    from docker.errors import DockerException

    verify_binds(spec)
    try:
        return dk.client().containers.create(**container_config(
            spec, write_files(spec, scratch), tty, stdin))
    except DockerException as e:
        raise EngineError(f"the engine refused the launch: {e}") from None


def _remove(container: Any) -> None:
    from docker.errors import DockerException

    try:
        container.remove(force=True)
    except DockerException:
        pass


def run_in_terminal(spec: LaunchSpec, tty: bool = True) -> int:
    """Run ``spec`` attached to this process's stdin and terminal: the container is created
    with :func:`container_config` (stdin open; a TTY when ``tty``) and the Docker CLI
    attaches stdin/stdout to it
    (``docker start -ai``), so keys, Ctrl-C and the window size reach the tool. Returns the
    tool's exit code; the container is removed afterwards, whatever happens."""
    scratch = Path(tempfile.mkdtemp(prefix="landscape-launch-"))
    container = None
    previous: dict[int, Any] = {}
    try:
        container = _create(spec, scratch, tty, stdin=True)
        # The CLI gets the signals (a Python handler is reset to the default in the child);
        # this process only waits, and cleans up.
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, lambda *_: None)
        subprocess.call(["docker", "start", "--attach", "--interactive", container.id])
        return int(container.wait().get("StatusCode", 1))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if container is not None:
            _remove(container)
        shutil.rmtree(scratch, ignore_errors=True)


def run(spec: LaunchSpec, out: Callable[[bytes], None] | None = None,
        err: Callable[[bytes], None] | None = None) -> int:
    """Run ``spec`` in a fresh container; stream its output (to this process's stdout and
    stderr unless ``out``/``err`` are given); return its exit code.

    Attaches before starting (see the module doc). SIGINT, SIGTERM and SIGHUP are forwarded
    to the tool; a second SIGINT kills it; a signal that finds the container already gone
    ends the launch (exit 130). Raises :class:`EngineError` when the engine refuses to create
    or start the container. The container is removed in every case.
    """
    from docker.errors import DockerException

    out = out or _writer(sys.stdout)
    err = err or _writer(sys.stderr)
    client = dk.client()
    scratch = Path(tempfile.mkdtemp(prefix="landscape-launch-"))
    container = None
    previous: dict[int, Any] = {}
    interrupts = 0
    try:
        container = _create(spec, scratch, tty=False, stdin=False)
        stream = client.api.attach(container.id, stdout=True, stderr=True, stream=True,
                                   logs=True, demux=True)

        def forward(signum: int, _frame: Any) -> None:
            nonlocal interrupts
            interrupts += signum == signal.SIGINT
            name = "SIGKILL" if interrupts > 1 else signal.Signals(signum).name
            try:
                container.kill(signal=name)
            except DockerException:  # it has already exited: stop waiting for it
                raise KeyboardInterrupt from None

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, forward)
        try:
            container.start()
        except DockerException as e:
            raise EngineError(f"the engine refused the launch: {e}") from None
        for chunk_out, chunk_err in stream:
            if chunk_out:
                out(chunk_out)
            if chunk_err:
                err(chunk_err)
        result = container.wait()
        return int(result.get("StatusCode", 1))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if container is not None:
            _remove(container)
        shutil.rmtree(scratch, ignore_errors=True)


def _writer(stream: Any) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        stream.buffer.write(data)
        stream.buffer.flush()
    return write
