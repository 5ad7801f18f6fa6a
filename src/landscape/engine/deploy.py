"""``landscape deploy PROJECT --swarm``: a project's stack as a Swarm stack (docs/commands.md,
deploy on a Swarm; docs/security.md, what holds on a Swarm).

The document deployed is the one ``landscape up`` writes
(:func:`landscape.engine.stack.compose_document`), transformed by the pure function
:func:`swarm_document` into what ``docker stack deploy`` (Docker CLI 20.10, Compose file
format 3.8) honours, then written as ``swarm.yaml`` next to ``compose.yaml`` and deployed
with ``docker stack deploy --with-registry-auth``. Measured on Engine 20.10.24 (one node),
``docker stack deploy``:

- prints ``Ignoring unsupported options: restart, security_opt, shm_size`` (and
  ``devices``, ``privileged``, ``network_mode``, … when present) and drops them;
- drops a service's ``tmpfs:`` list **without a word**, and refuses ``pids_limit``;
- keeps ``init``, ``read_only``, ``user``, ``cap_drop``/``cap_add``, ``sysctls``,
  ``labels``, and bind and ``type: tmpfs`` volumes (``tmpfs: {size: N}``);
- publishes a short-syntax port through the ingress routing mesh on every address, ignoring
  its host IP with a warning; the long syntax with ``mode: host`` publishes on the node
  running the task (on every address of that node);
- cannot give ``no-new-privileges`` (Engine API 1.41 has no field for it in a service's
  spec).

So :func:`swarm_document` pins every Landscape image by digest, converts what has a Swarm
form (``restart`` → ``deploy.restart_policy``, ``tmpfs``/``shm_size`` → ``type: tmpfs``
volumes, ports → long syntax ``mode: host``, GPU device reservations → the generic resource
``NVIDIA-GPU``), reports what is lost as ``warning:`` lines (``no-new-privileges``, a port
that was on 127.0.0.1 and is now on every address, ``depends_on`` ordering) and refuses —
one line naming the service and key, before anything is deployed — what a Swarm cannot
honour.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from ..errors import EngineError, LandscapeError
from ..policy import is_no_new_privileges

Log = Callable[[str], None]

#: the label ``docker stack deploy`` puts on a stack's services, networks, configs, secrets
STACK_LABEL = "com.docker.stack.namespace"
#: the Swarm generic resource a GPU reservation becomes (GPU nodes advertise it in their
#: daemon.json: ``node-generic-resources``)
GPU_RESOURCE = "NVIDIA-GPU"
#: seconds ``deploy`` waits for every service to run, and ``down`` for the stack to go
WAIT_SECONDS = 120.0
#: seconds a task may stay pending with "no suitable node" before ``deploy`` gives up
UNPLACED_GRACE = 10.0

#: service keys ``docker stack deploy`` honours as they are
KEPT = frozenset({
    "image", "command", "entrypoint", "environment", "env_file", "working_dir", "user", "init",
    "read_only", "cap_add", "cap_drop", "sysctls", "ulimits", "labels", "volumes", "ports",
    "healthcheck", "hostname", "extra_hosts", "dns", "dns_search", "networks", "configs",
    "secrets", "logging", "stop_grace_period", "stop_signal", "tty", "stdin_open", "deploy",
    "isolation", "credential_spec",
})
#: service keys converted into their Swarm form (or dropped with a warning)
CONVERTED = frozenset({"restart", "tmpfs", "shm_size", "security_opt", "depends_on", "expose",
                       "privileged"})
#: why a Swarm cannot honour a key (the refusal's words); any other key is refused too
REFUSED = {
    "devices": "maps host devices, which a Swarm service cannot",
    "privileged": "a Swarm service cannot be privileged",
    "network_mode": "a Swarm service runs on the stack's overlay network only",
    "userns_mode": "a Swarm service cannot choose its user namespace",
    "pid": "a Swarm service cannot share a PID namespace",
    "ipc": "a Swarm service cannot share an IPC namespace",
    "build": "nodes pull images, they do not build them",
    "pids_limit": "docker stack deploy refuses it (Compose file format 3.8)",
    "cgroup_parent": "a Swarm service cannot choose its cgroup",
    "cgroupns_mode": "a Swarm service cannot choose its cgroup namespace",
    "container_name": "Swarm names a service's containers itself",
    "links": "Swarm services reach each other by service name on the stack's network",
    "external_links": "Swarm services reach each other by service name on the stack's network",
    "domainname": "docker stack deploy ignores it",
    "mac_address": "docker stack deploy ignores it",
}
#: keys of ``deploy`` in Compose file format 3.8
_DEPLOY_KEYS = frozenset({"mode", "replicas", "labels", "update_config", "rollback_config",
                          "resources", "restart_policy", "placement", "endpoint_mode"})
#: a service name a stack takes (Compose Specification: ``^[a-zA-Z0-9._-]+$``; Swarm joins
#: it to the stack's name and wants a DNS label)
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_DIGEST_REF = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}\Z")
_SIZE = re.compile(r"\s*([0-9]+)\s*([bkmg]?)b?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
#: what ``docker stack deploy`` prints when it drops something (never acceptable: a bug)
DROPPED_WORDS = ("Ignoring unsupported options", "ignoring IP-address",
                 "Ignoring deprecated options")
NO_NEW_PRIVILEGES_LOST = ("no-new-privileges cannot be set on a Swarm service (Engine API "
                          "1.41 has no field for it): the stack's services run without it")


def _refuse(service: str, key: str, why: str) -> LandscapeError:
    return LandscapeError(f"deploy --swarm: service {service!r}: {key} {why}",
                          hint="remove it from the service, or use `landscape up` on one "
                          "machine")


def size_bytes(value: Any, service: str, key: str) -> int:
    """Bytes of a Compose size (``1073741824``, ``"64m"``, ``"1gb"``). Raises
    :class:`LandscapeError` naming ``service`` and ``key`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.fullmatch(str(value)) if isinstance(value, str) else None
    if m is None:
        raise _refuse(service, key, f"{str(value)[:80]!r} is not a size (bytes, or N with "
                      "k, m or g)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _tmpfs_volume(entry: Any, service: str) -> dict:
    """A ``tmpfs:`` entry (``/tmp`` or ``/tmp:size=64m``) as a ``type: tmpfs`` volume."""
    if not isinstance(entry, str) or not entry.startswith("/"):
        raise _refuse(service, "tmpfs", f"entry {str(entry)[:80]!r} is not an absolute path")
    target, _, options = entry.partition(":")
    volume: dict[str, Any] = {"type": "tmpfs", "target": target}
    for option in filter(None, options.split(",")):
        name, _, value = option.partition("=")
        if name != "size":
            raise _refuse(service, "tmpfs", f"option {option[:80]!r} of {target[:80]!r} has "
                          "no Swarm form (a service's tmpfs takes a size only)")
        volume["tmpfs"] = {"size": size_bytes(value, service, "tmpfs")}
    return volume


def _restart_policy(value: Any, service: str) -> dict:
    """``restart`` as ``deploy.restart_policy``: ``no`` → ``none``, ``always`` and
    ``unless-stopped`` → ``any``, ``on-failure[:N]`` → ``on-failure`` (N attempts)."""
    text = str(value)
    if text in ("no", "False", "false"):
        return {"condition": "none"}
    if text in ("always", "unless-stopped"):
        return {"condition": "any"}
    name, _, count = text.partition(":")
    if name == "on-failure" and (not count or count.isdigit()):
        return {"condition": "on-failure", **({"max_attempts": int(count)} if count else {})}
    raise _refuse(service, "restart", f"{text[:80]!r} is not no, always, unless-stopped or "
                  "on-failure[:N]")


def _port_numbers(text: str, service: str) -> list[int]:
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise _refuse(service, "ports", f"{text[:80]!r} is not a port or range")
    lo, hi = int(first), int(last or first)
    if not 0 < lo <= hi <= 65535 or hi - lo > 1000:
        raise _refuse(service, "ports", f"{text[:80]!r} is not a port or range (1-65535)")
    return list(range(lo, hi + 1))


def _ports(entry: Any, service: str) -> list[tuple[str, int | None, int, str]]:
    """``[(bind address, published or None, target, protocol)]`` of one ``ports`` entry."""
    if isinstance(entry, dict):
        target = entry.get("target")
        published = entry.get("published")
        if not isinstance(target, int) or isinstance(target, bool):
            raise _refuse(service, "ports", "a long-syntax entry needs a numeric target")
        if published is not None:
            published = _port_numbers(str(published), service)[0]
        unknown = set(entry) - {"target", "published", "protocol", "mode", "host_ip"}
        if unknown:
            raise _refuse(service, "ports", f"key {sorted(unknown)[0][:40]!r} has no Swarm form")
        protocol = str(entry.get("protocol") or "tcp")
        return [(str(entry.get("host_ip") or "0.0.0.0"), published, target, protocol)]
    text = str(entry)
    body, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if body.startswith("["):
        addr, _, rest = body[1:].partition("]")
        parts = [addr, *rest.lstrip(":").split(":")]
    else:
        parts = body.split(":")
        if len(parts) > 3:
            raise _refuse(service, "ports", f"{text[:80]!r} is not [IP:][HOST:]CONTAINER")
        parts = ["0.0.0.0"] * (3 - len(parts)) + parts if len(parts) == 3 else \
            ["0.0.0.0", *([None] if len(parts) == 1 else []), *parts]
    if len(parts) != 3:
        raise _refuse(service, "ports", f"{text[:80]!r} is not [IP:][HOST:]CONTAINER")
    addr, host, container = parts
    targets = _port_numbers(container, service)
    if not host:
        return [(addr, None, t, protocol) for t in targets]
    published = _port_numbers(host, service)
    if len(published) != len(targets):
        raise _refuse(service, "ports", f"{text[:80]!r}: the host and container ranges differ "
                      "in length")
    return [(addr, p, t, protocol) for p, t in zip(published, targets)]


def _gpu_resources(deploy: dict, service: str) -> None:
    """Turn ``deploy.resources.reservations.devices`` (Compose's GPU form, which stack
    deploy's schema refuses) into ``generic_resources`` of kind :data:`GPU_RESOURCE`."""
    resources = deploy.get("resources")
    reservations = resources.get("reservations") if isinstance(resources, dict) else None
    if not isinstance(reservations, dict) or "devices" not in reservations:
        return
    devices = reservations.pop("devices")
    generic = list(reservations.get("generic_resources") or [])
    for device in devices if isinstance(devices, list) else [devices]:
        if not isinstance(device, dict):
            raise _refuse(service, "deploy.resources.reservations.devices",
                          "entries must be mappings")
        caps = device.get("capabilities") or []
        flat = {c for group in caps for c in (group if isinstance(group, list) else [group])}
        count = device.get("count", 1)
        if "gpu" not in flat or device.get("device_ids") or str(device.get("driver") or
                                                                 "nvidia") != "nvidia":
            raise _refuse(service, "deploy.resources.reservations.devices",
                          "only a count of NVIDIA GPUs has a Swarm form (generic resource "
                          f"{GPU_RESOURCE})")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _refuse(service, "deploy.resources.reservations.devices",
                          f"count {str(count)[:20]!r}: a Swarm reservation needs a number of "
                          "GPUs (not all)")
        generic.append({"discrete_resource_spec": {"kind": GPU_RESOURCE, "value": count}})
    reservations["generic_resources"] = generic


def swarm_service(name: str, service: Mapping[str, Any], digests: Mapping[str, str],
                  allowed_binds: Iterable[str], warnings: list[str]) -> dict:
    """One service of :func:`swarm_document` (see there); appends its losses to
    ``warnings``. Raises :class:`LandscapeError` naming ``name`` and the key."""
    if not isinstance(name, str) or not _SERVICE_NAME.match(name) or len(name) > 40:
        raise LandscapeError(f"deploy --swarm: service name {str(name)[:80]!r} is not one a "
                             "Swarm stack takes (letters, digits, _ . -, at most 40)")
    if not isinstance(service, Mapping):
        raise _refuse(name, "service", "is not a mapping")
    allowed = tuple(allowed_binds)
    out: dict[str, Any] = {}
    volumes: list[Any] = []
    for key, value in service.items():
        if key in KEPT:
            out[key] = value
        elif key == "privileged" and value in (False, "false", "no", None):
            continue  # asks for nothing
        elif key in REFUSED:
            raise _refuse(name, key, REFUSED[key])
        elif key not in CONVERTED:
            raise _refuse(name, str(key)[:40], "is not a key docker stack deploy honours "
                          "(Compose file format 3.8)")
    image = out.get("image")
    if not isinstance(image, str):
        raise _refuse(name, "image", "is missing: a Swarm service runs an image")
    if image in digests:
        out["image"] = digests[image]
    elif not _DIGEST_REF.match(image):
        raise _refuse(name, "image", f"{image[:120]!r} is neither a Landscape image nor "
                      "pinned by digest (IMAGE@sha256:…): nodes would pull whatever the tag "
                      "names by then")
    if "volumes" in out:
        volumes = list(out["volumes"] or [])
    tmpfs = service.get("tmpfs") or []
    if not isinstance(tmpfs, (str, list)):
        raise _refuse(name, "tmpfs", "is neither a path nor a list of paths")
    for entry in [tmpfs] if isinstance(tmpfs, str) else tmpfs:
        volumes.append(_tmpfs_volume(entry, name))
    if "shm_size" in service:
        volumes.append({"type": "tmpfs", "target": "/dev/shm",
                        "tmpfs": {"size": size_bytes(service["shm_size"], name, "shm_size")}})
    if volumes or "volumes" in out:
        out["volumes"] = volumes
    opts = service.get("security_opt") or []
    for opt in opts if isinstance(opts, list) else [opts]:
        if not is_no_new_privileges(opt):
            raise _refuse(name, "security_opt", f"{str(opt)[:80]!r} has no Swarm form")
    if opts and NO_NEW_PRIVILEGES_LOST not in warnings:
        warnings.append(NO_NEW_PRIVILEGES_LOST)
    if service.get("depends_on"):
        warnings.append(f"service {name!r}: depends_on is dropped (Swarm starts a stack's "
                        "services in no order)")
    if service.get("expose"):
        warnings.append(f"service {name!r}: expose is dropped (services on the stack's "
                        "network reach every port of each other)")
    deploy = out.get("deploy")
    if deploy is not None:
        if not isinstance(deploy, dict):
            raise _refuse(name, "deploy", "is not a mapping")
        deploy = dict(deploy)
        unknown = set(deploy) - _DEPLOY_KEYS
        if unknown:
            raise _refuse(name, f"deploy.{str(sorted(unknown, key=str)[0])[:40]}",
                          "is not a key docker stack deploy honours")
        if isinstance(deploy.get("resources"), dict):
            deploy["resources"] = {k: dict(v) if isinstance(v, dict) else v
                                   for k, v in deploy["resources"].items()}
        _gpu_resources(deploy, name)
    if "restart" in service:
        deploy = dict(deploy or {})
        policy = _restart_policy(service["restart"], name)
        deploy.setdefault("restart_policy", policy)
    if deploy is not None:
        out["deploy"] = deploy
    if "ports" in out:
        ports = []
        for entry in out["ports"] if isinstance(out["ports"], list) else [out["ports"]]:
            for addr, published, target, protocol in _ports(entry, name):
                # a host-mode port takes every address, IPv4 and IPv6: only 0.0.0.0 allowed
                # by the root allows that (`::` alone would widen an IPv6 policy to IPv4)
                if addr != "0.0.0.0":
                    if "0.0.0.0" not in allowed:
                        raise _refuse(name, "ports", f"{published or target} is published on "
                                      f"{addr[:60]}; a Swarm publishes on every address of "
                                      "its node, and policy.allowed_binds does not allow "
                                      "0.0.0.0")
                    warnings.append(f"service {name!r}: port {published or target} was on "
                                    f"{addr[:60]}; on a Swarm it is published on every "
                                    "address of the node running the task")
                port: dict[str, Any] = {"target": target}
                if published is not None:
                    port["published"] = published
                port.update(protocol=protocol, mode="host")
                ports.append(port)
        out["ports"] = ports
    return out


def swarm_document(doc: Mapping[str, Any], digests: Mapping[str, str], policy: Any,
                   ) -> tuple[dict, list[str]]:
    """The Swarm form of a stack's compose document ``doc`` (as
    :func:`landscape.engine.stack.compose_document` makes it): ``(document, warnings)``.

    ``digests`` maps each Landscape image tag (``landscape/<project>:<short>``) to the
    reference nodes pull, ``REGISTRY/landscape/<project>@sha256:…``; ``policy`` is the
    project's :class:`~landscape.policy.Policy` (only ``allowed_binds`` is read). Pure: no
    engine, no files. Converted: images (by digest), ``restart`` →
    ``deploy.restart_policy``, ``tmpfs`` and ``shm_size`` → ``type: tmpfs`` volumes, ports
    → long syntax ``mode: host``, GPU device reservations → generic resources
    ``NVIDIA-GPU``. Lost with a warning: ``no-new-privileges`` (once), a 127.0.0.1 port now
    on every address (only when ``allowed_binds`` allows ``0.0.0.0``), ``depends_on``,
    ``expose``. Raises :class:`LandscapeError` (one line naming service and key) for
    everything else a Swarm cannot honour (module doc, :data:`REFUSED`), an image that is
    neither Landscape's nor pinned by digest, and a narrow bind the policy does not let
    widen."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("services"), Mapping):
        raise LandscapeError("deploy --swarm: the stack has no services")
    warnings: list[str] = []
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "services":
            out["services"] = {
                name: swarm_service(name, svc, digests, policy.allowed_binds, warnings)
                for name, svc in value.items()}
        elif key in ("version", "networks", "volumes", "configs", "secrets") or (
                isinstance(key, str) and key.startswith("x-")):
            out[key] = value
        else:
            raise LandscapeError(f"deploy --swarm: top-level key {str(key)[:40]!r} is not one "
                                 "docker stack deploy honours")
    return out, warnings


# -- the engine ------------------------------------------------------------------------------

def stack_images(plan: Any, project: Any) -> dict[str, Any]:
    """Tag → :class:`~landscape.imagekey.ImageSpec` of every Landscape image a stack of
    ``project`` (a cascade) may run: the workspace images of ``plan`` and the features'
    images (:func:`landscape.engine.stack.feature_images`)."""
    from .stack import feature_images

    specs = {im.spec.tag: im.spec for im in plan.images.values()}
    specs.update((spec.tag, spec) for spec in feature_images(project).values())
    return specs


def push_stack_image(spec: Any, registry: str, log: Log) -> str:
    """Push ``spec``'s local image to ``registry``
    (:func:`landscape.engine.registry.push_image`) and return the reference nodes pull,
    ``REGISTRY/landscape/<project>@sha256:…``. Raises :class:`EngineError` (one line
    naming the registry) when the push fails."""
    from .registry import push_image, registry_repository

    try:
        digest = push_image(spec, registry, log=log)
    except EngineError as e:
        raise EngineError(f"registry {registry} refused the image: {e.message}",
                          hint=e.hint) from None
    return f"{registry_repository(spec, registry)}@{digest}"


def write_swarm(root: Any, project: str, doc: dict) -> Any:
    """Write ``doc`` (:func:`swarm_document`'s) as ``swarm.yaml`` next to the project's
    ``compose.yaml`` (atomic, serialised by PyYAML); return its path."""
    import yaml

    from ..resources import atomic_write
    from .stack import stack_dir

    path = stack_dir(root, project) / "swarm.yaml"
    atomic_write(path, "# Generated by Landscape: a project's stack for a Swarm. Do not edit: "
                 "`landscape deploy --swarm` rewrites it.\n" +
                 yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    return path


def stack_command(*args: str) -> subprocess.CompletedProcess:
    """``docker stack ARGS…`` (the Docker CLI: the SDK does not do stacks), output
    captured. Raises :class:`EngineError` (one line, the CLI's words) when it fails."""
    from .registry import one_line

    try:
        r = subprocess.run(["docker", "stack", *args], capture_output=True, text=True)
    except OSError as e:
        raise EngineError(f"cannot run docker stack: {e.strerror or e}") from None
    if r.returncode != 0:
        raise EngineError(f"`docker stack {args[0]}` failed (exit {r.returncode}): "
                          f"{one_line(r.stderr or r.stdout)}")
    return r


def deploy_stack(path: str, name: str) -> str:
    """``docker stack deploy --with-registry-auth -c PATH NAME``; returns its output. When
    the output says the CLI dropped an option (:data:`DROPPED_WORDS` — the transform exists
    so that it never does), the stack is removed again and :class:`EngineError` raised: a
    service must never run without what it was given."""
    from .registry import one_line

    r = stack_command("deploy", "--with-registry-auth", "-c", path, name)
    text = (r.stdout or "") + (r.stderr or "")
    for line in text.splitlines():
        if any(words in line for words in DROPPED_WORDS):
            stack_command("rm", name)
            raise EngineError(f"docker stack deploy dropped options ({one_line(line)}); the "
                              "stack is removed again — this is a bug of Landscape's Swarm "
                              "transform")
    return text


def stack_services(name: str) -> list[dict]:
    """The Swarm services of stack ``name`` (``GET /services`` by label
    :data:`STACK_LABEL`). Raises :class:`EngineError` when no engine answers; ``[]`` when
    the engine is in no Swarm."""
    import json

    from . import docker as dk

    try:
        return dk.api("GET", "/services", {"filters": json.dumps(
            {"label": [f"{STACK_LABEL}={name}"]})}) or []
    except dk.APIError as e:  # 503: not a Swarm manager — then there is no deployed stack
        if getattr(e, "status", None) == 503 or "swarm" in str(e).lower():
            return []
        raise


def service_tasks(service_ids: Iterable[str]) -> list[dict]:
    """The tasks of the services ``service_ids`` (``GET /tasks``, filter ``service``)."""
    import json

    from . import docker as dk

    ids = list(service_ids)
    if not ids:
        return []
    return dk.api("GET", "/tasks", {"filters": json.dumps({"service": ids})}) or []


def _wanted(service: dict) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    if "Replicated" in mode:
        return int((mode["Replicated"] or {}).get("Replicas", 1))
    return 1  # global: one per node; on the node this runs on, at least one


def _since(task: dict) -> float:
    """When ``task`` was made (``CreatedAt``, RFC 3339 in UTC with nanoseconds), as UTC epoch
    seconds; 0 when it cannot be read."""
    try:
        return datetime.fromisoformat(str(task.get("CreatedAt"))[:26].rstrip("Z")).replace(
            tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def stack_progress(services: list[dict], tasks: list[dict], stack: str, now: float,
                   since: float) -> tuple[dict[str, tuple[int, int]], str | None]:
    """How far a deployed stack is: ``({service: (running, wanted)}, error)``. ``error`` is
    one line naming the service and the engine's message when a task made after ``since``
    (seconds, UTC epoch) was rejected, failed twice, or has stayed pending with "no suitable
    node" for :data:`UNPLACED_GRACE` seconds by ``now``. Pure: reads ``GET /services`` and
    ``GET /tasks`` answers (Engine API 1.41: ``Status.State``, ``Status.Err``,
    ``DesiredState``)."""
    progress: dict[str, tuple[int, int]] = {}
    by_id = {s.get("ID"): (s.get("Spec") or {}).get("Name", "") for s in services}
    failed: dict[str, int] = {}
    error = None
    for s in services:
        short = by_id[s.get("ID")].removeprefix(f"{stack}_")
        progress[short] = (0, _wanted(s))
    for t in tasks:
        full = by_id.get(t.get("ServiceID"))
        if full is None:
            continue
        short = full.removeprefix(f"{stack}_")
        status = t.get("Status") or {}
        state, err = status.get("State"), status.get("Err") or status.get("Message") or ""
        if state == "running" and t.get("DesiredState") == "running":
            running, wanted = progress[short]
            progress[short] = (running + 1, wanted)
        if _since(t) < since - 1:
            continue
        if state == "rejected":
            error = error or f"service {short}: the Swarm rejected its task: {err}"
        elif state == "failed":
            failed[short] = failed.get(short, 0) + 1
            if failed[short] >= 2:
                error = error or f"service {short}: its task failed: {err}"
        elif state == "pending" and "no suitable node" in err and \
                now - _since(t) > UNPLACED_GRACE:
            error = error or f"service {short}: no node can run it: {err}"
    return progress, error


def wait_running(name: str, log: Log, timeout: float = WAIT_SECONDS,
                 since: float | None = None) -> float:
    """Wait until every service of stack ``name`` has its replicas running (polling the
    tasks API once a second, a progress line whenever it changes); returns the seconds it
    took. Raises :class:`EngineError` (one line, :func:`stack_progress`'s) when a task
    cannot run, or when ``timeout`` seconds pass first (naming the services not running)."""
    from .registry import one_line

    started = time.monotonic()
    since = time.time() if since is None else since
    shown = None
    while True:
        services = stack_services(name)
        progress, error = stack_progress(services, service_tasks(s["ID"] for s in services),
                                         name, time.time(), since)
        if error:
            raise EngineError(one_line(error, 400), hint="the stack stays deployed to look "
                              "at (docker service ps); `landscape down` removes it")
        line = ", ".join(f"{s} {r}/{w}" for s, (r, w) in sorted(progress.items()))
        if line != shown:
            log(f"running: {line}")
            shown = line
        if progress and all(r >= w for r, w in progress.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            late = [s for s, (r, w) in sorted(progress.items()) if r < w]
            raise EngineError(f"services {', '.join(late) or '(none yet)'} are not running "
                              f"after {timeout:.0f} s",
                              hint="docker service ps shows why; `landscape down` removes "
                              "the stack")
        time.sleep(1)


def remove_stack(name: str, timeout: float = WAIT_SECONDS) -> None:
    """``docker stack rm NAME``, then wait until no service and no network labelled
    :data:`STACK_LABEL` ``=NAME`` remains (``GET /services``, ``GET /networks``). Raises
    :class:`EngineError` when they are still there after ``timeout`` seconds."""
    import json

    from . import docker as dk

    stack_command("rm", name)
    deadline = time.monotonic() + timeout
    label = json.dumps({"label": [f"{STACK_LABEL}={name}"]})
    while True:
        left = stack_services(name) + (dk.api("GET", "/networks", {"filters": label}) or [])
        if not left:
            return
        if time.monotonic() > deadline:
            raise EngineError(f"stack {name}: {len(left)} services/networks are still there "
                              f"after {timeout:.0f} s (docker stack ps {name})")
        time.sleep(0.5)


def stack_task_rows(name: str) -> list[dict]:
    """``ps --json`` items (docs/json.md) of the current tasks of stack ``name`` — those
    Swarm wants running: ``{"name": <service>.<slot>.<task id> (the task's container
    name), "service": the service's name in the stack, "image": the image it runs (by
    digest), "state": Status.State, "status": Status.Message}``, sorted by name."""
    services = stack_services(name)
    by_id = {s["ID"]: (s.get("Spec") or {}).get("Name", "") for s in services}
    rows = []
    for t in service_tasks(by_id):
        if t.get("DesiredState") not in ("running", "ready", "accepted"):
            continue
        full = by_id.get(t.get("ServiceID"), "")
        slot = t.get("Slot") or t.get("NodeID") or ""
        status = t.get("Status") or {}
        rows.append({"name": f"{full}.{slot}.{t.get('ID', '')}",
                     "service": full.removeprefix(f"{name}_"),
                     "image": ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image"),
                     "state": status.get("State"), "status": status.get("Message")})
    return sorted(rows, key=lambda r: r["name"])


def service_logs(name: str, services: list[str], follow: bool) -> int:
    """``docker service logs [-f] <stack>_<service>`` of ``services`` (all the stack's when
    empty), one after the other, or all at once with ``follow``; returns the worst exit
    code. Raises :class:`LandscapeError` for a service the stack does not have."""
    have = sorted((s.get("Spec") or {}).get("Name", "") for s in stack_services(name))
    names = [f"{name}_{s}" for s in services] if services else have
    short = [h.removeprefix(name + "_") for h in have]
    for n in names:
        if n not in have:
            raise LandscapeError(f"stack {name} has no service {n.removeprefix(name + '_')!r}"
                                 f" (it has: {', '.join(short)})")
    cmds = [["docker", "service", "logs", *(["-f"] if follow else []), n]
            for n in names]
    if follow:
        procs = [subprocess.Popen(c) for c in cmds]
        try:
            return max([p.wait() for p in procs] or [0])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
    return max([subprocess.run(c).returncode for c in cmds] or [0])
