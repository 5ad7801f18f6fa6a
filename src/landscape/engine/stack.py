"""A project's stack: the compose file and the Compose CLI (SPEC §6).

The stack of a project holds one idle **workspace** service per distinct image of the
project (storage mounted, used by ``shell`` and warm launches), the enabled ``features``
(fragments rendered from the catalog under ``compose/``) and the declared ``services``.
The file is written to ``<studio root>/.landscape/stacks/<project>/compose.yaml`` atomically,
under a lock shared by concurrent ``landscape`` processes, with ``version: "3.8"`` so that
``docker compose``, ``docker-compose`` (v1) and ``docker stack deploy`` all accept it.

Compose is driven through its CLI — ``docker compose`` (v2) when present, else
``docker-compose`` (v1): the Docker SDK does not do Compose.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..cascade import Cascade
from ..errors import ConfigError, EngineError, LandscapeError
from ..plan import BuildPlan
from ..resources import data_dir

COMPOSE_VERSION = "3.8"


def stack_dir(root: Path, project: str) -> Path:
    """``<studio root>/.landscape/stacks/<project>``."""
    return root / ".landscape" / "stacks" / project


def compose_project_name(project: str) -> str:
    """The Compose project name: what Compose v1 derives from the stack folder's name."""
    return re.sub(r"[^-_a-z0-9]", "", project.lower()) or "landscape"


@contextlib.contextmanager
def stack_lock(root: Path, project: str) -> Iterator[None]:
    """Hold the project's stack lock (``flock`` on ``.lock`` in the stack folder)."""
    d = stack_dir(root, project)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _volumes(storage: list[dict]) -> list[dict]:
    return [{"type": "bind", "source": m["source"], "target": m["target"],
             "read_only": m["mode"] == "ro"} for m in storage]


def _render_feature(name: str, options: Any, ctx: dict, at: Any) -> dict:
    import jinja2  # deferred

    path = data_dir("compose") / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in data_dir("compose").glob("*.yaml"))
        raise ConfigError(f"unknown feature {name!r}", at, ("features", name),
                          hint="catalog: " + (", ".join(known) or "empty"))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    text = env.from_string(path.read_text()).render(
        options=options if isinstance(options, dict) else {}, **ctx)
    return yaml.safe_load(text) or {}


def compose_document(plan: BuildPlan, project: Cascade) -> dict:
    """The compose document of a project's stack (a plain dict, see the module doc).

    ``plan`` gives the workspaces (one per image); ``project`` is the cascade of the project
    directory, whose ``features`` and ``services`` are added. Raises :class:`ConfigError`
    for an unknown feature.
    """
    services: dict[str, Any] = {}
    uid, gid = os.getuid(), os.getgid()
    name = project.project
    storage_all: list[dict] = []
    first_image = None
    for key, im in sorted(plan.images.items(), key=lambda kv: kv[1].spec.tag):
        storage: dict[str, dict] = {}
        for c in im.contexts:
            for m in c.resolved.storage:
                storage.setdefault(m["target"], m)
        storage_all.extend(m for m in storage.values() if m not in storage_all)
        first_image = first_image or im.spec.tag
        services[f"workspace-{im.spec.short}"] = {
            "image": im.spec.tag,
            "init": True,
            "command": ["sleep", "infinity"],
            "user": f"{uid}:{gid}",
            "environment": {"LANDSCAPE_PROJECT": name, "LANDSCAPE_ROOT": str(project.root),
                            "LANDSCAPE_IMAGE": im.spec.tag},
            "volumes": _volumes(list(storage.values())),
            "labels": {"io.landscape.project": name, "io.landscape.key": key,
                       "io.landscape.role": "workspace",
                       "io.landscape.contexts": str(len(im.contexts))},
            "restart": "unless-stopped",
        }
    doc: dict[str, Any] = {"version": COMPOSE_VERSION, "services": services}
    features = project.node("features")
    ctx = {"project": name, "root": str(project.root), "project_dir": str(project.context),
           "workspace_image": first_image, "storage": _volumes(storage_all),
           "uid": uid, "gid": gid}
    for fname, fnode in (features.items() if features is not None else ()):
        if fnode.value is False:
            continue
        if first_image is None:
            raise LandscapeError(f"feature {fname!r} needs a workspace image, and no context of "
                                 "the project resolves")
        fragment = _render_feature(fname, fnode.plain(), ctx, fnode.loc)
        for section, entries in fragment.items():
            doc.setdefault(section, {}).update(entries or {})
    declared = project.node("services")
    for sname, snode in (declared.items() if declared is not None else ()):
        if sname in services:
            raise ConfigError(f"service {sname!r} clashes with a generated workspace", snode.loc,
                              ("services", sname))
        doc["services"][sname] = snode.plain()
    return doc


def write_compose(root: Path, project: str, doc: dict) -> Path:
    """Write ``doc`` as the project's compose file (atomic); return its path."""
    path = stack_dir(root, project) / "compose.yaml"
    header = ("# Generated by Landscape — the stack of project "
              f"{project}. Do not edit: `landscape up` rewrites it.\n")
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


def compose(path: Path, project: str, *args: str, capture: bool = False
            ) -> subprocess.CompletedProcess:
    """Run Compose on the stack file ``path``: ``<compose> -p NAME -f PATH ARGS…``.

    Raises :class:`EngineError` with Compose's output when it fails.
    """
    cmd = compose_command() + ["-p", compose_project_name(project), "-f", str(path), *args]
    r = subprocess.run(cmd, capture_output=capture, text=True)
    if r.returncode != 0:
        detail = (r.stderr or r.stdout or "").strip()[-2000:] if capture else ""
        raise EngineError(f"`{' '.join(cmd[:len(compose_command())])} {' '.join(args)}` failed "
                          f"(exit {r.returncode})" + (f": {detail}" if detail else ""))
    return r


def stack_containers(project: str) -> list[dict]:
    """The stack's containers (Docker SDK, by Compose's project label): name, service,
    image, state, status."""
    from . import docker as dk

    out = []
    label = f"com.docker.compose.project={compose_project_name(project)}"
    for c in dk.client().containers.list(all=True, filters={"label": label}):
        labels = c.labels or {}
        out.append({"name": c.name, "service": labels.get("com.docker.compose.service"),
                    "image": (c.image.tags or [c.image.id])[0] if c.image else None,
                    "state": c.status, "status": c.attrs.get("State", {}).get("Status")})
    return sorted(out, key=lambda d: d["name"])
