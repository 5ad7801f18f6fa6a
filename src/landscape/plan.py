"""The build plan: every context of a project → its image, and what each image needs.

:func:`enumerate_contexts` finds the contexts below a path (every directory with a config
file, and each with every variant that applies to it); :func:`make_plan` resolves them all
and groups them by image key. A broken file or an unsolvable request breaks only the
contexts beneath it: they are listed with their error and the rest is planned (docs/security.md).

:func:`render_dockerfile` renders ``templates/Dockerfile.j2`` for an
:class:`~landscape.imagekey.ImageSpec`, :func:`image_labels` gives its labels; what a build
sends to the engine is laid out on the engine side (:mod:`landscape.engine.buildcontext`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import memo
from .cascade import (CONFIG_NAME, VARIANT_NAME, Cascade, _is_file, absolute, build_cascade,
                      context_path, find_config_files, load_config, walked_folders)
from .context import resolve
from .errors import LandscapeError, flatten
from .imagekey import ImageSpec
from .nodes import read_file
from .resources import usable_cpus
from .launchinputs import StorageMount


@dataclass
class PlannedContext:
    """One context of a plan: ``path``, ``variants``, and either its ``image`` spec and the
    ``storage`` mounts it gets (see :func:`landscape.context.storage_mounts`) or the
    ``errors`` that stopped it. Kept small: a plan holds thousands of them."""

    path: Path
    variants: tuple[str, ...]
    image: ImageSpec | None = None
    storage: list[StorageMount] = field(default_factory=list)
    errors: list[LandscapeError] = field(default_factory=list)
    #: the ``level`` the context's own folder declares (``shot``), ``""`` when it declares
    #: none or the context does not resolve
    level: str = ""

    @property
    def label(self) -> str:
        return str(self.path) + "".join(f" [{v}]" for v in self.variants)

    @property
    def key(self) -> str | None:
        return self.image.key if self.image is not None else None


@dataclass
class PlannedImage:
    """One distinct image of a plan, the contexts that use it, and whether the engine
    already has it (``None`` when the engine was not asked)."""

    spec: ImageSpec
    contexts: list[PlannedContext]
    exists: bool | None = None


@dataclass
class BuildPlan:
    """Contexts below ``top`` and the distinct images they need, by key; ``cascade`` is the
    first context that resolved (its studio root, project and root-only settings are every
    context's), ``None`` when none did."""

    top: Path
    contexts: list[PlannedContext]
    images: dict[str, PlannedImage]
    engine_error: str | None = None
    cascade: Cascade | None = None

    @property
    def failed(self) -> list[PlannedContext]:
        return [c for c in self.contexts if c.errors]

    def to_json(self) -> dict:
        """``landscape plan --json``: contexts with their key or errors; images with their
        tag, whether they exist, and their contexts."""
        return {
            "top": str(self.top),
            "engine": self.engine_error or "ok",
            "contexts": [{"context": str(c.path), "variants": list(c.variants), "image": c.key,
                          "errors": [str(e) for e in c.errors]} for c in self.contexts],
            "images": [{"key": k, "tag": im.spec.tag, "base": im.spec.base, "exists": im.exists,
                        "packages": [p.qualified for p in im.spec.packages],
                        "system_packages": im.spec.system_packages,
                        "contexts": [c.label for c in im.contexts]}
                       for k, im in self.images.items()],
        }


def enumerate_contexts(top: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Contexts below ``top`` (inclusive): every directory holding a config file, without
    variant, and with each variant whose file lies in that directory or one of its ancestors
    (within ``top``'s tree or above it)."""
    top = absolute(top)
    files = find_config_files(top)
    dirs = sorted({f.parent for f in files} | ({top} if (top / CONFIG_NAME).is_file() else set()))
    variant_dirs: dict[str, set[Path]] = {}
    for f in files:
        m = VARIANT_NAME.match(f.name)
        if m:
            variant_dirs.setdefault(m.group(1), set()).add(f.parent)
    for anc in top.parents:  # variant files above top apply to everything below
        for name in os.listdir(anc) if anc.is_dir() else []:
            m = VARIANT_NAME.match(name)
            if m:
                variant_dirs.setdefault(m.group(1), set()).add(anc)
        if (anc / CONFIG_NAME).is_file() and load_config(anc / CONFIG_NAME).get("root") is True:
            break
    redirected = _maybe_redirected(dirs, top)
    listings: dict[Path, set[str]] = {}
    out: list[tuple[Path, tuple[str, ...]]] = []
    for d in dirs:
        out.append((d, ()))
        names = {v for v, where in variant_dirs.items()
                 if any(d == w or w in d.parents for w in where)}
        if d in redirected:
            names = _variants_on_walk(d, listings, names)
        out.extend((d, (v,)) for v in sorted(names))
    return out


def _maybe_redirected(dirs: list[Path], top: Path) -> set[Path]:
    """The folders of ``dirs`` whose walk to the studio root may take a ``parent:``
    redirect: their own plain file, or one of a natural ancestor's, mentions ``parent``
    (a cheap look at the bytes; the walk itself then says for sure)."""
    def mentions(folder: Path) -> bool:
        path = folder / CONFIG_NAME
        try:  # the cascade's own look (a FIFO is never opened) and read (bounded)
            return _is_file(path) and b"parent" in read_file(path)[1]
        except LandscapeError:
            return False

    above = False
    for anc in top.parents:
        if (anc / CONFIG_NAME).is_file():
            if mentions(anc):
                above = True
            if load_config(anc / CONFIG_NAME).get("root") is True:
                break
    flagged: set[Path] = set()
    known = set(dirs)
    for d in dirs:  # sorted: a folder comes after its ancestors
        parent = next((a for a in d.parents if a in known), None)
        if mentions(d) or (parent in flagged if parent is not None else above):
            flagged.add(d)
    return flagged


def _variants_on_walk(d: Path, listings: dict[Path, set[str]], fallback: set[str]
                      ) -> set[str]:
    """The variants whose files lie in a folder of ``d``'s walk (``parent:`` followed);
    ``fallback`` when the walk fails (the plan reports that error on the plain context)."""
    try:
        walk = walked_folders(d)
    except LandscapeError:
        return fallback
    names: set[str] = set()
    for folder in walk:
        if folder not in listings:
            try:
                entries = os.listdir(folder)
            except OSError:
                entries = []
            listings[folder] = {m.group(1) for m in map(VARIANT_NAME.match, entries) if m}
        names |= listings[folder]
    return names


#: A plan of at least this many contexts is shared out to worker processes.
PARALLEL_MIN_CONTEXTS = 1000

_Outcome = tuple["str | None", list, list, str]  # (image key, storage, errors, level)


def make_plan(top: str | Path, *, root: Path | None = None,
              exists: Callable[[ImageSpec], bool] | None = None,
              progress: Callable[[int, int], None] | None = None,
              workers: int | None = None) -> BuildPlan:
    """Resolve every context below ``top`` and group them by image key.

    ``exists(spec)`` tells whether the engine holds an image (the engine layer passes
    :func:`landscape.engine.images.image_exists`; the plan never asks the engine itself).
    Without it, or when it raises :class:`~landscape.errors.EngineError` (kept in
    ``engine_error``), ``PlannedImage.exists`` is ``None``. ``progress(done, total)`` is
    called as contexts are resolved. Never raises for a broken context: its errors are kept
    on it.

    Runs in one :func:`landscape.memo.scope` (files parsed once, shared solves memoised).
    A plan of :data:`PARALLEL_MIN_CONTEXTS` or more is shared out to ``workers`` processes
    (default: the CPUs this process may use; Linux, forked), each a contiguous run of
    contexts so that siblings share their parsed ancestors; ``workers=1`` plans in-process.
    """
    top = context_path(top, root)
    contexts: list[PlannedContext] = []
    images: dict[str, PlannedImage] = {}
    with memo.scope():
        found = enumerate_contexts(top)
        specs: dict[str, ImageSpec] = {}
        for (path, variants), (key, storage, errors, level) in zip(
                found, _plan_contexts(found, root, specs, progress, workers)):
            pc = PlannedContext(path, variants, specs.get(key) if key else None, storage,
                                errors, sys.intern(level))
            contexts.append(pc)
            if pc.image is not None:
                images.setdefault(key, PlannedImage(pc.image, [])).contexts.append(pc)
        first = next((c for c in contexts if c.image is not None), None)
        cascade = build_cascade(first.path, first.variants, root) if first else None
    plan = BuildPlan(top, contexts, images, cascade=cascade)
    if exists is not None:
        from .errors import EngineError

        try:
            for im in images.values():
                im.exists = exists(im.spec)
        except EngineError as e:  # the plan stands without the engine; existence is unknown
            plan.engine_error = str(e)
    return plan


def plan_context(path: Path, variants: tuple[str, ...], root: Path | None
                 ) -> tuple[ImageSpec | None, list[StorageMount], list[LandscapeError], str]:
    """One context of a plan: ``(image spec, storage mounts, [], level)``, or ``(None, [],
    errors, "")`` when it does not resolve (what :func:`landscape.context.resolve` raises
    for it, without a tool). ``level`` is the level its own folder declares (``""``: none).
    The host refusing a file of the context fails that context alone."""
    try:
        rc = resolve(path, variants=variants, root=root)
    except LandscapeError as e:
        return None, [], flatten(e), ""
    except OSError as e:
        return None, [], [LandscapeError(f"{e.strerror or e}: {e.filename or path}")], ""
    here = rc.cascade.context
    level = next((lv.level for lv in reversed(rc.cascade.levels) if lv.directory == here), "")
    return rc.image, rc.storage, [], level


def _plan_contexts(found: list[tuple[Path, tuple[str, ...]]], root: Path | None,
                   specs: dict[str, ImageSpec], progress: Callable[[int, int], None] | None,
                   workers: int | None) -> list[_Outcome]:
    """The outcome of each context of ``found`` (in order); each distinct spec lands in
    ``specs`` by key."""
    total = len(found)
    workers = workers or usable_cpus()
    if workers > 1 and total >= PARALLEL_MIN_CONTEXTS and sys.platform == "linux":
        return _plan_in_workers(found, root, specs, progress, workers)
    out: list[_Outcome] = []
    for i, (path, variants) in enumerate(found):
        out.append(_outcome(path, variants, root, specs))
        if progress is not None and (i % 50 == 49 or i + 1 == total):
            progress(i + 1, total)
    return out


def _outcome(path: Path, variants: tuple[str, ...], root: Path | None,
             specs: dict[str, ImageSpec]) -> _Outcome:
    """:func:`plan_context` as ``(image key, storage, errors, level)``; its spec lands in
    ``specs`` by key."""
    spec, storage, errors, level = plan_context(path, variants, root)
    if spec is not None:
        specs.setdefault(spec.key, spec)
    return spec.key if spec is not None else None, storage, errors, level


_JOB: tuple[list, Path | None] | None = None  # what forked workers plan (set before forking)


def _plan_run(span: tuple[int, int]) -> tuple[list[_Outcome], dict[str, ImageSpec]]:
    """Plan ``found[start:end]`` in a worker: outcomes, and the specs it met."""
    found, root = _JOB  # type: ignore[misc]
    specs: dict[str, ImageSpec] = {}
    return [_outcome(path, variants, root, specs)
            for path, variants in found[span[0]:span[1]]], specs


def _plan_in_workers(found: list[tuple[Path, tuple[str, ...]]], root: Path | None,
                     specs: dict[str, ImageSpec], progress: Callable[[int, int], None] | None,
                     workers: int) -> list[_Outcome]:
    """:func:`_plan_contexts` over forked worker processes (``multiprocessing``, fork
    context): the workers inherit the parsed root and project files and the memo scope;
    contiguous runs of contexts keep a sequence's shots together."""
    import multiprocessing

    global _JOB
    total = len(found)
    runs = max(workers * 4, 1)
    size = -(-total // runs)
    spans = [(i, min(i + size, total)) for i in range(0, total, size)]
    _JOB = (found, root)
    out: list[_Outcome] = []
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for outcomes, met in pool.imap(_plan_run, spans):
                for key, spec in met.items():
                    specs.setdefault(key, spec)
                out.extend(outcomes)
                if progress is not None:
                    progress(len(out), total)
    finally:
        _JOB = None
    return out


def package_conflicts(spec: ImageSpec) -> list[LandscapeError]:
    """A package version that two tools of one image resolve from two repositories (one
    image holds one of each): an error per such package."""
    seen: dict[tuple[str, str], str] = {}
    errors = []
    for p in spec.packages:
        other = seen.setdefault((p.name, p.version), p.repository)
        if other != p.repository:
            errors.append(LandscapeError(
                f"{p.qualified} resolves from two repositories in one image ({other} and "
                f"{p.repository}); pin one of them"))
    return errors
