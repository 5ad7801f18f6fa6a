"""``launch --host``: the tool of a resolved context run on this machine, without a container
(docs/commands.md, Launches on the host).

The environment is the one a container of the context gets (:attr:`LaunchInputs.env`: rez's
environment of the tool's packages, the ``LANDSCAPE_*`` variables, every env action), with
each package's image folder (``/landscape/packages/<name>/<version>``) put back to the
package's folder in its repository on this machine — the folder rez solved from, so the
payloads the solve read are the payloads the tool runs — and ``REZ_USED_PACKAGES_PATH`` the
repositories searched. ``PATH`` is rez's: the packages' folders, then the standard system
folders (``/usr/local/bin:/usr/bin:/bin…``), as ``rez-env`` gives it. ``USER``, ``LOGNAME``
and ``HOME`` are the user's own (the real home: ``launch.home`` does not apply), the display
variables of the session (``DISPLAY``, ``XAUTHORITY``, ``WAYLAND_DISPLAY``,
``XDG_RUNTIME_DIR``, ``DBUS_SESSION_BUS_ADDRESS``) and ``TERM``, ``COLORTERM``, ``TZ`` come
from this process, and ``LANDSCAPE_CONTEXT_FILE`` names a private copy of the resolved
context (removed afterwards). Secrets are read as for a container; ``as: file`` secrets go
in a private folder on a tmpfs (:func:`landscape.engine.secrets.write_secret_files`).

The working directory and its ``dirs`` are made, the tool starts there, and its exit code
is the launch's (``128 + N`` when a signal N ended it); Ctrl-C, SIGTERM and SIGHUP reach it
as in a container launch (:func:`landscape.engine.launch.attach`). Nothing of the policy's
mounts or the container's isolation applies: the tool runs as the user, with everything the
user may reach.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

from ..errors import LandscapeError
from ..identity import user_name
from ..launchinputs import LaunchInputs
from ..names import VAR_CONTEXT_FILE
from .launch import attach, check_launchable
from .secrets import read_secrets, remove_folder, write_secret_files

#: variables of the user's session a tool on the host keeps
SESSION = ("DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR",
           "DBUS_SESSION_BUS_ADDRESS", "TERM", "COLORTERM", "TZ")


def to_host(inputs: LaunchInputs, value: str) -> str:
    """``value`` (a container environment value) with each package's image folder replaced
    by its folder on this machine (the longest first; a folder only where a whole path
    component ends: ``/landscape/packages/python/3.1`` never matches inside ``…/3.11``)."""
    pairs = sorted(((p.image_base, p.base) for p in inputs.image.packages),
                   key=lambda kv: len(kv[0]), reverse=True)
    for image, host in pairs:
        if image in value:
            value = re.sub(re.escape(image) + r"(?=[/:]|$)", lambda _m, h=host: h, value)
    return value


def host_environment(inputs: LaunchInputs, context_file: str) -> dict[str, str]:
    """The environment of ``inputs``' tool on this machine (see the module doc), before
    secrets; ``context_file`` is where ``LANDSCAPE_CONTEXT_FILE`` points."""
    env = {k: to_host(inputs, v) for k, v in inputs.env.items()}
    user = user_name()
    env.update(USER=user, LOGNAME=user, HOME=os.path.expanduser("~"))
    env["REZ_USED_PACKAGES_PATH"] = os.pathsep.join(inputs.image.repositories)
    env[VAR_CONTEXT_FILE] = context_file
    for name in SESSION:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def make_workdir(workdir: str, dirs: list[str]) -> None:
    """Make the working directory and its ``dirs`` (as ``landscape-enter`` does in a
    container). Raises :class:`LandscapeError` naming the folder that cannot be made."""
    for folder in [workdir] + [os.path.join(workdir, d) for d in dirs]:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise LandscapeError(f"cannot make the working folder {folder}: "
                                 f"{e.strerror}") from None


def run_host(inputs: LaunchInputs, args: list[str], *, tty: bool, stdin: bool,
             command: list[str] | None = None) -> int:
    """Run ``inputs``' tool (``command`` instead of its argv, for a shell) with ``args`` on
    this machine and return its exit code (see the module doc). Raises
    :class:`LandscapeError` for what any launch refuses (:func:`check_launchable`), a
    ``gui: true`` tool without a display (``DISPLAY``/``WAYLAND_DISPLAY``), a secret that
    cannot be read, or a command that is not on the tool's ``PATH``."""
    check_launchable(inputs)
    if inputs.gui:
        from .display import require_display

        require_display(os.environ, inputs.tool)
    assert inputs.workdir is not None
    secrets = read_secrets(inputs.user_state.secrets)
    scratch = tempfile.mkdtemp(prefix="landscape-host-")
    secret_folder = None
    try:
        context_file = os.path.join(scratch, "context.json")
        with open(context_file, "w") as f:
            json.dump(inputs.context_json, f, indent=1, default=str)
        env = host_environment(inputs, context_file)
        env.update(secrets.env)
        if secrets.files:
            secret_folder = write_secret_files(secrets.files)
            env.update({n: str(secret_folder / n) for n in secrets.files})
        argv = list(command) if command is not None else [*inputs.command, *args]
        found = shutil.which(argv[0], path=env.get("PATH", "")) if argv else None
        if found is None:
            raise LandscapeError(f"tool {inputs.tool!r}: {argv[0] if argv else 'no command'!r}"
                                 " is not on its PATH on this machine",
                                 hint="launch --host runs what the host has installed")
        make_workdir(inputs.workdir, inputs.dirs)
        return attach([found, *argv[1:]], None, tty=tty, stdin=stdin, environ=env,
                      cwd=inputs.workdir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        remove_folder(secret_folder)
