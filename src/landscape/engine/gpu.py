"""The GPUs of a ``gpu: true`` launch (docs/config.md, Displays and GPUs).

What a machine offers containers is read at launch time (:func:`detect`, a few ``stat``
calls) and turned into container configuration by :func:`gpu_setup`, a pure function of
it — so each case is tested by passing a :class:`GpuHost`:

- **NVIDIA** (a loaded NVIDIA driver — ``/proc/driver/nvidia/version`` or ``nvidia-smi`` —
  and the NVIDIA Container Toolkit's ``nvidia-container-runtime-hook``, which is what makes
  the Docker engine offer its ``gpu`` device driver): every GPU, through the Engine API's
  ``DeviceRequests`` (:func:`all_gpus`, what ``docker run --gpus all`` sends), with
  ``NVIDIA_VISIBLE_DEVICES=all`` and ``NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility``
  in the container's environment — the toolkit reads them when it creates the container
  and injects the driver's OpenGL and Vulkan libraries (``graphics``), CUDA and OpenCL
  (``compute``) and ``nvidia-smi`` (``utility``); without ``graphics`` a viewport gets no
  OpenGL.
- **DRI** (Mesa: Intel, AMD, nouveau; also NVIDIA's ``nvidia-drm`` nodes): each device
  node of ``/dev/dri`` the launching user can open (``cardN``, ``renderDN``), as a device of
  the container, plus the group owning each node as a supplementary group (``GroupAdd``,
  by gid): a desktop often grants the seat's user a node through an ACL, which does not
  reach the container's copy of the node, while its group does.
- Neither: the launch goes on with software rendering, and :attr:`GpuSetup.warning` says
  so in one line.

Whether or not a launch gets GPUs, ``NVIDIA_VISIBLE_DEVICES`` is Landscape's: ``void``
when it gets none, so neither a config's ``env`` nor an image's ``ENV`` can ask a machine
whose default runtime is NVIDIA's for GPUs the policy did not grant.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field

#: the NVIDIA driver capabilities a GPU launch gets unless its tool's ``env`` names others
DRIVER_CAPABILITIES = "graphics,compute,utility"
#: the environment variables the container runtime reads when it creates the container:
#: they go into the container's own configuration (a workspace's too), not only a process's
CREATE_ENV = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")
_NODE = re.compile(r"(card|renderD)[0-9]{1,4}")
#: where the NVIDIA Container Toolkit installs its hook, besides ``PATH``
_SYSTEM_PATH = "/usr/bin:/usr/local/bin:/usr/sbin:/usr/local/sbin:/bin:/sbin"


@dataclass(frozen=True)
class GpuHost:
    """What this machine offers containers: ``nvidia`` (an NVIDIA driver is loaded),
    ``nvidia_toolkit`` (the NVIDIA Container Toolkit's hook is installed) and ``dri``, the
    ``/dev/dri`` device nodes the launching user can open as ``(path, group id)``."""

    nvidia: bool = False
    nvidia_toolkit: bool = False
    dri: tuple[tuple[str, int], ...] = ()


@dataclass
class GpuSetup:
    """A launch's GPU configuration: ``devices`` (``host:container:permissions``),
    ``groups`` (gids to add), ``nvidia`` (request every NVIDIA GPU, :func:`all_gpus`),
    ``env`` (for the container's own environment: :data:`CREATE_ENV`) and ``warning``
    (one line, when the tool runs with less than it asked for)."""

    devices: list[str] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    nvidia: bool = False
    env: dict[str, str] = field(default_factory=dict)
    warning: str | None = None


def detect(dev_dri: str = "/dev/dri", nvidia_proc: str = "/proc/driver/nvidia/version",
           path: str | None = None) -> GpuHost:
    """What this machine offers containers (read now: a machine's GPUs and driver change).
    ``path`` is the ``PATH`` searched for ``nvidia-smi`` and the toolkit's
    ``nvidia-container-runtime-hook`` (default: ``PATH`` and the system folders)."""
    search = path if path is not None else os.environ.get("PATH", "") + os.pathsep + \
        _SYSTEM_PATH
    nvidia = os.path.exists(nvidia_proc) or shutil.which("nvidia-smi", path=search) is not None
    toolkit = shutil.which("nvidia-container-runtime-hook", path=search) is not None
    nodes = []
    try:
        names = sorted(os.listdir(dev_dri))
    except OSError:
        names = []
    for name in names:
        node = f"{dev_dri}/{name}"
        try:
            st = os.lstat(node)  # the node itself: a link is not passed
        except OSError:
            continue
        if _NODE.fullmatch(name) and stat.S_ISCHR(st.st_mode) \
                and os.access(node, os.R_OK | os.W_OK):
            nodes.append((node, st.st_gid))
    return GpuHost(nvidia=nvidia, nvidia_toolkit=toolkit, dri=tuple(nodes))


def gpu_setup(host: GpuHost, tool: str, env: dict[str, str]) -> GpuSetup:
    """The GPU configuration of a ``gpu: true`` launch of ``tool`` on ``host`` (see the
    module doc). ``env`` is the launch's environment so far: a
    ``NVIDIA_DRIVER_CAPABILITIES`` it sets is kept."""
    setup = GpuSetup()
    notes = []
    if host.nvidia and host.nvidia_toolkit:
        setup.nvidia = True
        setup.env = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES":
                     env.get("NVIDIA_DRIVER_CAPABILITIES") or DRIVER_CAPABILITIES}
    else:
        setup.env = {"NVIDIA_VISIBLE_DEVICES": "void"}
        if host.nvidia:
            notes.append("this machine has an NVIDIA driver but not the NVIDIA Container "
                         "Toolkit (nvidia-container-runtime-hook), so no NVIDIA GPU")
    for node, gid in host.dri:
        setup.devices.append(f"{node}:{node}:rwm")
        if gid not in setup.groups:
            setup.groups.append(gid)
    if not setup.nvidia and not setup.devices:
        why = notes[0] if notes else "this machine has no GPU a container can use " \
            "(no NVIDIA driver, no /dev/dri device you may open)"
        setup.warning = f"tool {tool!r} asks for a GPU (gpu: true), but {why}: it runs " \
            "with software rendering"
    elif notes:
        setup.warning = f"tool {tool!r}: {notes[0]}; it gets only /dev/dri"
    return setup


def no_gpu_env() -> dict[str, str]:
    """The container environment of a launch without GPUs (see the module doc)."""
    return {"NVIDIA_VISIBLE_DEVICES": "void"}


def all_gpus() -> dict:
    """The Engine API's device request for every NVIDIA GPU (``HostConfig.DeviceRequests``
    item; what ``docker run --gpus all`` sends): the engine's ``gpu`` device driver, which
    the NVIDIA Container Toolkit registers."""
    return {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}
