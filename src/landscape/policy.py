"""Policy: what the config files of a context may ask of the host (docs/security.md), in one place.

Threat model: the studio root's ``landscape.yaml`` and the machine's administrator are
trusted; every file below the root, every package repository the root does not name, and
every value that reaches a generated artifact is untrusted input. The root's ``policy`` sets
the limits; deeper files may only narrow them. Every consumer — the cascade (narrowing),
``resolve`` (storage and repositories), ``check``, ``launch``/``shell``, ``build`` and ``up``
— asks this module, so a rule lives here once and every command gives the same message.

Keys and defaults (when the studio root does not set them):

==========================  ================================================================
``allowed_mounts``          host paths storage may mount (judged by real path). Default: the
                            studio root and the root's own ``storage`` sources. ``[]``
                            allows nothing.
``allowed_repositories``    where deeper files may add rez repositories; those may only hold
                            declarative ``package.yaml`` definitions. Default ``[]``.
``trusted_repositories``    where deeper files may add repositories whose ``package.py``
                            files are trusted code. Default ``[]``.
``allow_gui``                a tool may ask for the artist's display (its X cookie gives the
                            tool the whole desktop, keystrokes included). Default ``false``.
``allow_gpu``               a tool may ask for GPUs. Default ``true``.
``allow_privileged``        privileged services (and what is as good as it: host pid/ipc/
                            userns, ``security_opt``, ``sysctls``, root users, builds, …).
                            Default ``false``.
``allow_host_network``      services on the host's network. Default ``false``.
``allowed_devices``         host devices services may map. Default ``[]``.
``allowed_capabilities``    Linux capabilities tools and services may add. Default ``[]``.
``allowed_binds``           addresses published ports may bind. Default ``[127.0.0.1]``.
``pids_limit``              processes (threads included) of one launch. Default 4096.
==========================  ================================================================

Whatever ``allowed_mounts`` says, a source that is or lies in ``/etc``, ``/proc``, ``/sys``,
``/dev``, ``/boot``, ``/root``, ``/run`` (``/var/run``), ``/var/lib/docker`` or the engine's
socket — or that is ``/`` or an ancestor of one of them — is refused unless the studio root
itself names that path (not merely ``/`` above it).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import grammar
from .paths import real
from .errors import ConfigError, Location
from .nodes import Node

#: policy key → default value (see the module doc); ``None`` for allowed_mounts: computed.
DEFAULTS: dict[str, Any] = {
    "allowed_mounts": None,
    "allowed_repositories": [],
    "trusted_repositories": [],
    "allow_gui": False,
    "allow_gpu": True,
    "allow_privileged": False,
    "allow_host_network": False,
    "allowed_devices": [],
    "allowed_capabilities": [],
    "allowed_binds": ["127.0.0.1"],
    "pids_limit": 4096,
}
#: policy keys whose entries are host paths (made absolute and judged by real path)
PATH_KEYS = ("allowed_mounts", "allowed_repositories", "trusted_repositories")
#: host paths no mount reaches unless the studio root names them (see the module doc)
SENSITIVE = ("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/var/run", "/run",
             "/var/lib/docker")
#: container paths a mount may not cover, or lie in: Landscape's own files and the kernel's
RESERVED_TARGETS = ("/landscape", "/proc", "/sys", "/dev")
#: container paths a mount may not be exactly: files the launch or the engine writes, and
#: folders that are private tmpfs in every launch
RESERVED_EXACT = ("/", "/etc", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname",
                  "/etc/resolv.conf", "/etc/mtab", "/tmp", "/var/tmp", "/run", "/root", "/home",
                  "/usr", "/bin", "/sbin", "/lib", "/opt", "/opt/rez")


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or lies below it (both canonical; ``/`` holds all)."""
    prefix = prefix.rstrip("/") or "/"
    return path == prefix or prefix == "/" or path.startswith(prefix + "/")


def engine_socket() -> str:
    """The real path of the Docker engine's socket (``DOCKER_HOST=unix://…`` or the
    default ``/var/run/docker.sock``)."""
    host = os.environ.get("DOCKER_HOST", "")
    path = host[len("unix://"):] if host.startswith("unix://") else "/var/run/docker.sock"
    return real(path)


def sensitive_paths() -> list[str]:
    """Canonical :data:`SENSITIVE` paths plus the engine socket (memoised per
    ``DOCKER_HOST``)."""
    return list(_sensitive(os.environ.get("DOCKER_HOST", "")))


@functools.lru_cache(maxsize=4)
def _sensitive(_docker_host: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys([real(p) for p in SENSITIVE] + [engine_socket()]))


# -- narrowing (the cascade's merge of ``policy``) ----------------------------------------

def _plain_list(node: Node) -> list:
    return [n.value for n in node.value] if node.is_list else [node.value]


def narrow(key: str, prev: Node, new: Node, path: tuple) -> None:
    """Raise :class:`ConfigError` at ``new`` when a deeper file's ``policy.<key>`` widens the
    inherited value ``prev`` (both already canonical for path keys)."""
    where = prev.loc.short if prev.loc.line else f"{prev.loc.short} (default)"
    if key.startswith("allow_"):
        if new.value is True and prev.value is not True:
            raise ConfigError(f"policy may only narrow: {key} is false at {where}", new.loc, path)
    elif key == "pids_limit":
        if isinstance(new.value, int) and new.value > prev.value:
            raise ConfigError(f"policy may only narrow: pids_limit is {prev.value} at {where}",
                              new.loc, path)
    elif key in PATH_KEYS:
        inherited = _plain_list(prev)
        for n in new.value:
            if not any(under(str(n.value), a) for a in inherited):
                allowed = ", ".join(inherited) or "nothing"
                raise ConfigError(f"policy may only narrow: {n.value} is outside {key} "
                                  f"({allowed}) set at {where}", n.loc, path)
    else:  # lists of names: allowed_devices, allowed_capabilities, allowed_binds
        inherited = set(_plain_list(prev))
        for n in new.value:
            if n.value not in inherited:
                raise ConfigError(f"policy may only narrow: {n.value} is not in {key} at "
                                  f"{where}", n.loc, path)


def seed_defaults(policy: Node | None, root_file: Path, storage: Node | None) -> Node:
    """The studio root's ``policy`` node with every key present: what the root wrote, else
    the default, located at the root file (line 0: ``from`` reads ``file (default)``).
    ``storage`` is the root's merged storage node (its sources join the default mounts)."""
    loc = Location(str(root_file))
    values = dict(policy.value) if policy is not None and policy.is_map else {}
    key_locs = dict(policy.key_locs or {}) if policy is not None and policy.is_map else {}
    for key, default in DEFAULTS.items():
        if key in values:
            continue
        if key == "allowed_mounts":
            sources = [str(m.get("source").value) for m in (storage.value if storage else [])
                       if m.is_map and m.get("source") is not None]
            default = list(dict.fromkeys([real(root_file.parent)] + [real(s) for s in sources]))
        values[key] = Node([Node(v, loc) for v in default], loc) if isinstance(default, list) \
            else Node(default, loc)
        key_locs[key] = loc
    return Node(values, policy.loc if policy is not None else loc, None, key_locs)


def intersect(policy: Node, extra: Node) -> Node:
    """``policy`` (merged, every key present) narrowed by a further file's ``policy`` node
    ``extra``, keeping for each key the narrower of the two — never an error: the file was
    skipped by a ``parent:`` redirect, and what it allows beyond ``policy`` simply does not
    count. Path entries of ``extra`` are made absolute against its file and canonical."""
    from .merge import policy_path  # merge builds policy's narrowing on this module

    values = dict(policy.value)
    key_locs = dict(policy.key_locs or {})
    for key, n in extra.items():
        if key not in values or n.tag is not None:
            continue
        old = values[key]
        if key.startswith("allow_"):
            if n.value is False and old.value is True:
                values[key] = n
        elif key == "pids_limit":
            if isinstance(n.value, int) and n.value < old.value:
                values[key] = n
        elif n.is_list:
            if key in PATH_KEYS:
                mine = [policy_path(x, ("policy", key)) for x in n.value]
                kept = [a for a in _plain_list(old) if any(under(a, m) for m in mine)] + \
                    [m for m in mine if any(under(m, a) for a in _plain_list(old))]
            else:
                mine_set = {x.value for x in n.value}
                kept = [a for a in _plain_list(old) if a in mine_set]
            values[key] = Node([Node(v, n.loc) for v in dict.fromkeys(kept)], n.loc)
        else:
            continue
        key_locs[key] = extra.key_loc(key)
    return Node(values, policy.loc, None, key_locs)


# -- the effective policy of a context ---------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """The effective policy of one context (the root's, narrowed by every deeper file).

    Path lists are canonical (real paths). ``root_mounts`` are the mounts the studio root
    itself allows (what its own ``allowed_mounts`` says, or the default): only those may
    reach a sensitive path. ``protected`` are the places that hold trusted config and code —
    the root's ``landscape.yaml``, its hidden entries (``.landscape``, ``.git``…), its
    repositories and manifest folders, the trusted repositories, Landscape's cache
    (generated override packages): a container may never mount them writable. ``origins``
    maps each key to where it was last set.
    """

    studio_root: str
    root_file: str
    allowed_mounts: tuple[str, ...]
    root_mounts: tuple[str, ...]
    allowed_repositories: tuple[str, ...] = ()
    trusted_repositories: tuple[str, ...] = ()
    allow_gui: bool = False
    allow_gpu: bool = True
    allow_privileged: bool = False
    allow_host_network: bool = False
    allowed_devices: tuple[str, ...] = ()
    allowed_capabilities: frozenset[str] = frozenset()
    allowed_binds: tuple[str, ...] = ("127.0.0.1",)
    pids_limit: int = 4096
    origins: Mapping[str, Location] = field(default_factory=dict)
    protected: tuple[str, ...] = ()

    @classmethod
    def from_nodes(cls, merged: Node | None, root_policy: Node | None, studio_root: Path,
                   root_file: Path, protected: Iterable[str] = ()) -> "Policy":
        """Build from the cascade's merged ``policy`` node and the studio root's own (both
        seeded with defaults by :func:`seed_defaults`); ``protected``: host paths of trusted
        config and code (made canonical here, with the trusted repositories added)."""
        merged = merged if merged is not None else seed_defaults(None, root_file, None)
        root_policy = root_policy if root_policy is not None else merged
        v = {k: n.plain() for k, n in merged.items()}
        caps = {grammar.capability(c) for c in v.get("allowed_capabilities", [])}
        return cls(
            studio_root=real(studio_root), root_file=str(root_file),
            allowed_mounts=tuple(v["allowed_mounts"]),
            root_mounts=tuple(root_policy.get("allowed_mounts").plain()),
            allowed_repositories=tuple(v["allowed_repositories"]),
            trusted_repositories=tuple(v["trusted_repositories"]),
            allow_gui=bool(v["allow_gui"]), allow_gpu=bool(v["allow_gpu"]),
            allow_privileged=bool(v["allow_privileged"]),
            allow_host_network=bool(v["allow_host_network"]),
            allowed_devices=tuple(v["allowed_devices"]),
            allowed_capabilities=frozenset(c for c in caps if c),
            allowed_binds=tuple(v["allowed_binds"]), pids_limit=int(v["pids_limit"]),
            origins={k: n.loc for k, n in merged.items()},
            protected=tuple(dict.fromkeys(
                [real(p) for p in protected] + list(v["trusted_repositories"]))))

    def _where(self, key: str) -> str:
        loc = self.origins.get(key)
        if loc is None:
            return "the default"
        return loc.short if loc.line else f"{loc.short} (default)"

    # -- mounts --------------------------------------------------------------------------
    def mount_source(self, source: str, loc: Location | None, path: tuple,
                     writable: bool = True) -> str:
        """Judge a host path to be mounted (``writable`` unless read-only); return its
        **canonical** path (what must be handed to the engine, so a symlink cannot be
        swapped in later by name).

        Raises :class:`ConfigError` at ``loc`` when the real path lies outside
        ``allowed_mounts``, reaches a sensitive path the studio root does not name, or — when
        writable — covers a :attr:`protected` place (a container as root could otherwise
        rewrite the root's config or a trusted ``package.py``, which then runs on the host).
        """
        if "\0" in source:
            raise ConfigError("a path cannot contain a NUL character", loc, path)
        canonical = real(source)
        shown = source if canonical == source else f"{source} (really {canonical})"
        holders = [a for a in self.allowed_mounts if under(canonical, a)]
        if not holders:
            allowed = ", ".join(self.allowed_mounts) or "nothing"
            raise ConfigError(f"{shown} is outside policy.allowed_mounts ({allowed}, set at "
                              f"{self._where('allowed_mounts')})", loc, path)
        for s in sensitive_paths():
            if under(canonical, s):  # in a sensitive tree: the root must name it or within
                named = any(under(a, s) and under(canonical, a) for a in self.root_mounts)
            elif under(s, canonical):  # an ancestor of one: the root must name exactly it
                named = canonical in self.root_mounts
            else:
                continue
            if not named:
                raise ConfigError(f"mounting {shown} reaches {s}, which only the studio root's "
                                  "policy.allowed_mounts can allow, by naming it", loc, path)
        if writable:
            for p in self.protected:
                if under(p, canonical) or under(canonical, p):
                    raise ConfigError(
                        f"mounting {shown} writable would let containers change {p}, which "
                        "holds the studio's trusted config or code", loc, path,
                        hint="mount it read-only (mode: ro), or mount a folder that does not "
                        "contain it")
        return canonical

    @staticmethod
    def mount_target(target: str, loc: Location | None, path: tuple) -> str:
        """Validate a container path a mount covers; return it. Raises :class:`ConfigError`
        for a malformed path, ``/``, or one covering Landscape's files or the kernel's."""
        problem = grammar.check_container_path(target)
        if problem:
            raise ConfigError(f"target {target!r} {problem}", loc, path)
        if target in RESERVED_EXACT or any(under(target, r) for r in RESERVED_TARGETS):
            raise ConfigError(f"target {target} is reserved (the image's and Landscape's own "
                              "files, the kernel's interfaces and each launch's private "
                              "folders cannot be covered)", loc, path)
        return target

    # -- repositories ------------------------------------------------------------------
    def repository_trust(self, repository: str, root_named: Iterable[str], loc: Location | None,
                         path: tuple) -> str:
        """How far a rez repository may be trusted: ``"trusted"`` (the studio root names it,
        or it lies in ``trusted_repositories``: its ``package.py`` files may run) or
        ``"declarative"`` (it lies in ``allowed_repositories``: only ``package.yaml``
        definitions are accepted). Raises :class:`ConfigError` at ``loc`` for any other."""
        canonical = real(repository)
        if canonical in {real(r) for r in root_named}:
            return "trusted"
        if any(under(canonical, t) for t in self.trusted_repositories):
            return "trusted"
        if any(under(canonical, a) for a in self.allowed_repositories):
            return "declarative"
        allowed = ", ".join(self.allowed_repositories) or "nothing"
        raise ConfigError(f"package repository {repository} is not one the studio root names, "
                          f"nor inside policy.allowed_repositories ({allowed})", loc, path,
                          hint="a file below the studio root may only search repositories "
                          "the root allows")

    # -- tools -------------------------------------------------------------------------
    def tool_errors(self, tool: str, fields: Mapping[str, Node | None], context: str
                    ) -> list[ConfigError]:
        """What tool ``tool`` (``blender/render``) asks for that policy forbids: ``gui``,
        ``gpu``, ``capabilities``. ``fields`` maps those field names to their nodes."""
        errors = []
        key_path = ("tools", *tool.split("/"))
        for flag, allow in (("gui", "allow_gui"), ("gpu", "allow_gpu")):
            n = fields.get(flag)
            if n is not None and n.value is True and not getattr(self, allow):
                errors.append(ConfigError(
                    f"tool {tool!r} asks for {flag} but policy.{allow} is false for {context} "
                    f"(set at {self._where(allow)})", n.loc, key_path + (flag,)))
        caps = fields.get("capabilities")
        for i, c in enumerate(caps.value if caps is not None and caps.is_list else []):
            name = grammar.capability(c.value)
            if name is None:
                errors.append(ConfigError(f"{c.value!r} is not a Linux capability", c.loc,
                                          key_path + ("capabilities", i)))
            elif name not in self.allowed_capabilities:
                errors.append(ConfigError(
                    f"tool {tool!r} asks for capability {name}, which "
                    f"policy.allowed_capabilities does not allow", c.loc,
                    key_path + ("capabilities", i)))
        return errors

    def tool_capabilities(self, caps: Iterable[str]) -> list[str]:
        """The capabilities a launch adds back: the tool's, each allowed (see
        :meth:`tool_errors`; a refused one raises there first)."""
        out = []
        for c in caps:
            name = grammar.capability(c)
            if name is None or name not in self.allowed_capabilities:
                raise ConfigError(f"capability {c!r} is not allowed by policy")
            out.append(name)
        return sorted(set(out))

    # -- published ports -----------------------------------------------------------------
    def bind_error(self, address: str, loc: Location | None, path: tuple) -> ConfigError | None:
        """An error when a port would be published on ``address`` (``0.0.0.0`` when none is
        given) and ``allowed_binds`` does not allow it."""
        if address in self.allowed_binds:
            return None
        return ConfigError(f"publishing a port on {address} needs policy.allowed_binds to allow "
                           f"it (allowed: {', '.join(self.allowed_binds) or 'nothing'}; set at "
                           f"{self._where('allowed_binds')})", loc, path,
                           hint="bind 127.0.0.1, or have the studio root allow the address")

    # -- compose services ---------------------------------------------------------------
    def service_errors(self, name: str, service: Node, base: str) -> list[ConfigError]:
        """Everything a declared compose ``service`` asks for that policy forbids (see
        :func:`service_checks`); ``base`` is the folder relative bind sources are taken from."""
        return service_checks(self, name, service, base)[1]


# -- compose services -------------------------------------------------------------------

#: Service keys that are as good as root on the host (or read host files): each needs
#: ``policy.allow_privileged``.
PRIVILEGED_KEYS = {
    "build": "builds an image from a host folder (as root, on the engine)",
    "env_file": "reads files of the host",
    "cgroup_parent": "places the container in a host cgroup",
    "device_cgroup_rules": "grants device access",
    "sysctls": "changes kernel settings",
    "runtime": "chooses the container runtime",
    "isolation": "chooses the isolation technology",
    "credential_spec": "reads host credentials",
    "volumes_from": "mounts the volumes of other containers",
    "storage_opt": "sets storage driver options",
    "extends": "takes configuration from elsewhere, unchecked",
}


def _short_port(text: str) -> tuple[str, str | None]:
    """The bind address of a short-syntax port (``[[IP:]HOST:]CONTAINER[/proto]``) and its
    host part (``None`` when only the container port is given: Docker picks one)."""
    body = text.rsplit("/", 1)[0]
    if body.startswith("["):  # [::1]:8080:80
        addr, _, rest = body[1:].partition("]")
        return addr, rest.lstrip(":").split(":")[0]
    parts = body.split(":")
    if len(parts) >= 3:
        return ":".join(parts[:-2]), parts[-2]
    if len(parts) == 2:
        return "0.0.0.0", parts[0]
    return "0.0.0.0", None


def _bind_source(volume: Any) -> tuple[str | None, str | None, bool]:
    """``(host source, container target, read-only)`` of a volume entry; the source is
    ``None`` for named volumes and tmpfs. Anything that names a host path is a bind,
    whatever its ``type`` says. Raises ``ValueError`` for an entry Compose would read some
    other way (``~`` paths, unknown types)."""
    if isinstance(volume, str):
        parts = volume.split(":")
        src = parts[0] if len(parts) > 1 else None
        read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        if src is not None and src.startswith("~"):
            raise ValueError(f"volume {volume!r}: write the host path out (no ~)")
        if src is None or not src.startswith(("/", ".")):
            return None, parts[1] if len(parts) > 1 else parts[0], read_only
        return src, parts[1], read_only
    if isinstance(volume, dict):
        kind = str(volume.get("type", "volume")).lower()
        src = str(volume.get("source", ""))
        if kind not in ("bind", "volume", "tmpfs"):
            raise ValueError(f"volume type {volume.get('type')!r} is not bind, volume or tmpfs")
        read_only = volume.get("read_only", False)
        if not isinstance(read_only, bool):
            raise ValueError(f"read_only must be true or false, not {read_only!r}")
        if kind != "bind" and not src.startswith(("/", ".", "~")):
            return None, volume.get("target"), read_only
        if src.startswith("~"):
            raise ValueError(f"volume source {src!r}: write the host path out (no ~)")
        return src, volume.get("target"), read_only
    raise ValueError(f"volume {volume!r} is neither a string nor a mapping")


_NAME_OR_ID = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_.-]*|[0-9]+)\Z")

#: the user and group id the stack's features run as when root brings the stack up (they own
#: the features' state folders: database files, keys, generated passwords); a declared
#: service may not take it, as user or group
FEATURE_ID = 65532


def _user_problem(user: Any) -> str | None:
    """``"root"`` when a compose ``user`` names uid or gid 0 (or ``root``), a reason when it
    is not ``NAME|UID[:GROUP|GID]``, else ``None``."""
    if not isinstance(user, (str, int)) or isinstance(user, bool):
        return "must be NAME or UID, optionally :GROUP or :GID"
    parts = str(user).split(":")
    if len(parts) > 2 or not all(_NAME_OR_ID.match(p) for p in parts):
        return "must be NAME or UID, optionally :GROUP or :GID"
    if any(p == "root" or (p.isdigit() and int(p) == 0) for p in parts):
        return "root"
    if any(p.isdigit() and int(p) == FEATURE_ID for p in parts):
        return f"takes id {FEATURE_ID}, the features' own (it owns their state and passwords)"
    return None


def _truthy(value: Any) -> bool:
    """Whether Compose would read ``value`` as true (``true``, ``"yes"``, ``"on"``, …)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "y", "on", "1")
    return bool(value) if isinstance(value, (bool, int)) else False


def is_no_new_privileges(option: Any) -> bool:
    """Whether a compose ``security_opt`` entry is ``no-new-privileges`` (the one a service
    may set without ``allow_privileged``, and the one every service gets)."""
    return str(option).replace("=", ":") in ("no-new-privileges", "no-new-privileges:true")


def _as_list(value: Any) -> list:
    """``value`` as a list of entries: ``[]`` for nothing, itself for a list, else one."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _dig(data: Any, *keys: str) -> dict:
    """``data[k1][k2]…`` when every step is a mapping, else ``{}`` (malformed input is the
    schema's to report, never a crash here)."""
    for k in keys:
        data = data.get(k) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


#: logging drivers that keep a container's output on its own host (the engine's files)
LOCAL_LOG_DRIVERS = ("json-file", "local", "none")


def service_checks(policy: Policy, name: str, service: Node, base: str
                   ) -> tuple[dict, list[ConfigError]]:
    """Judge a declared compose service; return ``(its plain mapping with bind sources made
    canonical, errors)``. Errors name the key at fault and the policy switch it needs; the
    same function serves ``check`` and ``up``, so both refuse alike."""
    errors: list[ConfigError] = []
    svc = service.plain() if service.is_map else {}
    kp = ("services", name)

    def node(*keys: Any) -> Node:
        return service.find(keys) or service

    def need(flag: str, key: str, why: str) -> None:
        if not getattr(policy, flag):
            errors.append(ConfigError(f"service {name!r}: {key} {why}; it needs policy.{flag} "
                                      "at the studio root", node(key).loc, kp + (key,)))

    if _truthy(svc.get("privileged")):
        need("allow_privileged", "privileged", "gives the container every privilege of root")
    for key, why in PRIVILEGED_KEYS.items():
        if key in svc:
            need("allow_privileged", key, why)
    for key in ("pid", "ipc", "userns_mode"):
        value = str(svc.get(key, ""))
        if value == "host" or value.startswith("container:"):
            need("allow_privileged", key, f"{value!r} shares the host's (or another "
                 "container's) namespace")
    net = str(svc.get("network_mode", ""))
    if net == "host":
        need("allow_host_network", "network_mode", "'host' puts the service on the host network")
    elif net.startswith("container:"):
        need("allow_privileged", "network_mode", f"{net!r} joins another container's network")
    for i, opt in enumerate(_as_list(svc.get("security_opt"))):
        if not is_no_new_privileges(opt):
            if not policy.allow_privileged:
                errors.append(ConfigError(
                    f"service {name!r}: security_opt {opt!r} weakens the container's "
                    "confinement; it needs policy.allow_privileged at the studio root",
                    node("security_opt", i).loc, kp + ("security_opt", i)))
    if "user" in svc:
        problem = _user_problem(svc.get("user"))
        if problem == "root":
            need("allow_privileged", "user", "runs the service as root (user or group 0)")
        elif problem:
            errors.append(ConfigError(f"service {name!r}: user {svc.get('user')!r} {problem}",
                                      node("user").loc, kp + ("user",)))
    for i, group in enumerate(_as_list(svc.get("group_add"))):
        text = str(group)
        if text == "root" or (text.isdigit() and int(text) == 0):
            need("allow_privileged", "group_add", "adds the root group (gid 0)")
        elif text.isdigit() and int(text) == FEATURE_ID:
            errors.append(ConfigError(
                f"service {name!r}: group_add {text} is the features' own group (it owns "
                "their state and passwords)", node("group_add", i).loc, kp + ("group_add", i)))
    for i, cap in enumerate(_as_list(svc.get("cap_add"))):
        c = grammar.capability(cap) if cap != "ALL" else "ALL"
        if not policy.allow_privileged and (c is None or c not in policy.allowed_capabilities):
            errors.append(ConfigError(
                f"service {name!r}: capability {cap} is not in policy.allowed_capabilities",
                node("cap_add", i).loc, kp + ("cap_add", i)))
    for i, dev in enumerate(_as_list(svc.get("devices"))):
        host = str(dev).split(":")[0] if isinstance(dev, str) else str(dev)
        if host not in policy.allowed_devices and not policy.allow_privileged:
            errors.append(ConfigError(
                f"service {name!r}: device {host} is not in policy.allowed_devices",
                node("devices", i).loc, kp + ("devices", i)))
    reservations = _dig(svc, "deploy", "resources", "reservations")
    if (reservations.get("devices") or reservations.get("generic_resources")) \
            and not policy.allow_gpu:
        errors.append(ConfigError(f"service {name!r} reserves devices but policy.allow_gpu is "
                                  "false", node("deploy").loc, kp + ("deploy",)))
    for where in (("labels",), ("deploy", "labels")):  # container and (Swarm) service labels
        labels = (svc.get("labels") if where == ("labels",) else _dig(svc, "deploy").get(
            "labels")) or {}
        keys = labels if isinstance(labels, dict) else [str(x).split("=", 1)[0]
                                                        for x in _as_list(labels)]
        for key in keys:
            if grammar.is_reserved_label(str(key)) or str(key).startswith("com.docker."):
                errors.append(ConfigError(f"service {name!r}: label {key} is reserved: only "
                                          "Landscape (or Docker) writes it", node(*where).loc,
                                          kp + where + (key,)))
    logging = svc.get("logging")
    if isinstance(logging, dict):
        driver = str(logging.get("driver") or "json-file")
        if driver not in LOCAL_LOG_DRIVERS and not policy.allow_privileged:
            errors.append(ConfigError(
                f"service {name!r}: logging driver {driver!r} sends the container's output "
                f"elsewhere (only {', '.join(LOCAL_LOG_DRIVERS)} keep it on this host); it "
                "needs policy.allow_privileged at the studio root", node("logging").loc,
                kp + ("logging",)))
    for i, port in enumerate(_as_list(svc.get("ports"))):
        if isinstance(port, dict):
            addr = str(port.get("host_ip") or "0.0.0.0")
            published = port.get("published")
        else:
            addr, published = _short_port(str(port))
        # a port without a host port is still published, on a port Docker picks
        e = policy.bind_error(addr, node("ports", i).loc, kp + ("ports", i))
        if e is not None:
            errors.append(e)
    volumes = []
    for i, vol in enumerate(_as_list(svc.get("volumes"))):
        vloc, vpath = node("volumes", i).loc, kp + ("volumes", i)
        try:
            src, target, read_only = _bind_source(vol)
        except ValueError as e:
            errors.append(ConfigError(f"service {name!r}: {e}", vloc, vpath))
            continue
        if src is None:
            volumes.append(vol)
            continue
        host = os.path.normpath(os.path.join(base, src))
        try:
            canonical = policy.mount_source(host, vloc, vpath, writable=not read_only)
            if target is not None:
                policy.mount_target(str(target), vloc, vpath)
        except ConfigError as e:
            errors.append(e)
            continue
        if isinstance(vol, dict):
            volumes.append({**vol, "type": "bind", "source": canonical})
        else:
            volumes.append({"type": "bind", "source": canonical, "target": target,
                            "read_only": read_only})
    if "volumes" in svc:
        svc["volumes"] = volumes
    return svc, errors
