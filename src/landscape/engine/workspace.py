"""Warm launches: a long-running workspace container per image, user and storage set, and
each launch ``exec``\\ ed in it (README.md, What a launch gets; docs/commands.md).

A workspace is the container a cold launch of the same context would get
(:func:`landscape.engine.launch.container_config`: the same user, groups, storage mounts,
tmpfs home, hardening, labels) with an idle watcher as its main process instead of the tool.
Its **identity** is a digest of everything that configuration holds but the per-launch
environment and argv: the image **id** (a rebuild, or a removed and rebuilt image, gives
another id, so a warm launch never runs a stale image), the user, groups, storage
(the X11 socket folder of a display included), devices and GPUs (with the ``NVIDIA_*``
variables the runtime reads when it creates the container), capabilities, process limit,
the home (its host folder, :mod:`landscape.engine.home`: another home is another
workspace), the studio root and project, and the idle time. The
container is named ``landscape-ws-<identity prefix>`` and labelled
``io.landscape.role=workspace``: a warm launch finds it with one inspect of that name, and
two concurrent launches creating it meet on the engine's name uniqueness (the second takes
the first's).

Each warm launch writes its per-launch files (the resolved context, the display's cookie
as a per-launch Xauthority file, mode 0600) into
the workspace's host folder under the user cache (``workspaces/<name>/<launch id>/``),
which the workspace sees read-only at ``/run/landscape``; ``LANDSCAPE_CONTEXT_FILE`` (and
``XAUTHORITY``) point there, as there is no ``/landscape/context.json`` in a workspace: it
serves every context of its image. The tool is run by the Docker CLI (``docker exec``; flags
serialised from the Engine API exec body :func:`exec_config`, values as whole arguments)
through a fixed wrapper script that records its PID in the workspace's private tmpfs
``/run/landscape-warm`` before ``exec``\\ ing the launch's entry. The Engine API cannot
signal an exec'd process (a long-standing limit of the engine), so without a TTY, Ctrl-C
and SIGTERM are delivered by exec'ing ``kill`` of that PID (a second Ctrl-C sends
SIGKILL); with a TTY, Ctrl-C is a key the exec's terminal turns into SIGINT. The exit code
is the tool's.

Secrets (:mod:`landscape.engine.secrets`) are per launch: their values go in the exec
body's environment (on the ``docker exec`` command line only by name, the value in the
CLI's environment), and ``as: file`` secrets in a per-launch folder of the workspace's
secrets folder on a host tmpfs (``<secret base>/<workspace name>``, mounted read-only at
``/run/secrets``; the launch's files are ``/run/secrets/<launch id>/<NAME>``), removed when
the launch ends. Neither enters the workspace's identity or labels.

The idle watcher (a fixed ``sh`` script, no Landscape daemon on the host) looks every few
seconds for processes besides itself and ``--init``, and for PID records of launches that
ran since its last look; after ``launch.warm_idle`` (studio root; default 30 minutes)
without any, it marks the workspace closing, looks once more and exits — the engine then
removes the container (``AutoRemove``). A launch whose wrapper finds the closing mark exits
with :data:`CLOSING`, and the launch is run again in a new workspace. One window stays open:
an exec the engine is asked for in the milliseconds between the watcher's exit and the
container's stop fails with the engine's "is not running" message (exit 1); the next launch
starts a new workspace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import EngineError, LandscapeError
from ..resources import cache_dir
from . import docker as dk
from ..names import (LABEL_CONTEXT, LABEL_FOLDER, LABEL_IDLE, LABEL_IMAGE, LABEL_KEY,
                     LABEL_PROJECT, LABEL_PROJECT_DIR, LABEL_ROLE, LABEL_ROOT, LABEL_TOOL,
                     LABEL_USER, LABEL_WORKSPACE)
from .gpu import CREATE_ENV
from .launch import LaunchSpec, attach, container_config, create, docker_cli, env_items, \
    prepare, remove, verify_binds, write_file, write_files
from .secrets import CONTAINER_FOLDER, remove_folder, secret_base, write_secret_files

ROLE = "workspace"
PREFIX = "landscape-ws-"
#: the workspace's host folder, read-only inside: per-launch files
FILES = "/run/landscape"
#: the workspace's private tmpfs: PID records of launches, the closing mark
CONTROL = "/run/landscape-warm"
#: exit code of the wrapper when the workspace is closing (the launch is run again)
CLOSING = 213

#: main process of a workspace: ``sh -c WATCHER landscape-watch IDLE STEP`` (seconds)
WATCHER = r"""
idle=$1 step=$2 d=/run/landscape-warm quiet=0
busy() {
    for p in /proc/[0-9]*; do
        case ${p#/proc/} in 1|$$) ;; *) return 0 ;; esac
    done
    return 1
}
while :; do
    sleep "$step"
    ran=
    for f in "$d"/pid.*; do
        [ -e "$f" ] || continue
        ran=1
        read -r p < "$f" || p=
        case $p in ''|*[!0-9]*) p= ;; esac
        [ -n "$p" ] && [ "$p" -gt 1 ] && [ "$p" != "$$" ] && [ -d "/proc/$p" ] || rm -f -- "$f"
    done
    if [ -n "$ran" ] || busy; then quiet=0; else quiet=$((quiet + step)); fi
    if [ "$quiet" -ge "$idle" ]; then
        : > "$d/closing"
        busy || exit 0
        rm -f -- "$d/closing"
        quiet=0
    fi
done
"""

#: what a warm launch execs: ``sh -c WRAPPER landscape-warm LAUNCH_ID ENTRY ARGS…``
WRAPPER = r"""
[ -e /run/landscape-warm/closing ] && exit 213
echo $$ > "/run/landscape-warm/pid.$1"
shift
exec "$@"
"""

#: delivers a signal to a launch: ``sh -c KILLER landscape-kill SIGNAL LAUNCH_ID``
KILLER = r"""
read -r p < "/run/landscape-warm/pid.$2" || exit 1
case $p in ''|*[!0-9]*) exit 1 ;; esac
[ "$p" -gt 1 ] || exit 1
kill -s "$1" "$p"
"""


def identity(spec: LaunchSpec, root: str, project: str, idle: int) -> str:
    """The digest (hex) that names ``spec``'s workspace: everything of its container but the
    per-launch environment, argv and context file (see the module doc). ``spec.image`` must
    be an image id."""
    data = {"image": spec.image, "uid": spec.uid, "gid": spec.gid, "groups": spec.group_add,
            "home": spec.home, "home_source": spec.home_source,
            "binds": sorted(spec.binds), "devices": spec.devices,
            "gpus": spec.gpus, "create_env": _create_env(spec),
            "caps": sorted(spec.cap_add), "pids": spec.pids_limit,
            "files": {k: _text(v) for k, v in sorted(_user_files(spec).items())},
            "root": root, "project": project, "idle": idle, "cache": str(cache_dir()),
            "project_dir": spec.labels.get(LABEL_PROJECT_DIR, "")}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _create_env(spec: LaunchSpec) -> dict[str, str]:
    """The variables of ``spec``'s environment the container runtime reads when it creates
    the container (:data:`landscape.engine.gpu.CREATE_ENV`): a workspace's own, not a
    launch's."""
    return {k: spec.environment[k] for k in CREATE_ENV if k in spec.environment}


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.hex()


def _user_files(spec: LaunchSpec) -> dict[str, str | bytes]:
    return {k: v for k, v in spec.files.items() if k in ("/etc/passwd", "/etc/group")}


def host_folder(name: str) -> Path:
    """The host folder of workspace ``name`` (``<user cache>/workspaces/<name>``)."""
    return cache_dir() / "workspaces" / name


def workspace_config(spec: LaunchSpec, folder: Path, root: str, project: str, idle: int,
                     digest: str, secrets: Path | None = None) -> dict[str, Any]:
    """The Engine API create body of ``spec``'s workspace: :func:`container_config` of
    ``spec`` with the idle watcher as command, only ``USER``/``LOGNAME``/``HOME`` and what
    the runtime reads at creation (``NVIDIA_*``, :func:`_create_env`) as environment (the
    rest is per launch), the host ``folder`` read-only at :data:`FILES`, the workspace's
    ``secrets`` folder (when given) read-only at ``/run/secrets``, the private tmpfs
    :data:`CONTROL`, and the workspace labels. Writes the workspace's
    ``/etc/passwd`` and ``/etc/group`` into ``folder``."""
    step = max(1, min(30, idle // 10))
    labels = {k: v for k, v in spec.labels.items() if k not in (LABEL_CONTEXT,
                                                                 LABEL_TOOL)}
    labels.update({LABEL_ROLE: ROLE, LABEL_WORKSPACE: digest,
                   LABEL_IMAGE: spec.image, LABEL_ROOT: root,
                   LABEL_PROJECT: project, LABEL_USER: str(spec.uid),
                   LABEL_IDLE: str(idle), LABEL_FOLDER: str(folder),
                   "io.landscape.folder-id": folder_id(folder),
                   "io.landscape.secrets": str(secrets or ""),
                   "io.landscape.secrets-id": folder_id(secrets) if secrets else ""})
    base = replace(spec, argv=["/bin/sh", "-c", WATCHER, "landscape-watch", str(idle),
                               str(step)],
                   environment={**{k: spec.environment[k] for k in ("USER", "LOGNAME", "HOME")
                                   if k in spec.environment}, **_create_env(spec)},
                   files=_user_files(spec), labels=labels, secret_files={},
                   secret_env=frozenset())
    config = container_config(base, write_files(base, folder),
                              secrets=str(secrets) if secrets else None)
    host = config["HostConfig"]
    host["Mounts"].append({"Type": "bind", "Source": str(folder), "Target": FILES,
                           "ReadOnly": True})
    host["Tmpfs"][CONTROL] = f"rw,nosuid,nodev,noexec,uid={spec.uid},gid={spec.gid},mode=0700"
    return config


def folder_id(folder: Path) -> str:
    """``device:inode`` of a host folder (a folder deleted and made again is another one)."""
    st = folder.stat()
    return f"{st.st_dev}:{st.st_ino}"


def exec_config(spec: LaunchSpec, launch_id: str, files: dict[str, str], tty: bool,
                stdin: bool) -> dict[str, Any]:
    """The Engine API exec body (``POST /containers/{id}/exec``) of one warm launch:
    ``spec``'s user, environment (with the paths of moved per-launch ``files``, container
    path → path under :data:`FILES`, rewritten) and argv behind :data:`WRAPPER`."""
    env = {k: files.get(v, v) for k, v in spec.environment.items()}
    return {"User": f"{spec.uid}:{spec.gid}", "Env": env_items(env), "Tty": tty,
            "AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True,
            "Cmd": ["/bin/sh", "-c", WRAPPER, "landscape-warm", launch_id, *spec.argv]}


def exec_argv(container: str, config: dict[str, Any],
              hidden: Any = ()) -> list[str]:
    """The ``docker exec`` command line of exec body ``config``: every value one whole
    ``--flag=value`` argument or one argument of the command (the CLI stops reading flags at
    the container name), nothing split or quoted. Variables named in ``hidden`` (secrets)
    are given by name alone (``--env=NAME``): the CLI takes their values from its own
    environment, so they never show in the host's process table."""
    argv = [docker_cli(), "exec", f"--user={config['User']}"]
    argv += ["--interactive"] if config["AttachStdin"] else []
    argv += ["--tty"] if config["Tty"] else []
    argv += [f"--env={item.split('=', 1)[0] if item.split('=', 1)[0] in hidden else item}"
             for item in config["Env"]]
    return [*argv, container, *config["Cmd"]]


def _inspect(name: str) -> dict | None:
    try:
        return dk.api("GET", f"/containers/{name}/json")
    except dk.APIError as e:
        if e.status == 404:
            return None
        raise


def _usable(data: dict, digest: str, folder: Path, secrets: Path | None) -> bool:
    labels = (data.get("Config") or {}).get("Labels") or {}
    try:
        fid = folder_id(folder)
        sid = folder_id(secrets) if secrets is not None else ""
    except OSError:
        return False
    if labels.get("io.landscape.secrets") != str(secrets or "") or \
            labels.get("io.landscape.secrets-id") != sid:
        return False
    return (data.get("State") or {}).get("Running") is True and \
        labels.get(LABEL_ROLE) == ROLE and \
        labels.get(LABEL_WORKSPACE) == digest and \
        labels.get("io.landscape.folder-id") == fid and \
        data.get("Image") == labels.get(LABEL_IMAGE)


def ensure_workspace(spec: LaunchSpec, root: str, project: str, idle: int) -> str:
    """The name of ``spec``'s running workspace: reused when one with its identity runs
    (same labels, image and host folder), else created and started — under a per-workspace
    lock file, so concurrent launches make one; a stopped or mismatched container of that
    name is removed first. ``spec.image`` must be an image id. Raises :class:`EngineError`
    when the engine refuses."""
    digest = identity(spec, root, project, idle)
    name = PREFIX + digest[:20]
    folder = host_folder(name)
    secrets = secrets_folder(name)
    data = _inspect(name)
    if data is not None and _usable(data, digest, folder, secrets):
        return name
    from filelock import FileLock

    lock = cache_dir() / "locks" / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        data = _inspect(name)
        if data is not None and _usable(data, digest, folder, secrets):
            return name
        if data is not None:
            remove(name)
            _wait(name, lambda d: d is None)
        sweep()
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        if secrets is not None:
            shutil.rmtree(secrets, ignore_errors=True)
            secrets.mkdir(mode=0o700)
        verify_binds(spec)
        prepare(spec)
        try:
            create(workspace_config(spec, folder, root, project, idle, digest, secrets), name)
            dk.api("POST", f"/containers/{name}/start")
        except dk.APIError as e:
            remove(name)
            raise EngineError(f"the engine refused the workspace: {e.message}") from None
    return name


def secrets_folder(name: str) -> Path | None:
    """The host folder (on a tmpfs) of workspace ``name``'s per-launch secret files:
    ``<secret base>/<name>`` (:func:`landscape.engine.secrets.secret_base`), or ``None``
    when the host has no tmpfs for them, or none that is the user's alone (a warm launch
    with a file secret then says so)."""
    try:
        base = secret_base()
    except LandscapeError:
        return None
    return base / name if base is not None else None


def _wait(name: str, done: Any, timeout: float = 10) -> bool:
    """Poll the inspect data of container ``name`` (``None`` when gone) until ``done(data)``;
    ``False`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if done(_inspect(name)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _stopped(data: dict | None) -> bool:
    return data is None or not (data.get("State") or {}).get("Running")


def run_warm(spec: LaunchSpec, root: str, project: str, idle: int, *, tty: bool,
             stdin: bool) -> int:
    """Run ``spec`` in its workspace (:func:`ensure_workspace`) with ``docker exec`` and
    return the tool's exit code; ``tty``/``stdin`` as in
    :func:`landscape.engine.launch.run`. Signals: see the module doc. A launch that meets a
    closing workspace runs again in a new one."""
    for _attempt in range(3):
        name = ensure_workspace(spec, root, project, idle)
        code = _exec(spec, name, tty, stdin)
        if code != CLOSING or not _wait(name, _stopped, timeout=3):
            return code
    return code


def _exec(spec: LaunchSpec, name: str, tty: bool, stdin: bool) -> int:
    launch_id = os.urandom(8).hex()
    per_launch = host_folder(name) / launch_id
    per_launch.mkdir(mode=0o700)
    secret_files = None
    try:
        moved = {}
        for target, content in spec.files.items():
            if target in ("/etc/passwd", "/etc/group"):
                continue
            base = os.path.basename(target).lstrip(".") or "file"
            write_file(per_launch / base, content, spec.file_modes.get(target, 0o644))
            moved[target] = f"{FILES}/{launch_id}/{base}"
        if spec.secret_files:
            parent = secrets_folder(name)
            if parent is None or not parent.is_dir():
                raise LandscapeError("secrets `as: file` need a tmpfs: this workspace has "
                                     "none (no private $XDG_RUNTIME_DIR and no /dev/shm)")
            secret_files = write_secret_files(spec.secret_files, parent, launch_id)
            for secret in spec.secret_files:
                moved[f"{CONTAINER_FOLDER}/{secret}"] = \
                    f"{CONTAINER_FOLDER}/{launch_id}/{secret}"
        config = exec_config(spec, launch_id, moved, tty, stdin)

        def deliver(signame: str) -> bool:
            return signal_launch(name, spec, launch_id, signame)

        if not tty and not stdin:
            code = _exec_api(name, config, deliver)
            if code is not None:
                return code
        hidden = {k: v for k, v in spec.environment.items() if k in spec.secret_env}
        return attach(exec_argv(name, config, hidden), deliver, tty=tty, stdin=stdin,
                      env=hidden)
    finally:
        shutil.rmtree(per_launch, ignore_errors=True)
        remove_folder(secret_files)


def _exec_api(name: str, config: dict[str, Any], deliver: Any) -> int | None:
    """Run exec body ``config`` in workspace ``name`` through the Engine API itself (exec
    create, start, the multiplexed output copied to this process's stdout/stderr, then the
    exec's exit code) — no Docker CLI process, for a launch without stdin or terminal.
    SIGINT, SIGTERM and SIGHUP go to the tool with ``deliver`` as in
    :func:`landscape.engine.launch.attach` (a second SIGINT delivers SIGKILL; a tool already
    gone ends the launch with 130). ``None`` when the engine is not reached over its socket
    (TLS, ssh): the caller uses the CLI."""
    import signal
    import sys

    from .launch import _writer

    made = dk.api("POST", f"/containers/{name}/exec", body=config)
    writers = {1: _writer(sys.stdout), 2: _writer(sys.stderr)}
    interrupts = 0

    def forward(signum: int, _frame: Any) -> None:
        nonlocal interrupts
        interrupts += signum == signal.SIGINT
        if not deliver("SIGKILL" if interrupts > 1 else signal.Signals(signum).name):
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, forward)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if not dk.stream(f"/exec/{made['Id']}/start", {"Detach": False, "Tty": False},
                         lambda kind, data: writers.get(kind, writers[2])(data)):
            return None
    except KeyboardInterrupt:
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = (dk.api("GET", f"/exec/{made['Id']}/json") or {}).get("ExitCode")
    return int(code) if isinstance(code, int) else 1


def signal_launch(name: str, spec: LaunchSpec, launch_id: str, signame: str) -> bool:
    """Deliver ``signame`` (``SIGINT``…) to warm launch ``launch_id`` in workspace ``name``
    by exec'ing :data:`KILLER` there as the launch's user (Engine API: exec create, then
    start detached). ``False`` when the workspace is gone."""
    body = {"User": f"{spec.uid}:{spec.gid}", "AttachStdout": False, "AttachStderr": False,
            "Cmd": ["/bin/sh", "-c", KILLER, "landscape-kill", signame.removeprefix("SIG"),
                    launch_id]}
    try:
        made = dk.api("POST", f"/containers/{name}/exec", body=body)
        dk.api("POST", f"/exec/{made['Id']}/start", body={"Detach": True, "Tty": False})
    except dk.APIError:
        return False
    return True


def workspaces(root: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """This user's workspaces (of studio ``root`` and ``project`` when given), as
    ``{"name", "project", "root", "image", "key", "state", "status", "idle", "created"}``
    (``idle``: the idle time in seconds; ``created``: epoch seconds); ``state`` is
    ``"stale"`` for a running workspace whose image was removed (the engine keeps an image
    a container uses, untagged) — no launch uses it again; it stops when idle."""
    filters = {"label": [f"io.landscape.role={ROLE}", f"io.landscape.user={os.getuid()}"]}
    rows = []
    for c in dk.api("GET", "/containers/json", {"all": "1", "filters": json.dumps(filters)}):
        labels = c.get("Labels") or {}
        if root is not None and labels.get(LABEL_ROOT) != root:
            continue
        if project is not None and labels.get(LABEL_PROJECT) != project:
            continue
        image = labels.get(LABEL_IMAGE, "")
        state = c.get("State", "")
        if state == "running" and not (dk.inspect_image(image) or {}).get("RepoTags"):
            state = "stale"  # its image was removed (untagged: still in use) or is gone
        rows.append({"name": (c.get("Names") or ["/"])[0].lstrip("/"),
                     "project": labels.get(LABEL_PROJECT, ""),
                     "root": labels.get(LABEL_ROOT, ""), "image": image,
                     "key": labels.get(LABEL_KEY, ""), "state": state,
                     "status": c.get("Status", ""),
                     "idle": int(labels.get(LABEL_IDLE, "0") or 0),
                     "created": c.get("Created", 0)})
    return sorted(rows, key=lambda r: (r["project"], r["name"]))


def stop(rows: list[dict[str, Any]]) -> list[str]:
    """Stop and remove the workspaces ``rows`` (from :func:`workspaces`; launches running
    in them end) and their host folders; returns their names."""
    for r in rows:
        remove(r["name"])
        shutil.rmtree(host_folder(r["name"]), ignore_errors=True)
        _remove_secrets_folder(r["name"])
    return [r["name"] for r in rows]


def _remove_secrets_folder(name: str) -> None:
    remove_folder(secrets_folder(name))


def sweep(min_age: float = 60) -> None:
    """Remove the host folders (and secrets folders) of workspaces that no longer exist
    (they stopped when idle), older than ``min_age`` seconds (a folder made just now may
    belong to a workspace being created)."""
    top = cache_dir() / "workspaces"
    if not top.is_dir():
        return
    alive = {r["name"] for r in workspaces()}
    now = time.time()
    try:
        base = secret_base()
    except LandscapeError:
        base = None
    for entry in [*(base.iterdir() if base is not None else ()), *top.iterdir()]:
        if entry.name.startswith(PREFIX) and entry.name not in alive:
            try:
                if now - entry.lstat().st_mtime > min_age:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                pass
