"""Locking, building, pushing and pulling a project's images (docs/locking.md).

The commands ``lock``, ``build [--locked] [--offline DIR] [--push R]``, ``pull``,
``vendor``, ``images`` and ``prune`` are thin over these functions. A project's lock is
``<project>/landscape.lock``; each revision written is also kept under
``<studio root>/.landscape/locks/<project>/`` so that ``prune --keep N`` can keep the
images of the last N revisions (rollback, re-delivery).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..errors import EngineError, LandscapeError
from ..imagekey import ImageSpec
from ..lock import (LOCK_NAME, LockError, context_label, drift, dumps, make_lock,
                    missing_observations, public, read_lock, write_lock)
from ..resources import atomic_write
from ..names import LABEL_KEY
from .images import ImageResult

Log = Callable[[str], None]


@dataclass
class Project:
    """A planned project: its folder, studio root, name, lock path and the plan."""

    plan: Any
    directory: Path
    root: Path
    name: str
    studio_image: dict = field(default_factory=dict)

    @property
    def lock_path(self) -> Path:
        return self.directory / LOCK_NAME

    @property
    def history(self) -> Path:
        return self.root / ".landscape" / "locks" / self.name

    @property
    def specs(self) -> dict[str, ImageSpec]:
        return {k: im.spec for k, im in self.plan.images.items()}

    def labels(self) -> set[str]:
        return {context_label(self.directory, c.path, c.variants) for c in self.plan.contexts}

    def read_lock(self) -> dict:
        return read_lock(self.lock_path, self.directory)


def plan_project(target: Path, root: Path | None = None, *, check_engine: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> Project:
    """Plan every context below ``target`` (``progress(done, total)`` as it goes) and find
    its project (the project level of its contexts). Raises :class:`LandscapeError` when no
    context resolves at all."""
    from ..cascade import build_cascade, context_path
    from ..plan import make_plan

    from .images import image_exists

    plan = make_plan(target, root=root, exists=image_exists if check_engine else None,
                     progress=progress)
    cascade = plan.cascade
    if cascade is None:
        try:
            cascade = build_cascade(context_path(target, root), (), root)
        except LandscapeError:
            if plan.failed:
                from ..errors import ErrorGroup

                unique = {str(e): e for c in plan.failed for e in c.errors}
                raise ErrorGroup(unique.values()) from None
            raise
    return Project(plan, cascade.project_dir, cascade.root, cascade.project,
                   cascade.studio_image())


def _save_revision(project: Project, lock: dict) -> None:
    """Keep ``lock`` as a revision: one file per distinct mapping of contexts to image keys
    (filling in the observed phase or recording a push is not a new revision), its mtime
    the time it was last written."""
    import hashlib
    import json

    ident = json.dumps(lock.get("contexts") or {}, sort_keys=True)
    path = project.history / (hashlib.sha256(ident.encode()).hexdigest()[:16] + ".lock")
    atomic_write(path, dumps(lock))


def write_project_lock(project: Project, lock: dict) -> bool:
    """Write the project's lock (atomically; only when its text changes) and keep the
    revision for ``prune --keep``. Returns whether the file changed."""
    lock = public(lock)
    changed = write_lock(project.lock_path, lock)
    _save_revision(project, lock)
    return changed


def lock_revisions(project: Project) -> list[dict]:
    """The kept lock revisions of ``project`` — one per distinct mapping of contexts to
    image keys — newest first (unreadable ones skipped)."""
    import json

    files = sorted(project.history.glob("*.lock"), key=lambda p: p.stat().st_mtime,
                   reverse=True) if project.history.is_dir() else []
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return out


def lock_project(project: Project, *, from_images: bool = False, log: Log = print) -> dict:
    """Write the lock of ``project`` (see :mod:`landscape.lock`): the inputs phase always,
    the observed phase from the engine's images when an engine answers (required with
    ``from_images``). Returns ``{"path", "changed", "contexts", "images", "missing"}``;
    ``missing`` lists what the observed phase still lacks."""
    from .pins import observe

    previous = None
    if project.lock_path.exists():
        try:
            previous = project.read_lock()
        except LockError as e:
            log(f"replacing an unusable lock: {e}")
    lock = make_lock(project.plan, project.directory, previous)
    try:
        missing = observe(lock, project.specs, strict=from_images, log=log)
    except EngineError:
        if from_images:
            raise
        missing = missing_observations(lock)
    changed = write_project_lock(project, lock)
    return {"path": str(project.lock_path), "changed": changed,
            "contexts": len(lock["contexts"]), "images": len(lock["images"]),
            "missing": missing}


def check_lock(project: Project) -> tuple[str, list[str]]:
    """Compare the project with its lock, without the engine: ``("ok", [])``,
    ``("missing", [message])``, ``("stale", [one line per drift])`` or ``("incomplete",
    [what the observed phase lacks])``."""
    try:
        old = project.read_lock()
    except LockError as e:
        if "no lock" in e.message:
            return "missing", [str(e)]
        raise
    drifts = _drifts(project, old)
    if drifts:
        return "stale", [d.text(project.lock_path) for d in drifts]
    gaps = missing_observations(old)
    if gaps:
        return "incomplete", gaps
    return "ok", []


def _refuse_drift(project: Project, lock: dict) -> None:
    drifts = _drifts(project, lock, only=project.labels())
    if drifts:
        lines = "\n".join("  " + d.text(project.lock_path) for d in drifts)
        raise LockError(f"the lock does not describe what would be built:\n{lines}",
                        hint=f"review the change, then run `landscape lock {project.directory}`")


def build_project(project: Project, *, locked: bool = False, vendor: Path | None = None,
                  push: str | None = None, pull: str | None = None, no_cache: bool = False,
                  log: Log = print,
                  progress: Callable[[str], Any] | None = None,
                  on_result: Callable[[ImageResult, int], None] | None = None
                  ) -> list[ImageResult]:
    """Build (or find) every image of ``project``'s plan; see docs/locking.md.

    ``locked`` (implied by ``vendor``): refuse when the lock does not describe the plan
    (:class:`LockError` listing each drift, nothing built), build with the lock's OS
    versions, and rebuild an existing image that holds others. ``push``: images the
    registry already holds are not built (CI on an unchanged lock builds nothing); built or
    found images are pushed and their digests recorded in the lock. Without ``locked``, a
    current lock gets its observed phase completed from the images. Returns one
    :class:`~landscape.engine.images.ImageResult` per image, in plan order (steps counted;
    ``source`` ``"built"``, ``"local"`` or ``"registry"``; with ``push``, ``digest`` and
    ``push_seconds``); ``on_result(result, number of contexts using the image)`` is called
    with each as it is known."""
    from .buildcontext import BuildOptions, studio_id
    from . import registry as reg
    from .images import build_image, existing_result, find_image
    from .pins import check_built, locked_options, observe

    locked = locked or vendor is not None
    lock = None
    if locked:
        lock = project.read_lock()
        _refuse_drift(project, lock)
    elif project.lock_path.exists():
        try:
            lock = project.read_lock()
        except LockError:
            lock = None
    settings = project.studio_image
    if vendor is not None:  # every pinned .deb present and unchanged, before the engine
        from ..vendor import vendored_debs

        for key in project.plan.images:
            pins = ((lock["images"].get(key) or {}).get("os_packages")) or {}
            vendored_debs(vendor, pins)
    results = []
    for key, im in project.plan.images.items():
        spec = im.spec
        options = None
        force = False
        if locked:
            options = locked_options(lock, spec, project.lock_path, vendor=vendor,
                                     ca_certificates=settings.get("ca_certificates"),
                                     apt_mirror=settings.get("apt_mirror"))
        else:
            options = BuildOptions(ca_certificates=settings.get("ca_certificates"),
                                   apt_mirror=settings.get("apt_mirror"))
        options.studio = studio_id(project.root)
        existing = None if no_cache else find_image(spec)
        if existing is not None and locked:
            why = check_built(existing, lock, spec)
            if why:
                log(f"{spec.tag} {why}: rebuilding")
                existing, force = None, True
        result: ImageResult
        if existing is None and pull and not no_cache and not force:
            try:
                got = reg.ensure_image(spec, registry=pull, build=False, log=log,
                                       expected_digest=pushed_digest(project.directory, key,
                                                                     pull))
                existing = find_image(spec)
                log(f"pulled {spec.tag} from {pull} in {got.seconds} s")
            except EngineError as e:
                log(f"not pulled ({e}); building")
        if existing is None and push and not no_cache and not force:
            digest = reg.remote_digest(spec, push)
            pinned = ((lock or {}).get("images", {}).get(key) or {}).get("pushed", {}).get(push)
            if digest is not None and (pinned is None or pinned == digest):
                result = ImageResult(spec.tag, key, "registry", 0.0, digest=digest, steps=0,
                                     cached_steps=0)
                results.append(result)
                if on_result:
                    on_result(result, len(im.contexts))
                _record_push(lock, key, push, digest)
                continue
        if existing is not None:
            result = existing_result(spec, existing)
        else:
            sink = progress(f"building {spec.tag}") if progress else None
            if sink is not None:
                with sink as p:
                    result = build_image(spec, no_cache=no_cache, log=p, options=options,
                                         force=force)
            else:
                result = build_image(spec, no_cache=no_cache, log=log, options=options,
                                     force=force)
            if locked and result.built:  # what apt installed is exactly what is pinned
                why = check_built(find_image(spec), lock, spec)
                if why:
                    raise LockError(f"{spec.tag} was built but {why}",
                                    hint="the lock's OS packages do not fit together; "
                                    "rebuild without --locked and lock again")
        if push:
            started = time.monotonic()
            digest = reg.push_image(spec, push, log=log)
            result = replace(result, digest=digest,
                             push_seconds=round(time.monotonic() - started, 1))
            _record_push(lock, key, push, digest)
        results.append(result)
        if on_result:
            on_result(result, len(im.contexts))
    if lock is not None and (push or not locked):  # --locked alone never changes the lock
        if not locked:
            try:
                observe(lock, project.specs, log=log)
            except EngineError:
                pass
        if not _drifts(project, lock):
            write_project_lock(project, lock)
    return results


def _drifts(project: Project, lock: dict, only: set[str] | None = None) -> list:
    """:func:`landscape.lock.drift` of ``lock`` against the project's plan now."""
    return drift(lock, make_lock(project.plan, project.directory, lock), only=only)


def _record_push(lock: dict | None, key: str, registry: str, digest: str) -> None:
    if lock is not None and key in lock.get("images", {}):
        lock["images"][key].setdefault("pushed", {})[registry] = digest


def pushed_digest(project_dir: Path, key: str, registry: str) -> str | None:
    """The digest the project's lock records for image ``key`` in ``registry`` (``None``
    when there is no lock, no such image or no push)."""
    try:
        lock = read_lock(project_dir / LOCK_NAME, project_dir)
    except LockError:
        return None
    return ((lock["images"].get(key) or {}).get("pushed") or {}).get(registry)


def ensure_context_image(spec: ImageSpec, project_dir: Path, registry: str | None,
                         log: Log = print, *, root: Path | None = None,
                         settings: dict | None = None, build: bool = True) -> ImageResult:
    """The image of a launch, shell or stack: local, else pulled from the studio's
    registry (checked against the lock's digest), else built — as ``landscape build``
    builds it: with the studio root's ``image.ca_certificates`` and ``image.apt_mirror``
    (``settings``, :meth:`landscape.cascade.Cascade.studio_image`) and labelled with the
    studio ``root`` (:func:`~landscape.engine.buildcontext.studio_id`, what ``prune``
    goes by). Without ``build`` the image is only pulled: one in no registry is an
    :class:`~landscape.errors.EngineError`. See :func:`landscape.engine.registry.ensure_image`
    (its result counts no steps)."""
    from .buildcontext import BuildOptions, studio_id
    from .registry import ensure_image

    settings = settings or {}
    options = BuildOptions(ca_certificates=settings.get("ca_certificates"),
                           apt_mirror=settings.get("apt_mirror"),
                           studio=studio_id(root) if root is not None else None)
    digest = pushed_digest(project_dir, spec.key, registry) if registry else None
    return ensure_image(spec, registry=registry, expected_digest=digest, log=log,
                        options=options, build=build)


def pull_project(project: Project, registry: str, log: Log = print) -> list[ImageResult]:
    """Pull every image of the project the engine lacks from ``registry``, each checked
    against the lock's recorded digest when there is one; nothing is built. One
    :func:`~landscape.engine.registry.ensure_image` result per image, in plan order
    (``source`` ``"local"`` or ``"pulled"``)."""
    from .registry import ensure_image

    out = []
    for key, im in project.plan.images.items():
        digest = pushed_digest(project.directory, key, registry)
        out.append(ensure_image(im.spec, registry=registry, expected_digest=digest,
                                build=False, log=log))
    return out


def image_rows(project: Project) -> list[dict]:
    """``landscape images``: each image of the plan with its tag, key, whether the engine
    has it, size (bytes), created time, contexts and pushed digests (from the lock)."""
    from .images import find_image

    try:
        lock = project.read_lock()
    except LockError:
        lock = {"images": {}}
    rows = []
    for key, im in project.plan.images.items():
        image = find_image(im.spec, tag=False)
        rows.append({
            "tag": im.spec.tag, "key": key, "exists": image is not None,
            "size": image.attrs.get("Size") if image is not None else None,
            "created": image.attrs.get("Created") if image is not None else None,
            "contexts": [context_label(project.directory, c.path, c.variants)
                         for c in im.contexts],
            "pushed": ((lock["images"].get(key) or {}).get("pushed") or {}),
        })
    return rows


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed (or, with ``dry_run``, would remove): the ``removed``
    tags, how many images it ``kept``, and ``freed``, the sum of the removed images' sizes
    in bytes (layers other images share are not freed: the disk gains at most this)."""

    removed: tuple[str, ...]
    kept: int
    freed: int
    dry_run: bool

    def to_json(self) -> dict:
        """docs/json.md, ``prune --json``: ``{"removed", "kept", "bytes", "dry_run"}``."""
        return {"removed": list(self.removed), "kept": self.kept, "bytes": self.freed,
                "dry_run": self.dry_run}


def feature_keys(project: Project) -> set[str]:
    """The keys of the images the project's features run on
    (:func:`landscape.engine.stack.feature_images`; none when its cascade cannot be read)."""
    from ..cascade import build_cascade
    from .stack import feature_images

    try:
        return {spec.key for spec in feature_images(
            build_cascade(project.directory, (), project.root)).values()}
    except LandscapeError:
        return set()


def prune(projects: list[Project], *, keep: int = 1, dry_run: bool = False,
          log: Log = print) -> PruneResult:
    """Remove the Landscape images of ``projects`` that this studio built (labels
    ``io.landscape.project`` and ``io.landscape.studio``) and that no current context uses,
    no kept lock revision (the last ``keep``) names, and no container (running or stopped)
    uses. Images another studio (or another checkout) built, and pulled images, are left
    alone; base images carry no ``io.landscape.key`` and are never touched; the images the
    project's enabled features run on (:func:`feature_keys`) are kept. Removes tag by
    tag (never forced). Returns a :class:`PruneResult`."""
    from .buildcontext import studio_id

    from docker.errors import APIError

    from . import docker as dk

    client = dk.client()
    used_images = {c.image.id for c in client.containers.list(all=True) if c.image is not None}
    removed, kept, freed = [], 0, 0
    for project in projects:
        keys = set(project.plan.images) | feature_keys(project)
        for revision in lock_revisions(project)[:max(keep, 0)]:
            keys |= set((revision.get("images") or {}))
        candidates = client.images.list(filters={"label": [
            f"io.landscape.project={project.name}",
            f"io.landscape.studio={studio_id(project.root)}"]})
        for image in candidates:
            key = (image.labels or {}).get(LABEL_KEY)
            if key is None or key in keys or image.id in used_images:
                kept += 1
                continue
            freed += image.attrs.get("Size") or 0
            for tag in image.tags or [image.id]:
                removed.append(tag)
                if dry_run:
                    continue
                try:
                    client.images.remove(tag)
                except APIError as e:
                    log(f"kept {tag}: {str(e.explanation or e)[:200]}")
                    removed.pop()
    return PruneResult(tuple(removed), kept, freed, dry_run)


def vendor_project(project: Project, folder: Path, log: Log = print) -> dict:
    """``landscape vendor``: the locked ``.deb`` files and rez wheel into ``folder``."""
    from .pins import vendor

    lock = project.read_lock()
    _refuse_drift(project, lock)
    return vendor(lock, folder, project.specs, log=log)
