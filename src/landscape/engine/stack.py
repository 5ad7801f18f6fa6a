"""A project's stack: the compose file and the Compose CLI (README.md, What a launch gets).

The stack of a project holds one idle **workspace** service per distinct image of the
project (storage mounted, used by ``shell`` and warm launches), the enabled ``features``
(fragments of the catalog under ``compose/``) and the declared ``services``.

The compose file is built as a Python mapping and serialised with PyYAML — no text is ever
pasted into it. Catalog fragments are data too: their ``!var`` values are substituted as
values and their options validated against each feature's JSON Schema
(``x-landscape.options``). Declared services are judged by the policy
(:func:`landscape.policy.service_checks`, the same judgement ``check`` makes) and ``up``
refuses what it forbids; bind sources are written as the real paths that were judged.
Every ``$`` in a string is written ``$$``, so Compose never interpolates the host's
environment into a value. Every service runs with ``no-new-privileges`` and no capabilities
but the ``cap_add`` the policy allowed; a declared service without ``user`` runs as the user
bringing the stack up.

The file is written to ``<studio root>/.landscape/stacks/<project>/compose.yaml`` atomically,
under a lock shared by concurrent ``landscape`` processes, with ``version: "3.8"`` so that
``docker compose``, ``docker-compose`` (v1) and ``docker stack deploy`` all accept it. The
Compose project name joins the project's name with a digest of the studio root's real path,
so two studios (or two clones) with a project of the same name never share a stack.

Compose is driven through its CLI — ``docker compose`` (v2) when present, else
``docker-compose`` (v1): the Docker SDK does not do Compose.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..cascade import Cascade
from ..imagekey import ImageSpec
from ..errors import ConfigError, EngineError, ErrorGroup, LandscapeError, flatten
from ..launchinputs import StorageMount
from ..plan import BuildPlan
from ..features import enabled_features, feature_settings, is_feature, render_feature
from ..policy import FEATURE_ID, is_no_new_privileges, service_checks
from ..resources import atomic_write
from ..names import (LABEL_CONTEXTS, LABEL_KEY, LABEL_PROJECT, LABEL_ROLE, LABEL_ROOT, VAR_IMAGE,
                     VAR_PROJECT, VAR_ROOT)

COMPOSE_VERSION = "3.8"


def stack_dir(root: Path, project: str) -> Path:
    """``<studio root>/.landscape/stacks/<project>``."""
    return root / ".landscape" / "stacks" / project


def compose_project_name(root: Path, project: str) -> str:
    """The Compose project name of ``project`` of the studio at ``root``:
    ``landscape-<project>-<digest>``, the digest (10 hex digits) of the root's real path and
    the project's exact name — so neither two studios nor two project names that read alike
    once Compose's characters are kept (``Light.House``, ``lighthouse``) share a stack."""
    slug = re.sub(r"[^-_a-z0-9]", "", project.lower())[:40] or "project"
    digest = hashlib.sha256(f"{os.path.realpath(root)}\0{project}".encode()).hexdigest()[:10]
    return f"landscape-{slug}-{digest}"


@contextlib.contextmanager
def stack_lock(root: Path, project: str) -> Iterator[None]:
    """Hold the project's stack lock (``flock`` on ``.lock`` in the stack folder)."""
    d = stack_dir(root, project)
    d.mkdir(parents=True, exist_ok=True)
    try:  # never follow a link planted in place of the lock file, never truncate
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise EngineError(f"cannot open the stack lock {d / '.lock'}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def claim_stack(root: Path, project: str, project_dir: Path, record: bool = True) -> None:
    """Make sure the stack folder of ``project`` is the stack of the project folder
    ``project_dir``: two project folders of one name (``projects/lighthouse`` and
    ``projects/old/lighthouse``) would otherwise share one stack — its compose file, its
    Compose project (``up --remove-orphans`` of one removes the other's containers) and its
    features' state folders and passwords. The folder's real path is kept in ``project``
    in the stack folder, written by the first ``up`` or ``deploy`` (``record``), read without
    following a link. Raises :class:`LandscapeError` when it names another folder."""
    mine = os.path.realpath(project_dir)
    marker = stack_dir(root, project) / "project"
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        if record:
            atomic_write(marker, mine + "\n")
        return
    except OSError as e:
        raise EngineError(f"cannot read {marker}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        owner = f.read(8192).decode("utf-8", "replace").strip()
    if owner != mine:
        raise LandscapeError(
            f"the stack of project {project!r} ({marker.parent}) belongs to the project folder "
            f"{owner[:200]!r}, not {mine}: two project folders of one name would share one "
            "stack (containers, state folders, passwords)",
            hint=f"rename one of the two project folders (or remove {marker} if the project "
            "was moved)")


def _volumes(storage: list[StorageMount]) -> list[dict]:
    return [{"type": "bind", "source": m.source, "target": m.target,
             "read_only": m.read_only} for m in storage]


def _harden(service: dict, drop_capabilities: bool) -> dict:
    """``service`` with ``no-new-privileges`` added to its ``security_opt`` (whatever it
    holds: an empty list must not drop it) and, with ``drop_capabilities``, ``ALL`` in
    ``cap_drop``."""
    opts = service.get("security_opt") or []
    opts = [o for o in (opts if isinstance(opts, list) else [opts]) if isinstance(o, str)]
    if not any(is_no_new_privileges(o) for o in opts):
        opts.append("no-new-privileges:true")
    service["security_opt"] = opts
    if drop_capabilities:
        service["cap_drop"] = ["ALL"]
    return service


def escape_interpolation(value: Any) -> Any:
    """``value`` with every ``$`` in its strings written ``$$`` (Compose reads ``$$`` as a
    literal ``$``, and would otherwise interpolate host variables into ``$VAR``)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape_interpolation(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_interpolation(v) for v in value]
    return value


def _payload_volumes(spec: ImageSpec, project: Cascade) -> list[dict]:
    """Read-only volumes of the packages of ``spec`` whose payload is mounted rather than
    baked (``delivery: mount``), each checked against the project's lock as a launch checks
    it (:func:`landscape.engine.payloads.checked_binds`; raises its one-line
    :class:`LandscapeError`), so a workspace service sees the same package tree as a
    launch."""
    if not spec.mounted:
        return []
    from ..payloads import payload_mounts
    from .payloads import checked_binds

    mounts, errors = payload_mounts(spec.packages, spec, ())
    ErrorGroup.raise_if_any(errors)
    binds = checked_binds(mounts, str(project.project_dir), str(project.root))
    return [{"type": "bind", "source": source, "target": target, "read_only": True}
            for source, target, _mode in binds]


#: where a feature's state folder is mounted in its containers
STATE_TARGET = "/state"
#: the user and group id a feature that wants a named user runs as when root brings the
#: stack up (a database server refuses to run as root, and nothing needs it to)
NONROOT = FEATURE_ID


def feature_user() -> tuple[int, int]:
    """``(uid, gid)`` the features that want a named user (``x-landscape.user``) run as:
    the user bringing the stack up, or :data:`NONROOT` when that is root."""
    uid, gid = os.getuid(), os.getgid()
    return (NONROOT, NONROOT) if uid == 0 else (uid, gid)


def state_dir(root: Path, project: str, feature: str) -> Path:
    """The state folder of ``feature`` of the stack of ``project``:
    ``<studio root>/.landscape/stacks/<project>/state/<feature>`` (a database's cluster,
    Syncthing's keys), made by :func:`prepare_feature_state`. Kept by ``down``."""
    return stack_dir(root, project) / "state" / feature


def feature_image(project: Cascade, packages: tuple[str, ...]) -> ImageSpec:
    """The image a feature runs on when the workspace image does not serve: the project's
    base (``image.base``) with the Debian ``packages`` installed, built as every Landscape
    image is (:func:`landscape.engine.images.build_image`: OS packages fetched by apt at
    build time, none pulled from a registry), with no rez packages and no tools. Features
    that ask for the same packages share it."""
    from ..imagekey import DEFAULT_BASE, DEFAULT_REZ_VERSION

    image_cfg = project.plain("image", {}) or {}
    rez_cfg = project.plain("rez", {}) or {}
    return ImageSpec(project=project.project, base=str(image_cfg.get("base") or DEFAULT_BASE),
                     system_packages=sorted(packages),
                     rez_version=str(rez_cfg.get("version") or DEFAULT_REZ_VERSION),
                     packages=[], tools={})


def feature_images(project: Cascade) -> dict[str, ImageSpec]:
    """Feature name → the image built for it (:func:`feature_image`), for each enabled
    feature of ``project`` whose catalog entry asks for one. Features not in the catalog
    are skipped (:func:`compose_document` reports them)."""
    out = {}
    for name, _node in enabled_features(project.node("features")):
        if is_feature(name):
            packages = feature_settings(name).system_packages
            if packages:
                out[name] = feature_image(project, packages)
    return out


def _user_files(root: Path, project: str) -> tuple[Path, Path]:
    """``(passwd, group)`` files of the stack (``etc/`` of its folder)."""
    etc = stack_dir(root, project) / "etc"
    return etc / "passwd", etc / "group"


def prepare_feature_state(project: Cascade) -> list[Path]:
    """Make what the enabled features of ``project`` need on the host before the stack
    starts: each state folder (mode 0700, the user's) with a ``password`` file (0600; 24
    random bytes, URL-safe base64) when it has none, and the stack's ``etc/passwd`` and
    ``etc/group`` (the user as :func:`landscape.engine.launch.user_entries` writes them,
    home ``/state``). Never follows a symlink planted in place of a state folder or file;
    returns the state folders. Raises :class:`EngineError` when one cannot be made."""
    import pwd
    import secrets

    from .. import grammar
    from .launch import user_entries

    root, name = project.root, project.project
    made = []
    uid, gid = feature_user()
    for fname, _node in enabled_features(project.node("features")):
        try:
            settings = feature_settings(fname)
        except (LandscapeError, OSError):
            continue
        if settings.user:
            try:
                user = pwd.getpwuid(uid).pw_name if uid == os.getuid() else ""
            except KeyError:
                user = ""
            user = user if grammar.is_user_name(user) else "landscape"
            passwd, group = user_entries(uid, gid, user, STATE_TARGET, [gid])
            files = _user_files(root, name)
            etc, where = files[0].parent, os.path.realpath(files[0].parent)
            if os.path.islink(etc) or (os.path.lexists(etc) and not os.path.isdir(etc)) or \
                    where != os.path.join(os.path.realpath(stack_dir(root, name)), "etc"):
                raise EngineError(f"the folder of the stack's user files {etc} is not a "
                                  f"folder of the stack (it leads to {where}); remove it")
            for path, text in zip(files, (passwd, group)):
                atomic_write(path, text)
        if not settings.state:
            continue
        d = state_dir(root, name, fname)
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(d):
                d.mkdir(mode=0o700)
            where = os.path.realpath(d)
            if os.path.islink(d) or not os.path.isdir(d) or where != os.path.join(
                    os.path.realpath(stack_dir(root, name)), "state", fname):
                raise EngineError(f"the state folder {d} is not a folder of the stack (it "
                                  f"leads to {where}); remove it")
            os.chmod(d, 0o700, follow_symlinks=False)
            fd = os.open(d / "password", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
        except FileExistsError:
            made.append(d)
            continue
        except OSError as e:
            raise EngineError(f"cannot make the state folder {d}: {e.strerror or e}") from None
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
            if settings.user and os.getuid() == 0:  # the feature's own user owns its state
                os.fchown(fd, uid, gid)
                os.chown(d, uid, gid, follow_symlinks=False)
        made.append(d)
    return made


def missing_feature_images(project: Cascade) -> list[ImageSpec]:
    """The images of :func:`feature_images` the engine lacks (one per key), to build before
    the stack starts (:func:`landscape.engine.images.find_image`: by key and labels)."""
    from .images import find_image

    specs = {spec.key: spec for spec in feature_images(project).values()}
    return [spec for spec in specs.values() if find_image(spec) is None]


def feature_build_options(project: Cascade) -> Any:
    """The :class:`~landscape.engine.buildcontext.BuildOptions` of a feature image's build:
    labelled with the studio (``io.landscape.studio``), so that ``prune`` knows it as this
    studio's (and keeps it while the project's features ask for it)."""
    from .buildcontext import BuildOptions, studio_id

    return BuildOptions(studio=studio_id(project.root))


def compose_document(plan: BuildPlan, project: Cascade) -> dict:
    """The compose document of a project's stack (a plain dict, see the module doc).

    ``plan`` gives the workspaces (one per image); ``project`` is the cascade of the project
    directory, whose ``features`` and ``services`` are added. Raises
    :class:`~landscape.errors.ErrorGroup` / :class:`ConfigError` for an unknown feature, bad
    options, and every service or binding the policy forbids.
    """
    services: dict[str, Any] = {}
    uid, gid = os.getuid(), os.getgid()
    name = project.project
    policy = project.policy
    ident = {LABEL_PROJECT: name, LABEL_ROOT: str(project.root)}
    storage_all: list[StorageMount] = []
    first_image = None
    for key, im in sorted(plan.images.items(), key=lambda kv: kv[1].spec.tag):
        storage: dict[str, StorageMount] = {}
        for c in im.contexts:
            for m in c.storage:
                storage.setdefault(m.target, m)
        storage_all.extend(m for m in storage.values() if m not in storage_all)
        first_image = first_image or im.spec.tag
        services[f"workspace-{im.spec.short}"] = _harden({
            "image": im.spec.tag,
            "init": True,
            "command": ["sleep", "infinity"],
            "user": f"{uid}:{gid}",
            "environment": {VAR_PROJECT: name, VAR_ROOT: str(project.root),
                            VAR_IMAGE: im.spec.tag},
            "volumes": _volumes(list(storage.values())) + _payload_volumes(im.spec, project),
            "labels": {**ident, LABEL_KEY: key, LABEL_ROLE: "workspace",
                       LABEL_CONTEXTS: str(len(im.contexts))},
            "restart": "unless-stopped",
        }, True)
    doc: dict[str, Any] = {"version": COMPOSE_VERSION, "services": services}
    errors: list[LandscapeError] = []
    features = project.node("features")
    variables = {"project": name, "root": str(project.root), "project_dir": str(project.context),
                 "workspace_image": first_image, "storage": _volumes(storage_all),
                 "storage_ro": [{**v, "read_only": True} for v in _volumes(storage_all)],
                 "uid": uid, "gid": gid, "user": f"{uid}:{gid}"}
    own_images = feature_images(project)
    passwd, group = _user_files(project.root, name)
    for fname, fnode in enabled_features(features):
        if first_image is None:
            raise LandscapeError(f"feature {fname!r} needs a workspace image, and no context of "
                                 "the project resolves")
        state = {"type": "bind", "source": str(state_dir(project.root, name, fname)),
                 "target": STATE_TARGET, "read_only": False}
        mine = {**variables, "state_dir": state["source"], "state_volumes": [state],
                "state_and_storage": [state, *variables["storage"]]}
        if fname in own_images:
            mine["feature_image"] = own_images[fname].tag
        try:
            settings = feature_settings(fname) if is_feature(fname) else None
            if settings is not None and settings.user:
                fuid, fgid = feature_user()
                mine.update(uid=fuid, gid=fgid, user=f"{fuid}:{fgid}")
            fragment = render_feature(fname, fnode, mine, policy)
        except LandscapeError as e:
            errors += flatten(e)
            continue
        for section, entries in fragment.items():
            if section == "services":
                entries = {k: _harden({**v, "labels": {**(v.get("labels") or {}), **ident,
                                                        LABEL_ROLE: "feature"}}, True)
                           for k, v in (entries or {}).items()}
                if settings is not None and settings.user:
                    for v in entries.values():
                        v["volumes"] = [*(v.get("volumes") or []), *(
                            {"type": "bind", "source": str(src), "target": target,
                             "read_only": True}
                            for src, target in ((passwd, "/etc/passwd"),
                                                (group, "/etc/group")))]
            doc.setdefault(section, {}).update(entries or {})
    declared = project.node("services")
    for sname, snode in (declared.items() if declared is not None else ()):
        if sname in doc["services"]:
            errors.append(ConfigError(f"service {sname!r} clashes with a generated one",
                                      snode.loc, ("services", sname)))
            continue
        svc, refused = service_checks(policy, sname, snode, str(Path(snode.loc.file).parent))
        errors += refused
        svc.setdefault("user", f"{uid}:{gid}")  # not the image's user (often root)
        labels = svc.get("labels") or {}
        if isinstance(labels, list):
            labels = dict(str(x).partition("=")[::2] for x in labels)
        svc["labels"] = {**labels, **ident, LABEL_ROLE: "service"}
        doc["services"][sname] = _harden(svc, True)  # capabilities: only its judged cap_add
    ErrorGroup.raise_if_any(errors)
    return escape_interpolation(doc)


def write_compose(root: Path, project: str, doc: dict) -> Path:
    """Write ``doc`` as the project's compose file (atomic); return its path."""
    path = stack_dir(root, project) / "compose.yaml"
    # no name in the comment: a folder name may hold a line break (all text is in the data)
    header = ("# Generated by Landscape: a project's stack. "
              "Do not edit: `landscape up` rewrites it.\n")
    atomic_write(path, header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    return path


def compose_command() -> list[str]:
    """``["docker", "compose"]`` when Compose v2 answers, else ``["docker-compose"]``.
    Raises :class:`EngineError` when neither is installed."""
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if r.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise EngineError("neither `docker compose` nor `docker-compose` is installed")


def compose(path: Path, root: Path, project: str, *args: str, capture: bool = False
            ) -> subprocess.CompletedProcess:
    """Run Compose on the stack file ``path`` of ``project`` of the studio at ``root``:
    ``<compose> -p NAME -f PATH ARGS…`` (NAME: :func:`compose_project_name`).

    Raises :class:`EngineError` with Compose's output when it fails.
    """
    cmd = compose_command() + ["-p", compose_project_name(root, project), "-f", str(path),
                               *args]
    r = subprocess.run(cmd, capture_output=capture, text=True)
    if r.returncode != 0:
        detail = (r.stderr or r.stdout or "").strip()[-2000:] if capture else ""
        raise EngineError(f"`{' '.join(cmd[:len(compose_command())])} {' '.join(args)}` failed "
                          f"(exit {r.returncode})" + (f": {detail}" if detail else ""))
    return r


@dataclass(frozen=True)
class StackContainer:
    """One container of a project's stack: its ``name`` (Compose's), the Compose
    ``service`` (``None`` when the container has no service label), the ``image`` (its
    first tag, else its id; ``None`` when the engine names none), and ``state`` and
    ``status`` — the engine's ``State.Status`` (``running``, ``exited``, …), as the SDK's
    ``Container.status`` and as the inspect data give it."""

    name: str
    service: str | None
    image: str | None
    state: str | None
    status: str | None

    def to_json(self) -> dict:
        """docs/json.md, ``ps --json`` item: ``{"name", "service", "image", "state",
        "status"}``."""
        return {"name": self.name, "service": self.service, "image": self.image,
                "state": self.state, "status": self.status}


def stack_containers(root: Path, project: str) -> list[StackContainer]:
    """The stack's containers (Docker SDK, by Compose's project label), sorted by name.
    Raises :class:`EngineError` when no engine answers."""
    from . import docker as dk

    out = []
    label = f"com.docker.compose.project={compose_project_name(root, project)}"
    for c in dk.client().containers.list(all=True, filters={"label": label}):
        labels = c.labels or {}
        out.append(StackContainer(
            c.name, labels.get("com.docker.compose.service"),
            (c.image.tags or [c.image.id])[0] if c.image else None,
            c.status, c.attrs.get("State", {}).get("Status")))
    return sorted(out, key=lambda c: c.name)
