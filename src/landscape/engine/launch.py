"""Launching a tool of a resolved context in a fresh container (SPEC §6).

A launch runs the context's image (built first when missing) with:

- the invoking user's uid, gid and supplementary groups, and generated ``/etc/passwd`` and
  ``/etc/group`` files mounted read-only so ``whoami`` and ``getpass`` work
  (``../shared/notes/docker-facts.md``); ``HOME`` is a tmpfs owned by that user;
- every storage mount at its target (the same path as on the host);
- the resolved environment (rez's, ``LANDSCAPE_*``, env actions) and the resolved context as
  ``/landscape/context.json`` (read-only);
- ``/landscape/bin/landscape-enter`` as entry: it creates the working directory and its
  ``dirs`` as the user, enters it and ``exec``\\ s the tool, so exit code and signals are the
  tool's; ``--init`` reaps children; a label names the context and tool;
- ``gui: true``: the X11 socket, ``DISPLAY`` and a copy of the Xauthority file;
  ``gpu: true``: all GPUs (``--gpus all``) or ``/dev/dri`` — each only if policy allows.

The container is created, started and attached through the Docker SDK; its output is
streamed to this process's stdout/stderr; Ctrl-C (SIGINT) and SIGTERM are forwarded to the
tool; the container is removed afterwards.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import CONTEXT_FILE, ResolvedContext
from ..errors import EngineError, LandscapeError
from . import docker as dk

ENTRY = "/landscape/bin/landscape-enter"


@dataclass
class LaunchSpec:
    """Everything a ``docker run`` of one launch needs, computed without the engine."""

    image: str
    argv: list[str]
    user: str
    group_add: list[str]
    environment: dict[str, str]
    binds: list[tuple[str, str, str]]  # (source, target, "ro"|"rw")
    tmpfs: dict[str, str]
    labels: dict[str, str]
    devices: list[str] = field(default_factory=list)
    gpus: bool = False
    files: dict[str, str | bytes] = field(default_factory=dict)  # container path → content


def _user_entries(uid: int, gid: int, user: str, home: str) -> tuple[str, str]:
    passwd = "root:x:0:0:root:/root:/bin/sh\n"
    group = "root:x:0:\n"
    if uid != 0:
        passwd += f"{user}:x:{uid}:{gid}:{user}:{home}:/bin/sh\n"
    names = {0: "root"}
    gids = [gid] + [g for g in os.getgroups() if g != gid]
    for g in gids:
        if g in names:
            continue
        try:
            names[g] = grp.getgrgid(g).gr_name
        except KeyError:
            names[g] = f"g{g}"
        group += f"{names[g]}:x:{g}:{user if g != gid else ''}\n"
    return passwd, group


def launch_spec(rc: ResolvedContext, args: list[str]) -> LaunchSpec:
    """The :class:`LaunchSpec` of running ``rc``'s selected tool with launch ``args``.

    Raises :class:`LandscapeError` when the tool asks for what ``policy`` forbids, or when its
    working-directory template needs a level this context does not have.
    """
    setup = rc.selected
    if rc.tool is None:
        raise LandscapeError("launch needs a tool: --tool NAME")
    if rc.workdir is None:
        raise LandscapeError(f"tool {rc.tool!r} has no working directory for {rc.cascade.context}"
                             ": its template needs a level this context does not have")
    policy = rc.cascade.plain("policy", {}) or {}
    gui, gpu = bool(setup.field("gui", False)), bool(setup.field("gpu", False))
    if gui and policy.get("allow_gui") is False:
        raise LandscapeError(f"tool {rc.tool!r} needs a display (gui: true) but policy.allow_gui "
                             "is false")
    if gpu and policy.get("allow_gpu") is False:
        raise LandscapeError(f"tool {rc.tool!r} needs GPUs (gpu: true) but policy.allow_gpu is "
                             "false")
    uid, gid = os.getuid(), os.getgid()
    env = dict(rc.env)
    user, home = env.get("USER", f"uid{uid}"), env.get("HOME", "/tmp")
    passwd, group = _user_entries(uid, gid, user, home)
    context_json = json.dumps(rc.to_json(), indent=1, default=str)
    binds = [(m["source"], m["target"], m["mode"]) for m in rc.storage]
    devices: list[str] = []
    files: dict[str, str | bytes] = {"/etc/passwd": passwd, "/etc/group": group,
                                     CONTEXT_FILE: context_json}
    if gui and os.environ.get("DISPLAY"):
        env["DISPLAY"] = os.environ["DISPLAY"]
        if os.path.isdir("/tmp/.X11-unix"):
            binds.append(("/tmp/.X11-unix", "/tmp/.X11-unix", "ro"))
        xauth = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
        if xauth.is_file():  # a per-launch copy: the container never sees the user's file
            files["/tmp/.landscape-xauthority"] = xauth.read_bytes()
            env["XAUTHORITY"] = "/tmp/.landscape-xauthority"
        wayland = os.environ.get("WAYLAND_DISPLAY")
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if wayland and runtime and os.path.exists(os.path.join(runtime, wayland)):
            sock = os.path.join(runtime, wayland)
            binds.append((sock, f"/tmp/{wayland}", "rw"))
            env.update(WAYLAND_DISPLAY=wayland, XDG_RUNTIME_DIR="/tmp")
    if gpu and os.path.exists("/dev/dri"):
        devices.append("/dev/dri:/dev/dri")
    argv = [ENTRY, rc.workdir, *rc.dirs, "--", *setup.command, *args]
    return LaunchSpec(
        image=rc.image.tag, argv=argv, user=f"{uid}:{gid}",
        group_add=[str(g) for g in os.getgroups() if g != gid], environment=env, binds=binds,
        tmpfs={home: f"uid={uid},gid={gid},mode=0700"} if uid != 0 else {},
        labels={"io.landscape.context": str(rc.cascade.context), "io.landscape.tool": rc.tool,
                "io.landscape.project": rc.project, "io.landscape.key": rc.image.key},
        devices=devices, gpus=gpu and shutil.which("nvidia-smi") is not None, files=files)


def _write_files(spec: LaunchSpec, scratch: Path) -> list[tuple[str, str]]:
    """Write the generated files of ``spec`` into ``scratch``; ``[(host path, target)]``."""
    written = []
    for i, (target, content) in enumerate(sorted(spec.files.items())):
        f = scratch / f"f{i}"
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        f.chmod(0o644)
        written.append((str(f), target))
    return written


def docker_run_argv(spec: LaunchSpec, interactive: bool = True) -> tuple[list[str], Any]:
    """``docker run`` argv for ``spec`` and a cleanup function that deletes the generated
    files after the run. For terminals: ``shell``, and launches from a TTY, need the docker
    CLI's real terminal (stdin kept open; ``-t`` when ``interactive``)."""
    scratch = Path(tempfile.mkdtemp(prefix="landscape-shell-"))
    argv = ["docker", "run", "--rm", "--init", "-i", "--user", spec.user, "--shm-size", "1g"]
    if interactive:
        argv.append("-t")
    for g in spec.group_add:
        argv += ["--group-add", g]
    for k, v in sorted(spec.environment.items()):
        argv += ["-e", f"{k}={v}"]
    for s, t, m in spec.binds:
        argv += ["--mount", f"type=bind,source={s},target={t}" + (",readonly" if m == "ro" else "")]
    for f, target in _write_files(spec, scratch):
        argv += ["--mount", f"type=bind,source={f},target={target},readonly"]
    for target, opts in spec.tmpfs.items():
        argv += ["--tmpfs", f"{target}:{opts}"]
    for k, v in spec.labels.items():
        argv += ["--label", f"{k}={v}"]
    for d in spec.devices:
        argv += ["--device", d]
    if spec.gpus:
        argv += ["--gpus", "all"]
    argv += [spec.image, *spec.argv]
    return argv, lambda: shutil.rmtree(scratch, ignore_errors=True)


def run_in_terminal(spec: LaunchSpec, tty: bool = True) -> int:
    """Run ``spec`` with the docker CLI, stdin attached (``-i``) and, with ``tty``, the user's
    terminal (``-t``: keys, Ctrl-C, window size); return the tool's exit code."""
    import subprocess

    argv, cleanup = docker_run_argv(spec, interactive=tty)
    try:
        return subprocess.call(argv)
    finally:
        cleanup()


def run(spec: LaunchSpec) -> int:
    """Run ``spec`` in a fresh container; stream its output; return its exit code.

    Raises :class:`EngineError` when the engine refuses to create or start the container.
    """
    from docker.errors import APIError, DockerException
    from docker.types import DeviceRequest, Mount

    client = dk.client()
    scratch = Path(tempfile.mkdtemp(prefix="landscape-launch-"))
    mounts = [Mount(target=t, source=s, type="bind", read_only=(m == "ro"))
              for s, t, m in spec.binds]
    mounts += [Mount(target=t, source=f, type="bind", read_only=True)
               for f, t in _write_files(spec, scratch)]
    container = None
    previous: dict[int, Any] = {}
    try:
        try:
            container = client.containers.create(
                spec.image, spec.argv, user=spec.user, group_add=spec.group_add or None,
                environment=spec.environment, mounts=mounts, tmpfs=spec.tmpfs or None,
                labels=spec.labels, init=True, shm_size="1g", devices=spec.devices or None,
                device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])]
                if spec.gpus else None, stdin_open=False, tty=False)
            container.start()
        except (APIError, DockerException) as e:
            raise EngineError(f"the engine refused the launch: {e}") from None

        def forward(signum: int, _frame: Any) -> None:
            try:
                container.kill(signal=signal.Signals(signum).name)
            except DockerException:
                pass

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, forward)
        stream = client.api.attach(container.id, stdout=True, stderr=True, stream=True,
                                   logs=True, demux=True)
        for out, err in stream:
            if out:
                sys.stdout.buffer.write(out)
                sys.stdout.buffer.flush()
            if err:
                sys.stderr.buffer.write(err)
                sys.stderr.buffer.flush()
        result = container.wait()
        return int(result.get("StatusCode", 1))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if container is not None:
            try:
                container.remove(force=True)
            except DockerException:
                pass
        shutil.rmtree(scratch, ignore_errors=True)
