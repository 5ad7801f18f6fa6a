"""Launching a tool of a resolved context in a fresh container (README.md, What a launch gets).

A launch runs the context's image (built first when missing) with:

- the invoking user's uid, gid and supplementary groups, and generated ``/etc/passwd`` and
  ``/etc/group`` files mounted read-only so ``whoami`` and ``getpass`` work; the names in
  them come from the host's user database and are validated (:mod:`landscape.grammar`),
  never from config; ``HOME`` is ``/home/<user>`` (``/root`` for root) — a host folder kept
  per user, project and tool, a private tmpfs, or the user's own home, as the studio root's
  ``launch.home`` says (:mod:`landscape.engine.home`) — and ``USER``, ``LOGNAME`` and
  ``HOME`` are the launch's own;
- every storage mount at its target, by the **real** path the policy judged;
- the folder of each package whose payload is not baked (``delivery: mount``, ``--dev``),
  read-only where a baked copy would be, each checked first
  (:func:`landscape.engine.payloads.payload_binds`: against ``landscape.lock``);
- the resolved environment (rez's, ``LANDSCAPE_*``, env actions) and the resolved context as
  ``/landscape/context.json`` (read-only); the launch's secrets, read now
  (:mod:`landscape.engine.secrets`), as environment values or as files under
  ``/run/secrets`` (a host tmpfs folder mounted read-only, removed after the launch);
- ``/landscape/bin/landscape-enter`` as entry: it creates the working directory and its
  ``dirs`` as the user, enters it and ``exec``\\ s the tool, so exit code and signals are the
  tool's; ``--init`` reaps children; labels name the context and tool;
- hardening by default: ``no-new-privileges``, every capability dropped (a tool's declared
  ``capabilities`` are added back when policy allows them), a read-only root filesystem
  (``/landscape`` included; ``/tmp``, ``/var/tmp``, ``/run`` and ``HOME`` are tmpfs) and a
  process limit (``policy.pids_limit``);
- ``gui: true``: the X11 socket folder, ``DISPLAY``, a per-launch Xauthority file holding
  the display's cookie as a ``FamilyWild`` entry, ``QT_X11_NO_MITSHM=1``
  (:mod:`landscape.engine.display`); ``gpu: true``: every NVIDIA GPU and the ``/dev/dri``
  nodes the user may open, with their groups (:mod:`landscape.engine.gpu`) — each only if
  policy allows. Both are read at launch time, never from the resolve cache.

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

import contextlib
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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .. import grammar
from ..errors import EngineError, ErrorGroup, LandscapeError
from ..identity import user_name
from ..launchinputs import CONTEXT_FILE, LaunchInputs
from ..userstate import UserState
from . import docker as dk
from .display import DisplaySetup, display_setup
from .gpu import GpuHost, all_gpus, detect, gpu_setup, no_gpu_env
from .home import container_home, home_of_launch, prepare_home
from .secrets import CONTAINER_FOLDER, read_secrets, remove_folder, write_secret_files
from ..names import (LABEL_CONTEXT, LABEL_KEY, LABEL_PROJECT, LABEL_PROJECT_DIR, LABEL_ROLE,
                     LABEL_TOOL)

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
    content of generated files mounted read-only (``file_modes``: the mode of those that are
    not 0644 — the per-launch Xauthority file is 0600, the container's user's own);
    ``home`` is the container's home folder, ``home_source`` the host folder mounted there
    read-write (``None``: a private tmpfs), made by :func:`prepare` from ``home_state`` and
    ``home_names`` (user, project, tool); ``secret_files`` are secret files (name →
    content) to mount under ``/run/secrets`` and ``secret_env`` the names of variables whose
    values are secrets (never put on a command line); ``warnings`` are one-line notes for
    the user (a GPU asked for and not found).
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
    file_modes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    home_source: str | None = None
    home_state: UserState = field(default_factory=UserState)
    home_names: tuple[str, str, str] = ("", "", "")
    secret_files: dict[str, bytes] = field(default_factory=dict)
    secret_env: frozenset[str] = frozenset()


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
    """The container home of the launching user: ``/root`` for root, else ``/home/<user>``
    (``launch.home: host`` mounts the host home at its own path instead)."""
    return container_home(uid, user)


def project_key(inputs: LaunchInputs) -> str:
    """The name a launch's project goes by in per-project state (persistent homes): the
    project's name and a digest of its folder and studio root, so a folder elsewhere that
    calls itself by another project's name (``level: project`` below a project) or a
    project of that name in another studio never shares its state."""
    import hashlib

    where = f"{os.path.realpath(inputs.root)}\0{os.path.realpath(inputs.project_dir)}"
    return f"{inputs.project}-{hashlib.sha256(where.encode()).hexdigest()[:10]}"


def check_launchable(inputs: LaunchInputs) -> None:
    """Refuse to launch ``inputs``' tool (:class:`LandscapeError`): policy errors, no
    working directory, a refused capability, unusable ``launch`` settings — the checks
    every launch makes, in a container or on the host."""
    ErrorGroup.raise_if_any(inputs.errors)
    if inputs.workdir is None:
        raise LandscapeError(f"tool {inputs.tool!r} has no working directory for "
                             f"{inputs.context}: {inputs.workdir_error}",
                             hint="launch a context that has that level: a folder whose "
                             "landscape.yaml says e.g. `level: shot`, or whose parent's says "
                             "`child_level: shot`")
    if inputs.cap_error is not None:
        raise LandscapeError(f"tool {inputs.tool!r}: {inputs.cap_error}")
    if inputs.user_state.error is not None:
        raise LandscapeError(inputs.user_state.error)


def launch_spec(rc: "ResolvedContext | LaunchInputs", args: list[str],
                command: list[str] | None = None, *, environ: Mapping[str, str] | None = None,
                display: DisplaySetup | None = None, gpus: GpuHost | None = None
                ) -> LaunchSpec:
    """The :class:`LaunchSpec` of running the selected tool of ``rc`` (a resolved context,
    or its :class:`~landscape.context.LaunchInputs` — from the resolve cache) with launch
    ``args`` (``command`` replaces the tool's argv, for ``shell``).

    What the machine offers is read now, from ``environ`` (default: this process's
    environment): for ``gui: true`` the display (``display``, default
    :func:`~landscape.engine.display.display_setup` — which asks the X server), for
    ``gpu: true`` the GPUs (``gpus``, default :func:`~landscape.engine.gpu.detect`); and the
    launch's secrets (:func:`landscape.engine.secrets.read_secrets`).

    Raises :class:`LandscapeError` when the tool asks for what ``policy`` forbids, when
    its working-directory template needs a level this context does not have, when a
    display it asks for cannot be had (no ``DISPLAY``, an X server that refuses), when a
    secret cannot be read, or when a mounted package folder fails its check
    (:func:`~landscape.engine.payloads.payload_binds`).
    """
    inputs = rc if isinstance(rc, LaunchInputs) else rc.launch_inputs()
    check_launchable(inputs)
    state = inputs.user_state
    environ = os.environ if environ is None else environ
    gui, gpu = inputs.gui, inputs.gpu
    uid, gid = os.getuid(), os.getgid()
    user = user_name()
    project = project_key(inputs)
    home, home_source = home_of_launch(state, uid, user, project, inputs.tool)
    groups = [g for g in os.getgroups() if g != gid]
    env = dict(inputs.env)
    secrets = read_secrets(state.secrets)  # before the GPU variables: none can override them
    env.update(secrets.env)
    env.update({name: f"{CONTAINER_FOLDER}/{name}" for name in secrets.files})
    gpu_part = gpu_setup(gpus if gpus is not None else detect(), inputs.tool, env) \
        if gpu else None
    for g in gpu_part.groups if gpu_part else ():
        if g != gid and g not in groups:
            groups.append(g)
    passwd, group = user_entries(uid, gid, user, home, groups)
    env.update(USER=user, LOGNAME=user, HOME=home)
    env.update(gpu_part.env if gpu_part else no_gpu_env())
    context_json = json.dumps(inputs.context_json, indent=1, default=str)
    binds = [(m.source, m.target, m.mode) for m in inputs.storage]
    if inputs.payloads:
        from .payloads import payload_binds

        binds += payload_binds(inputs)
    unchecked: set[str] = set()
    for _s, target, _m in binds:
        if target == home:
            raise LandscapeError(f"a storage mount targets {home}, the launch's private home")
    files: dict[str, str | bytes] = {"/etc/passwd": passwd, "/etc/group": group,
                                     CONTEXT_FILE: context_json}
    file_modes: dict[str, int] = {}
    if gui:
        shown = display if display is not None else display_setup(environ, inputs.tool)
        for name in shown.drop:
            env.pop(name, None)
        env.update(shown.env)
        binds += shown.binds
        unchecked.update(source for source, _t, _m in shown.binds)
        files.update(shown.files)
        file_modes.update(dict.fromkeys(shown.files, 0o600))  # the cookie: the user's alone
    argv = [ENTRY, inputs.workdir, str(len(inputs.dirs)), *inputs.dirs,
            *(command if command is not None else [*inputs.command, *args])]
    return LaunchSpec(
        image=inputs.image.tag, argv=argv, uid=uid, gid=gid, group_add=[str(g) for g in groups],
        environment=env, binds=binds, home=home,
        labels={LABEL_CONTEXT: inputs.context, LABEL_TOOL: inputs.tool,
                LABEL_PROJECT: inputs.project, LABEL_KEY: inputs.image.key,
                LABEL_PROJECT_DIR: inputs.project_dir, LABEL_ROLE: "launch"},
        devices=gpu_part.devices if gpu_part else [],
        gpus=bool(gpu_part and gpu_part.nvidia), files=files,
        cap_add=inputs.cap_add, pids_limit=inputs.pids_limit, unchecked=unchecked,
        file_modes=file_modes,
        warnings=[gpu_part.warning] if gpu_part and gpu_part.warning else [],
        home_source=home_source, home_state=state, home_names=(user, project, inputs.tool),
        secret_files=secrets.files, secret_env=frozenset(secrets.env))


def prepare(spec: LaunchSpec) -> None:
    """Just before a container of ``spec`` is created: make (or check) its home folder
    (:func:`landscape.engine.home.prepare_home`)."""
    prepare_home(spec.home_state, spec.home_source, *spec.home_names)


def write_files(spec: LaunchSpec, scratch: Path) -> list[tuple[str, str]]:
    """Write the generated files of ``spec`` into ``scratch``; ``[(host path, target)]``."""
    written = []
    for i, (target, content) in enumerate(sorted(spec.files.items())):
        f = scratch / f"f{i}"
        write_file(f, content, spec.file_modes.get(target, 0o644))
        written.append((str(f), target))
    return written


def write_file(path: Path, content: str | bytes, mode: int) -> None:
    """Write a new file ``path`` (an existing one is an error) with ``content``, made with
    ``mode`` from the start (a cookie is never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, mode)  # whatever the umask
        f.write(content if isinstance(content, bytes) else content.encode())


def container_config(spec: LaunchSpec, files: list[tuple[str, str]], tty: bool = False,
                     stdin: bool = False, secrets: str | None = None) -> dict[str, Any]:
    """The Engine API body that creates the container of ``spec`` (``POST
    /containers/create``, API v1.41; ``files``: the generated files as written by
    :func:`write_files`). Every value is a JSON field of its own (the argv a list, each
    mount a ``Source``/``Target`` pair, the environment ``KEY=VALUE`` items), so nothing is
    ever parsed out of a string. ``stdin`` keeps the container's stdin open for the Docker CLI
    to attach (closed when the client's ends, as ``docker run -i``), ``tty`` gives it a
    terminal: the only differences between a launch from a terminal, a piped launch and a
    streamed one. ``AutoRemove``: the engine removes the container when it ends. The home
    is ``spec.home_source`` mounted read-write, else a private tmpfs; ``secrets`` (a host
    folder of secret files, :func:`landscape.engine.secrets.write_secret_files`) is mounted
    read-only at ``/run/secrets``.

    Raises :class:`LandscapeError` for an environment name an ``Env`` item cannot carry
    (empty, or holding ``=`` or NUL)."""
    mounts = [{"Type": "bind", "Source": s, "Target": t, "ReadOnly": m == "ro"}
              for s, t, m in spec.binds]
    mounts += [{"Type": "bind", "Source": f, "Target": t, "ReadOnly": True} for f, t in files]
    tmpfs = {"/tmp": f"{TMPFS},mode=1777", "/var/tmp": f"{TMPFS},mode=1777",
             "/run": f"{TMPFS},mode=755"}
    if spec.home_source is None:
        tmpfs[spec.home] = f"{TMPFS},uid={spec.uid},gid={spec.gid},mode=0700"
    else:
        mounts.append({"Type": "bind", "Source": spec.home_source, "Target": spec.home,
                       "ReadOnly": False})
    if secrets is not None:
        mounts.append({"Type": "bind", "Source": secrets, "Target": CONTAINER_FOLDER,
                       "ReadOnly": True})
    devices = []
    for d in spec.devices:
        host, inside, perms = d.split(":")
        devices.append({"PathOnHost": host, "PathInContainer": inside,
                        "CgroupPermissions": perms})
    host = {
        "GroupAdd": spec.group_add or None, "Mounts": mounts, "Tmpfs": tmpfs, "Init": True,
        "ShmSize": 1 << 30, "Devices": devices or None,
        "DeviceRequests": [all_gpus()] if spec.gpus else None,
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
        stdin: bool = False, started: Callable[[str], None] | None = None) -> int:
    """Run ``spec`` in a fresh container; return the tool's exit code.

    The container is created through the Engine API (:func:`container_config`, removed by
    the engine when it ends and by this function in every other case) and the Docker CLI
    attaches to it before it starts (``docker start --attach``; ``--interactive`` when
    ``stdin``: this process's stdin reaches the tool). ``tty`` gives the tool the terminal
    (keys, Ctrl-C and the window size go through the CLI); otherwise the output is streamed
    (to this process's stdout and stderr, or to ``out``/``err``) and signals are handled as
    :func:`attach` says. ``started(container id)`` is called once the container exists,
    before it starts (a launcher window keeps the id to stop it with :func:`kill`). Off the
    main thread no signal handler is installed: the caller ends the launch with
    :func:`kill`. Raises :class:`EngineError` when the engine refuses the container.
    """
    scratch = Path(tempfile.mkdtemp(prefix="landscape-launch-"))
    with _signals_end_the_launch():
        return _run(spec, scratch, out, err, tty, stdin, started)


def _run(spec: LaunchSpec, scratch: Path, out: Callable[[bytes], None] | None,
         err: Callable[[bytes], None] | None, tty: bool, stdin: bool,
         started: Callable[[str], None] | None = None) -> int:
    container = None
    secrets = None
    try:
        verify_binds(spec)
        prepare(spec)
        if spec.secret_files:
            secrets = write_secret_files(spec.secret_files)
        try:
            container = create(container_config(spec, write_files(spec, scratch), tty, stdin,
                                                str(secrets) if secrets else None))
        except EngineError as e:
            raise EngineError(f"the engine refused the launch: {e.message}") from None
        if started is not None:
            started(container)
        argv = [docker_cli(), "start", "--attach", *(["--interactive"] if stdin else []),
                container]
        return attach(argv, lambda name: kill(container, name), tty=tty, stdin=stdin,
                      out=out, err=err)
    finally:
        if container is not None:
            remove(container)
        shutil.rmtree(scratch, ignore_errors=True)
        remove_folder(secrets)


@contextlib.contextmanager
def _signals_end_the_launch() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``SystemExit(128 + N)`` until :func:`attach` takes over
    (and after it), so one that comes while the container is being created still removes
    it and the launch's files (the default action would end the process on the spot). In
    the main thread only, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def end(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, end) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_in_terminal(spec: LaunchSpec, tty: bool = True) -> int:
    """:func:`run` attached to this process's stdin (and terminal, when ``tty``)."""
    return run(spec, tty=tty, stdin=True)


def attach(argv: list[str], deliver: Callable[[str], bool] | None, *, tty: bool,
           stdin: bool, out: Callable[[bytes], None] | None = None,
           err: Callable[[bytes], None] | None = None,
           env: dict[str, str] | None = None, environ: dict[str, str] | None = None,
           cwd: str | None = None) -> int:
    """Run the Docker CLI ``argv`` (``docker start --attach …`` or ``docker exec …``) and
    return the tool's exit code (the CLI's; ``128 + N`` when the CLI died of signal N).

    With ``tty`` the CLI shares this process's terminal: Ctrl-C is a key the tool's
    terminal turns into SIGINT, so this process ignores SIGINT and SIGQUIT, and passes
    SIGTERM and SIGHUP on with ``deliver``. Otherwise the CLI runs in a session of its own
    (terminal signals reach only this process), and SIGINT, SIGTERM and SIGHUP are passed on
    with ``deliver(name)``; a second SIGINT delivers SIGKILL. ``deliver`` returns ``False``
    when the tool is gone: the launch then ends with 130. The output goes to this process's
    stdout/stderr file descriptors, or is copied to ``out``/``err`` (and to ``sys.stdout``/
    ``sys.stderr`` when those have no descriptor, as under a capturing test runner). ``env``
    adds variables to the CLI's environment (values ``docker exec --env=NAME`` takes from
    it, kept off the command line). A ``deliver`` of ``None`` signals the process itself
    — for a tool run on the host (``launch --host``) with exactly the environment
    ``environ`` in the folder ``cwd``."""
    out_fd, out_fn = _target(sys.stdout, out)
    err_fd, err_fn = _target(sys.stderr, err)
    previous: dict[int, Any] = {}
    interrupts = 0
    proc: subprocess.Popen | None = None

    def to_process(name: str) -> bool:
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.Signals[name])
        return True

    send = deliver if deliver is not None else to_process

    def forward(signum: int, _frame: Any) -> None:
        nonlocal interrupts
        interrupts += signum == signal.SIGINT
        name = "SIGKILL" if interrupts > 1 else signal.Signals(signum).name
        if not send(name) and proc is not None and proc.poll() is None:
            proc.kill()  # the tool is gone: stop waiting for the CLI
            raise KeyboardInterrupt

    # A Python handler (not SIG_IGN) is reset to the default in the CLI's process. Only
    # the main thread may set handlers: a launch from a worker thread (the launcher
    # window's) is ended by the caller, with ``deliver``'s means.
    main = threading.current_thread() is threading.main_thread()
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP) if main else ():
        if tty and sig in (signal.SIGINT, signal.SIGQUIT):
            previous[sig] = signal.signal(sig, _ignore)
        elif sig != signal.SIGQUIT:
            previous[sig] = signal.signal(sig, forward)
    pumps = []
    try:
        proc = subprocess.Popen(argv, env=environ if environ is not None else
                                {**dk.cli_env(), **(env or {})}, cwd=cwd,
                                stdin=None if stdin else subprocess.DEVNULL, stdout=out_fd,
                                stderr=err_fd, start_new_session=not tty)
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
    """Copy ``pipe`` to ``fn`` until it ends; once ``fn`` fails (a reader that went away),
    the rest is read and dropped, so the writer never blocks on a full pipe."""
    with pipe:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            try:
                fn(chunk)
            except (OSError, ValueError):
                fn = _drop


def _drop(_data: bytes) -> None:
    pass


def _writer(stream: Any) -> Callable[[bytes], None]:
    """A function writing bytes to ``stream``'s buffer; to nowhere when this process has
    no such stream (started with it closed: ``sys.stdout`` is ``None``)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return _drop

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()
    return write
