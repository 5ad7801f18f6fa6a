"""``landscape render --swarm``: the chunks of a render run as Docker Swarm services
(docs/commands.md, render on a Swarm; docs/security.md, what holds on a Swarm).

The scheduler is the local render's (:func:`landscape.engine.render.render`: chunks,
retries, verification on disk, attempt-private outputs, ``--resume``, ``--timeout``, a stop
that cleans up); only the chunk runner differs. :class:`SwarmRunner` runs **each attempt of
a chunk as one Swarm service** of mode ``replicated-job`` (``TotalCompletions`` 1,
``MaxConcurrent`` 1, restart condition ``none``), whose command is the chunk's argv —
the launch's own argv (:func:`landscape.engine.launch.launch_spec`) with the chunk's
arguments appended. Why one service per attempt, rather than one job of many tasks:

- the tasks of a replicated job get no arguments of their own, only a slot number (and on
  Engine 20.10 the slot of a job renders as the node's ID in service templates), so a task
  cannot be told which frames are its own;
- Swarm has no failed state for a job: a slot that has used up its restarts leaves the job
  at ``0/k`` for ever — hence restart condition ``none``: Landscape retries, after it has
  checked the frames;
- only Landscape can verify the frames on disk before a chunk counts as done;
- Engine 20.10 never removes the finished tasks of a job — and removing a job's service
  neither stops nor removes its task's container — so Landscape removes each service, the
  configs and secrets made for it and, on this node, its task's container when its attempt
  ends. (Swarm keeps the records of those tasks until the node leaves the Swarm; a task on
  another node that a stop or ``--timeout`` abandons runs until its tool ends there.)

The image runs by digest — ``REGISTRY/landscape/<project>@sha256:…``, pushed first
(:func:`landscape.engine.registry.push_image`) — so every node runs the very image that was
checked here, never whatever a tag names by then. The generated files of a launch
(``/etc/passwd``, ``/etc/group``, ``/landscape/context.json``, an Xauthority cookie) become
**Swarm configs** mounted at their paths, and the launch's secret files become **Swarm
secrets** under ``/run/secrets``: no host scratch folder is bound (other nodes do not have
it). Storage and a persistent home are bind mounts, so they must exist at the same paths
on every node, and frames are verified from this host: the storage must be shared at the
same paths everywhere (on a one-node Swarm that holds trivially).

What Swarm (Engine API 1.41) cannot give a task is either refused before anything starts
(device mappings: :func:`refusals`) or reported once as a ``warning:`` line
(:func:`losses`): ``no-new-privileges`` (no field for it in a service's spec at that API
version) and tmpfs ownership (a service's tmpfs mounts take a mode, not an owner).
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import EngineError, LandscapeError
from . import docker as dk
from .render import (LABEL_RENDER_CHUNK, LABEL_RENDER_ID, Interrupted, LocalRender,
                     RenderResult, run_with)

if TYPE_CHECKING:
    from ..frames import Chunk
    from ..launchinputs import LaunchInputs
    from .launch import LaunchSpec

Log = Callable[[str], None]

#: label on the services, configs and secrets of one attempt: ``<chunk index>.<attempt>``
LABEL_RENDER_ATTEMPT = "io.landscape.render.attempt"
#: seconds between two looks at a service's task
POLL = 0.25
#: seconds a task may stay pending with "no suitable node" before the render stops
UNPLACED_GRACE = 5.0
#: size of ``/dev/shm`` (bytes), as a local launch's ``ShmSize``
SHM_BYTES = 1 << 30
#: mode of the tmpfs mounts of a task: world-writable with the sticky bit (they take no owner)
TMPFS_MODE = 0o1777
#: the Swarm generic resource a GPU task reserves (nodes advertise it:
#: ``node-generic-resources`` in the engine's daemon.json)
GPU_RESOURCE = "NVIDIA-GPU"

NOT_A_SWARM = ("the Docker engine is not part of a Swarm: docker swarm init, or join one")
NOT_A_MANAGER = ("the Docker engine is a Swarm worker, not a manager: render --swarm from a "
                 "manager node (docker node ls shows them)")
#: task states that mean "not there yet" (Engine API 1.41, TaskState)
WAITING = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing",
                     "ready", "starting", "running"})
#: task states that end a task
ENDED = frozenset({"complete", "failed", "shutdown", "orphaned", "remove"})
#: a name Swarm accepts for a service, config or secret (we make them; checked anyway)
_OBJECT_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?")
#: a secret's file name below /run/secrets
_SECRET_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _one_line(text: object, limit: int = 300) -> str:
    from .registry import one_line

    return one_line(text, limit)


# -- preconditions ---------------------------------------------------------------------------

def check_swarm_info(info: dict) -> None:
    """Refuse a render on a Swarm unless the engine's ``GET /info`` answer ``info`` says
    it is an active Swarm node (``Swarm.LocalNodeState`` ``active``) and a manager
    (``Swarm.ControlAvailable``): only managers create services. Raises
    :class:`LandscapeError` (one line)."""
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise LandscapeError(NOT_A_SWARM)
    if not swarm.get("ControlAvailable"):
        raise LandscapeError(NOT_A_MANAGER)


def check_swarm() -> None:
    """:func:`check_swarm_info` on the engine's ``GET /info``. Raises
    :class:`EngineError` when no engine answers."""
    check_swarm_info(dk.api("GET", "/info") or {})


def ready_cpus(nodes: Iterable[dict]) -> int:
    """The CPUs of the Swarm's nodes that can take tasks — ``Status.State`` ``ready`` and
    ``Spec.Availability`` ``active`` — from ``GET /nodes`` (``Description.Resources.NanoCPUs``,
    in billionths of a CPU); at least 1."""
    total = 0
    for node in nodes:
        if (node.get("Status") or {}).get("State") != "ready" \
                or (node.get("Spec") or {}).get("Availability", "active") != "active":
            continue
        nano = ((node.get("Description") or {}).get("Resources") or {}).get("NanoCPUs") or 0
        if isinstance(nano, int) and nano > 0:
            total += nano // 1_000_000_000
    return max(1, total)


def swarm_cpus() -> int:
    """:func:`ready_cpus` of the engine's ``GET /nodes`` — ``--parallel``'s default on a
    Swarm. Raises :class:`EngineError` when the engine refuses (not a manager)."""
    return ready_cpus(dk.api("GET", "/nodes") or [])


# -- what holds on a Swarm -------------------------------------------------------------------

def refusals(spec: "LaunchSpec") -> None:
    """Refuse a launch ``spec`` that needs what a Swarm service cannot give: device
    mappings (``spec.devices``: a service's spec has no devices in Engine API 1.41).
    Raises :class:`LandscapeError` before anything starts."""
    if spec.devices:
        raise LandscapeError(
            "--swarm cannot map devices into a service (" + ", ".join(
                _one_line(d.split(":")[0], 80) for d in spec.devices[:3])
            + "): render this tool on this machine, without --swarm")


def losses(spec: "LaunchSpec") -> list[str]:
    """The hardening a local launch of ``spec`` has and its Swarm service lacks, one line
    each (shown once, as ``warning:`` lines, at the start of the render)."""
    lines = ["--swarm: no-new-privileges cannot be set on a service with Engine API 1.41 "
             "(every capability is still dropped, so a set-user-ID program gains none; the "
             "engines' daemon.json \"no-new-privileges\": true restores it)"]
    if spec.home_source is None:
        lines.append("--swarm: tmpfs mounts of a service take no owner: the private home "
                     f"{spec.home} is a tmpfs of mode 1777 (sticky), private to the task's "
                     "container")
    lines.append("--swarm: a service's tmpfs mounts (/tmp, /var/tmp, /run, /dev/shm) are "
                 "noexec: programs a tool unpacks there cannot run")
    if spec.gpus:
        lines.append(f"--swarm: GPUs are reserved as the generic resource {GPU_RESOURCE}: "
                     "only nodes that advertise it take the chunks")
    return lines


# -- the service -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Attached:
    """A Swarm config or secret made for one attempt: its ``id`` and ``name`` (Swarm's),
    the ``target`` it is mounted at (a config: an absolute path; a secret: a file name
    under ``/run/secrets``) and its ``mode``."""

    id: str
    name: str
    target: str
    mode: int


def object_name(render_id: str, index: int, suffix: str = "") -> str:
    """The name of the service of attempt ``index`` of render ``render_id`` (``suffix``:
    of one of its configs or secrets) — ``landscape-render-<id>-<index>[-<suffix>]``.
    Raises :class:`LandscapeError` when it is not a name Swarm takes."""
    name = f"landscape-render-{render_id}-{index}" + (f"-{suffix}" if suffix else "")
    if not _OBJECT_NAME.fullmatch(name):
        raise LandscapeError(f"{_one_line(repr(name), 100)} is not a Swarm object name")
    return name


def object_body(name: str, content: str | bytes, labels: dict[str, str]) -> dict[str, Any]:
    """The body of ``POST /configs/create`` or ``POST /secrets/create``: ``Name``,
    ``Labels`` and the ``content`` base64-encoded in ``Data``."""
    data = content if isinstance(content, bytes) else content.encode()
    return {"Name": name, "Labels": dict(labels), "Data": base64.b64encode(data).decode()}


def secret_file(name: str) -> str:
    """``name`` when it may be a secret's file name under ``/run/secrets`` (no ``/``, no
    leading dot); else :class:`LandscapeError`."""
    if not _SECRET_FILE.fullmatch(name):
        raise LandscapeError(f"secret file name {_one_line(repr(name), 80)} cannot be a Swarm "
                             "secret's file name")
    return name


def service_spec(spec: "LaunchSpec", name: str, labels: dict[str, str],
                 configs: Iterable[Attached] = (), secrets: Iterable[Attached] = ()
                 ) -> dict[str, Any]:
    """The body of ``POST /services/create`` (Engine API 1.41, ``ServiceSpec``) running
    ``spec`` once: mode ``ReplicatedJob`` (1 completion, 1 at a time), restart condition
    ``none``. Every value is a JSON field of its own — the argv a list (``Command``), the
    environment ``KEY=VALUE`` items, each mount a ``Source``/``Target`` pair — so nothing
    is parsed out of a string.

    The container: ``spec.image`` (a digest reference), ``User`` ``uid:gid``, ``Groups``,
    ``Init``, a read-only root filesystem, every capability dropped (``spec.cap_add``
    added back), ``Resources.Limits.Pids``; mounts: the storage binds at their targets
    (read-only where ``ro``), tmpfs at ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``
    (1 GiB), the home (``spec.home_source`` bound read-write, else a tmpfs: mode 1777 —
    a service's tmpfs takes no owner, and the mount is the task's alone); the generated
    files as the ``configs`` (owned by ``uid:gid``, mode from ``spec.file_modes`` as a
    local launch), the secret files as ``secrets`` (mode 0400). ``labels`` go on the
    service and its containers; GPUs reserve one :data:`GPU_RESOURCE`.

    Raises :class:`LandscapeError` for an environment name an ``Env`` item cannot carry
    (:func:`landscape.engine.launch.env_items`)."""
    from .launch import env_items

    owner = {"UID": str(spec.uid), "GID": str(spec.gid)}
    mounts: list[dict[str, Any]] = [
        {"Type": "bind", "Source": s, "Target": t, "ReadOnly": m == "ro"}
        for s, t, m in spec.binds]
    for target in ("/tmp", "/var/tmp", "/run"):
        mounts.append({"Type": "tmpfs", "Target": target,
                       "TmpfsOptions": {"Mode": TMPFS_MODE}})
    mounts.append({"Type": "tmpfs", "Target": "/dev/shm",
                   "TmpfsOptions": {"SizeBytes": SHM_BYTES, "Mode": TMPFS_MODE}})
    if spec.home_source is None:
        mounts.append({"Type": "tmpfs", "Target": spec.home,
                       "TmpfsOptions": {"Mode": TMPFS_MODE}})
    else:
        mounts.append({"Type": "bind", "Source": spec.home_source, "Target": spec.home,
                       "ReadOnly": False})
    container: dict[str, Any] = {
        "Image": spec.image, "Command": list(spec.argv), "Env": env_items(spec.environment),
        "User": f"{spec.uid}:{spec.gid}", "Groups": list(spec.group_add),
        "Labels": dict(labels), "Init": True, "ReadOnly": True,
        "CapabilityDrop": ["ALL"], "CapabilityAdd": list(spec.cap_add) or None,
        "Mounts": mounts,
        "Configs": [{"File": {"Name": c.target, **owner, "Mode": c.mode},
                     "ConfigID": c.id, "ConfigName": c.name} for c in configs],
        "Secrets": [{"File": {"Name": s.target, **owner, "Mode": s.mode},
                     "SecretID": s.id, "SecretName": s.name} for s in secrets],
    }
    resources: dict[str, Any] = {"Limits": {"Pids": spec.pids_limit}}
    if spec.gpus:
        resources["Reservations"] = {"GenericResources": [
            {"DiscreteResourceSpec": {"Kind": GPU_RESOURCE, "Value": 1}}]}
    return {
        "Name": name, "Labels": dict(labels),
        "TaskTemplate": {"ContainerSpec": {k: v for k, v in container.items()
                                           if v is not None},
                         "Resources": resources, "RestartPolicy": {"Condition": "none"}},
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


# -- a task's state --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a service's task says: ``kind`` ``"wait"`` (not ended), ``"exit"`` (the tool
    ended with ``code``), ``"refused"`` (the task could not run: ``message``, the engine's
    reason) or ``"unplaced"`` (pending, no node can take it yet: ``message``)."""

    kind: str
    code: int | None = None
    message: str = ""


def task_outcome(tasks: list[dict]) -> Outcome:
    """The :class:`Outcome` of a one-task service from its ``GET /tasks`` answer
    (``Status.State``, ``Status.Err``/``Message``, ``Status.ContainerStatus.ExitCode``):
    no task yet, or a state in :data:`WAITING` → wait (``pending`` with "no suitable node"
    → unplaced); ``complete`` → exit 0; ``failed``/``shutdown`` of a container that ran →
    exit with its code; ``rejected``, or a failure before any container ran → refused."""
    if not tasks:
        return Outcome("wait")
    task = max(tasks, key=lambda t: str(t.get("CreatedAt") or ""))
    status = task.get("Status") or {}
    state = str(status.get("State") or "new")
    err = str(status.get("Err") or "")
    message = _one_line(err or status.get("Message") or state)
    if state == "pending" and "no suitable node" in err:
        return Outcome("unplaced", message=message)
    if state in WAITING:
        return Outcome("wait")
    container = status.get("ContainerStatus") or {}
    code = container.get("ExitCode")
    if state == "complete":
        return Outcome("exit", code if isinstance(code, int) else 0)
    if state in ENDED and container.get("ContainerID") and isinstance(code, int):
        return Outcome("exit", code, message)
    return Outcome("refused", message=f"task {state}: {message}")


# -- the runner ------------------------------------------------------------------------------

class SwarmRunner:
    """The chunk runner of ``render --swarm``: each attempt of a chunk is one Swarm service
    (:func:`service_spec`) of the launch ``base`` (a
    :class:`~landscape.engine.launch.LaunchSpec` with no arguments, its ``image`` a
    digest reference), with the chunk's arguments appended, the label
    ``io.landscape.role=render`` plus :data:`~landscape.engine.render.LABEL_RENDER_ID`
    (``render_id``), :data:`~landscape.engine.render.LABEL_RENDER_CHUNK` and
    :data:`LABEL_RENDER_ATTEMPT`; the generated files as configs and the secret files as
    secrets, made for the attempt and removed with it.

    An attempt polls its task (``GET /tasks``, every :data:`POLL` s) until it ends, copies
    the service's logs (stdout and stderr) into the attempt's log file and removes the
    service, its configs and secrets. A task that is rejected, fails before it runs, or
    stays pending with "no suitable node" for :data:`UNPLACED_GRACE` s raises
    :class:`EngineError` (the render stops). With ``timeout`` (seconds) the service is
    removed after that long and the attempt counts as failed (exit 137). ``stop`` is the
    render's stop flag; :meth:`stop_all` removes every object this runner made. Progress
    notes ("service … on node …") go to ``log``."""

    def __init__(self, base: "LaunchSpec", render_id: str, stop: threading.Event,
                 timeout: float | None = None, log: Log | None = None,
                 poll: float = POLL, grace: float = UNPLACED_GRACE) -> None:
        self.base, self.render_id, self.stop, self.timeout = base, render_id, stop, timeout
        self.log = log or (lambda line: None)
        self.poll, self.grace = poll, grace
        self._lock = threading.Lock()
        self._count = itertools.count(1)
        #: what this runner made and has not removed: (kind, id), kind services/configs/secrets
        self._made: list[tuple[str, str]] = []
        self._nodes: dict[str, str] = {}

    def spec(self, chunk: "Chunk", args: list[str]) -> "LaunchSpec":
        """The launch spec of one attempt of ``chunk`` with the tool arguments ``args``."""
        from ..names import LABEL_ROLE

        labels = {**self.base.labels, LABEL_ROLE: "render", LABEL_RENDER_ID: self.render_id,
                  LABEL_RENDER_CHUNK: chunk.name}
        return dataclasses.replace(self.base, argv=[*self.base.argv, *args], labels=labels,
                                   warnings=[])

    def _made_add(self, kind: str, oid: str) -> None:
        with self._lock:
            self._made.append((kind, oid))

    def _create(self, kind: str, body: dict[str, Any]) -> str:
        """Create a config, secret or service (``kind``: ``configs``, ``secrets``,
        ``services``) from ``body``; its id, recorded for :meth:`stop_all`."""
        with self._lock:  # a stop between the check and the record would leave it
            if self.stop.is_set():
                raise Interrupted
        try:
            answer = dk.api("POST", f"/{kind}/create", None, body)
        except EngineError as e:
            raise EngineError(f"the engine refused the render's {kind[:-1]} "
                              f"{body.get('Name')}: {_one_line(e.message)}") from None
        oid = answer["ID"]
        self._made_add(kind, oid)
        if self.stop.is_set():
            raise Interrupted
        return oid

    def __call__(self, chunk: "Chunk", attempt: int, args: list[str], log: Path) -> int:
        from .launch import prepare, verify_binds

        spec = self.spec(chunk, args)
        index = next(self._count)
        name = object_name(self.render_id, index)
        labels = {**spec.labels, LABEL_RENDER_ATTEMPT: f"{index}.{attempt}"}
        verify_binds(spec)
        prepare(spec)
        mine: list[tuple[str, str]] = []
        try:
            configs = []
            for i, (target, content) in enumerate(sorted(spec.files.items())):
                cname = object_name(self.render_id, index, f"f{i}")
                cid = self._create("configs", object_body(cname, content, labels))
                mine.append(("configs", cid))
                configs.append(Attached(cid, cname, target,
                                        spec.file_modes.get(target, 0o644)))
            secrets = []
            for i, (fname, content) in enumerate(sorted(spec.secret_files.items())):
                sname = object_name(self.render_id, index, f"s{i}")
                sid = self._create("secrets", object_body(sname, content, labels))
                mine.append(("secrets", sid))
                secrets.append(Attached(sid, sname, secret_file(fname), 0o400))
            body = service_spec(spec, name, labels, configs, secrets)
            service = self._create("services", body)
            mine.insert(0, ("services", service))
            code = self._wait(service, name, log)
            self._copy_logs(service, log, code)
            return code
        finally:
            self._remove(mine)

    def _wait(self, service: str, name: str, log: Path) -> int:
        """Poll ``service``'s task until it ends; its exit code (137 after ``timeout``, 130
        when the render stops). Raises :class:`EngineError` when the task cannot run."""
        import json

        started = time.monotonic()
        unplaced_since: float | None = None
        shown = False
        while True:
            if self.stop.is_set():
                return 130
            if self.timeout and time.monotonic() - started >= self.timeout:
                self._remove([("services", service)], keep=True)
                with open(log, "ab") as f:
                    f.write(f"\nlandscape: attempt stopped after {self.timeout:g} s "
                            "(--timeout)\n".encode())
                return 137
            tasks = dk.api("GET", "/tasks", {"filters": json.dumps(
                {"service": [service]})}) or []
            outcome = task_outcome(tasks)
            if not shown and tasks:
                shown = self._show_node(name, tasks)
            if outcome.kind == "exit":
                assert outcome.code is not None
                return outcome.code
            if outcome.kind == "refused":
                raise EngineError(f"Swarm could not run service {name}: {outcome.message}")
            if outcome.kind == "unplaced":
                unplaced_since = unplaced_since or time.monotonic()
                if time.monotonic() - unplaced_since >= self.grace:
                    raise EngineError(f"Swarm could not place service {name}: "
                                      f"{outcome.message}")
            else:
                unplaced_since = None
            time.sleep(self.poll)

    def _show_node(self, name: str, tasks: list[dict]) -> bool:
        """Log "service NAME on node HOST" once the task has a node; whether it did."""
        node = next((t.get("NodeID") for t in tasks if t.get("NodeID")), None)
        if not isinstance(node, str) or not node:
            return False
        host = self._nodes.get(node)
        if host is None:
            try:
                info = dk.api("GET", f"/nodes/{node}") or {}
                host = str((info.get("Description") or {}).get("Hostname") or node)
            except EngineError:
                host = node
            self._nodes[node] = host
        self.log(f"service {name} on node {_one_line(host, 80)}")
        return True

    def _copy_logs(self, service: str, log: Path, code: int) -> None:
        """Append the service's stdout and stderr (``GET /services/{id}/logs``, through the
        Docker SDK, which splits the engine's multiplexed stream) to ``log``."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            data = dk.client().api.service_logs(service, stdout=True, stderr=True,
                                                follow=False)
            chunks = data if isinstance(data, (bytes, bytearray)) else b"".join(data)
        except (DockerException, RequestException, EngineError) as e:
            chunks = f"landscape: the service's logs could not be read: {e}\n".encode()
        with open(log, "ab") as f:
            f.write(bytes(chunks))

    def _remove(self, objects: list[tuple[str, str]], keep: bool = False) -> None:
        """Remove ``objects`` (``(kind, id)``; services first, so their configs and secrets
        are free); nothing for what is gone. ``keep``: still listed for :meth:`stop_all`."""
        for kind, oid in sorted(objects, key=lambda o: o[0] != "services"):
            for _ in range(20):
                try:
                    dk.api("DELETE", f"/{kind}/{oid}")
                    break
                except dk.APIError as e:
                    if e.status == 404:
                        break
                    time.sleep(0.1)  # a config still in use while its service goes
                except EngineError:
                    break
            if kind == "services":
                self._sweep(f"com.docker.swarm.service.id={oid}")
            if not keep:
                with self._lock:
                    if (kind, oid) in self._made:
                        self._made.remove((kind, oid))

    def _sweep(self, label: str) -> None:
        """Remove (kill first) the containers of this engine labelled ``label``: Engine
        20.10 neither stops nor removes the task containers of a removed job service."""
        import json

        try:
            found = dk.api("GET", "/containers/json", {
                "all": "1", "filters": json.dumps({"label": [label]})}) or []
        except EngineError:
            return
        for c in found:
            try:
                dk.api("DELETE", f"/containers/{c['Id']}", {"force": "1"})
            except EngineError:  # 404: gone; 409: being removed
                pass

    def stop_all(self) -> None:
        """Remove every service, config and secret this runner made and has not removed,
        and every container of this engine labelled with this render's id (the tasks of
        this node; a task on another node is not reachable from here)."""
        with self._lock:
            made = list(self._made)
        self._remove(made)
        self._sweep(f"{LABEL_RENDER_ID}={self.render_id}")


def run_swarm(inputs: "LaunchInputs", image: str, local: LocalRender, *, log: Log
              ) -> RenderResult:
    """Render ``local`` (:func:`landscape.engine.render.prepare_local`) as Swarm services of
    the image ``image`` (a digest reference, as
    :func:`landscape.engine.render.publish_image` gives it): the launch's spec
    (:func:`landscape.engine.launch.launch_spec`) with each chunk's arguments, through
    :class:`SwarmRunner` and the local render's scheduler and signal handling
    (:func:`landscape.engine.render.run_with`). What Swarm cannot give is refused first
    (:func:`refusals`), what it gives less of is logged once as ``warning:`` lines
    (:func:`losses`). Raises what ``launch_spec`` raises and :class:`LandscapeError` for a
    refusal."""
    import secrets

    from .launch import launch_spec

    base = launch_spec(inputs, [])
    base.image = image
    refusals(base)
    for warning in [*base.warnings, *losses(base)]:
        log(f"warning: {warning}")
    stop = threading.Event()
    runner = SwarmRunner(base, secrets.token_hex(8), stop, local.job.timeout, log=log)
    return run_with(local.job, runner, stop, log=log, what="services")

