"""The build plan: every context of a project → its image, and what each image needs.

:func:`enumerate_contexts` finds the contexts below a path (every directory with a config
file, and each with every variant that applies to it); :func:`make_plan` resolves them all
and groups them by image key. A broken file or an unsolvable request breaks only the
contexts beneath it: they are listed with their error and the rest is planned (docs/security.md).

:func:`render_dockerfile` renders ``templates/Dockerfile.j2`` for an
:class:`~landscape.imagekey.ImageSpec`; :func:`prepare_build_context` lays out the folder a
build sends to the engine (Dockerfile, rez wheel, package payloads, tool setups).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__, memo
from .cascade import (CONFIG_NAME, VARIANT_NAME, Cascade, absolute, build_cascade, context_path,
                      find_config_files, load_config)
from .context import ResolvedContext, resolve
from .errors import LandscapeError, flatten
from .grammar import is_reserved_label
from .imagekey import ImageSpec
from .launchinputs import StorageMount
from .resources import cache_dir, data_dir


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
    out: list[tuple[Path, tuple[str, ...]]] = []
    for d in dirs:
        out.append((d, ()))
        for v, where in sorted(variant_dirs.items()):
            if any(d == w or w in d.parents for w in where):
                out.append((d, (v,)))
    return out


#: A plan of at least this many contexts is shared out to worker processes.
PARALLEL_MIN_CONTEXTS = 1000

_Outcome = tuple["str | None", list, list]  # (image key, storage, errors) of one context


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
        for (path, variants), (key, storage, errors) in zip(
                found, _plan_contexts(found, root, specs, progress, workers)):
            pc = PlannedContext(path, variants, specs.get(key) if key else None, storage,
                                errors)
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
                 ) -> tuple[ImageSpec | None, list[StorageMount], list[LandscapeError]]:
    """One context of a plan: ``(image spec, storage mounts, [])``, or ``(None, [], errors)``
    when it does not resolve (what :func:`landscape.context.resolve` raises for it, without
    a tool). The host refusing a file of the context fails that context alone."""
    try:
        rc = resolve(path, variants=variants, root=root)
    except LandscapeError as e:
        return None, [], flatten(e)
    except OSError as e:
        return None, [], [LandscapeError(f"{e.strerror or e}: {e.filename or path}")]
    return rc.image, rc.storage, []


def _plan_contexts(found: list[tuple[Path, tuple[str, ...]]], root: Path | None,
                   specs: dict[str, ImageSpec], progress: Callable[[int, int], None] | None,
                   workers: int | None) -> list[_Outcome]:
    """The outcome of each context of ``found`` (in order); each distinct spec lands in
    ``specs`` by key."""
    total = len(found)
    workers = workers or _usable_cpus()
    if workers > 1 and total >= PARALLEL_MIN_CONTEXTS and sys.platform == "linux":
        return _plan_in_workers(found, root, specs, progress, workers)
    out: list[_Outcome] = []
    for i, (path, variants) in enumerate(found):
        spec, storage, errors = plan_context(path, variants, root)
        if spec is not None:
            specs.setdefault(spec.key, spec)
        out.append((spec.key if spec is not None else None, storage, errors))
        if progress is not None and (i % 50 == 49 or i + 1 == total):
            progress(i + 1, total)
    return out


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_JOB: tuple[list, Path | None] | None = None  # what forked workers plan (set before forking)


def _plan_run(span: tuple[int, int]) -> tuple[list[_Outcome], dict[str, ImageSpec]]:
    """Plan ``found[start:end]`` in a worker: outcomes, and the specs it met."""
    found, root = _JOB  # type: ignore[misc]
    specs: dict[str, ImageSpec] = {}
    out: list[_Outcome] = []
    for path, variants in found[span[0]:span[1]]:
        spec, storage, errors = plan_context(path, variants, root)
        if spec is not None:
            specs.setdefault(spec.key, spec)
        out.append((spec.key if spec is not None else None, storage, errors))
    return out, specs


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


def _conflicts(spec: ImageSpec) -> None:
    from .errors import ErrorGroup

    ErrorGroup.raise_if_any(package_conflicts(spec))


def render_dockerfile(spec: ImageSpec) -> str:
    """The Dockerfile of ``spec``, from ``templates/Dockerfile.j2`` (Jinja2).

    Only values validated against their grammar reach it (:meth:`ImageSpec.validate`): the
    base reference, Debian package names, the rez version, the key and tier numbers. Labels
    are not written into it: see :func:`image_labels`."""
    import jinja2  # deferred: only builds render templates

    spec.validate()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template("Dockerfile.j2").render(
        landscape_version=__version__, key=spec.key, base=spec.base,
        rez_version=spec.rez_version, tiers=len(spec.tiers()))


@dataclass
class BuildOptions:
    """How a build gets what is outside the image key.

    ``pins``: ``{OS package: version}`` from ``landscape.lock`` — every package the image
    adds over its base — installed at exactly those versions (``None``: unlocked, apt's
    current versions of :attr:`ImageSpec.system_packages`). ``vendor``: a folder written by
    ``landscape vendor`` whose ``.deb`` files are used instead of a mirror (the build then
    runs with no network). ``ca_certificates``: a CA file trusted by the fetch stage only.
    ``apt_mirror``: an apt mirror/cache URL for the fetch stage. ``cache_from``: images the
    engine may take layers from. ``studio``: :func:`studio_id` of the studio building it,
    written as label ``io.landscape.studio`` (``prune`` only touches its own studio's).
    """

    pins: dict[str, str] | None = None
    vendor: Path | None = None
    ca_certificates: str | None = None
    apt_mirror: str | None = None
    cache_from: list[str] | None = None
    studio: str | None = None

    @property
    def offline(self) -> bool:
        return self.vendor is not None


def studio_id(root: Path) -> str:
    """A short, stable name of a studio root on this machine: the first 16 hex digits of the
    sha256 of its real path (label ``io.landscape.studio``)."""
    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]


def build_args(spec: ImageSpec, options: BuildOptions | None = None) -> dict[str, str]:
    """The build arguments of ``spec``'s Dockerfile (handed to the engine as data):
    ``LANDSCAPE_OS_PACKAGES`` (names, or ``name=version`` pins), ``LANDSCAPE_LOCKED`` and
    ``LANDSCAPE_APT_MIRROR``. Every value is checked against Debian's package/version
    grammars or the mirror grammar; raises :class:`LandscapeError` otherwise."""
    from . import grammar

    options = options or BuildOptions()
    if options.pins is not None:
        bad = [f"{n}={v}" for n, v in options.pins.items()
               if not (grammar.is_debian_package(n) and grammar.is_debian_version(v))]
        if bad:
            raise LandscapeError("the lock's OS packages are not Debian name=version pairs: "
                                 + ", ".join(map(repr, bad[:5])))
        packages = " ".join(f"{n}={options.pins[n]}" for n in sorted(options.pins))
    else:
        spec.validate()
        packages = " ".join(sorted(spec.system_packages))
    if options.apt_mirror is not None and not grammar.is_apt_mirror(options.apt_mirror):
        raise LandscapeError(f"image.apt_mirror {options.apt_mirror!r} is not a mirror URL")
    return {"LANDSCAPE_OS_PACKAGES": packages,
            "LANDSCAPE_LOCKED": "1" if options.pins is not None else "0",
            "LANDSCAPE_APT_MIRROR": options.apt_mirror or ""}


def tools_json(spec: ImageSpec) -> str:
    """``landscape/tools.json`` of the build context: ``{tool path: [exact requests]}``."""
    return json.dumps(spec.tools, indent=1, sort_keys=True) + "\n"


def inputs_digest(spec: ImageSpec) -> str:
    """``sha256:<hex>`` over what a build of ``spec`` is made from — the rendered Dockerfile,
    ``tools.json``, each package's content digest in its tier and the image's own files.
    Recorded as label ``io.landscape.inputs``: an image is only reused when it carries both
    the key and this digest (:func:`landscape.engine.images.find_image`)."""
    from .digest import tree_digest
    from .imagekey import recipe_digest

    tiers = [[(p.qualified, tree_digest(p.base)) for p in tier] for tier in spec.tiers()]
    blob = json.dumps({"dockerfile": render_dockerfile(spec), "tools": tools_json(spec),
                       "tiers": tiers, "recipe": recipe_digest(),
                       "system_packages": sorted(spec.system_packages)}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def image_labels(spec: ImageSpec) -> dict[str, str]:
    """Labels of an image (README.md, Images): the config's ``image.labels``, then
    ``org.opencontainers.image.*`` and ``io.landscape.*`` (key, inputs digest, project, base,
    rez version, requests per tool, packages), which config can never set or overwrite.
    Handed to the engine as data (the build API's ``labels``): no value is parsed by the
    Dockerfile parser, so ``$VAR`` in a value stays as written."""
    labels = {k: v for k, v in spec.labels.items() if not is_reserved_label(k)}
    labels.update({
        "org.opencontainers.image.title": spec.tag,
        "org.opencontainers.image.description":
            f"Landscape image of project {spec.project}: " + " ".join(
                p.qualified for p in spec.packages),
        "org.opencontainers.image.base.name": spec.base,
        "io.landscape.key": spec.key,
        "io.landscape.inputs": inputs_digest(spec),
        "io.landscape.project": spec.project,
        "io.landscape.rez": spec.rez_version,
        "io.landscape.requests": json.dumps(spec.tools, sort_keys=True),
        "io.landscape.packages": " ".join(sorted(p.qualified for p in spec.packages)),
        "io.landscape.version": __version__,
    })
    return labels


def _ignore_caches(_folder: str, names: list[str]) -> set[str]:
    from .digest import ignored

    return {n for n in names if ignored(n)}


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def local_rez_wheel(version: str) -> Path | None:
    """The wheel of rez ``version`` in ``$LANDSCAPE_WHEELHOUSE`` (``:``-separated folders)
    or the user cache, without downloading; ``None`` when there is none."""
    dirs = [Path(p) for p in os.environ.get("LANDSCAPE_WHEELHOUSE", "").split(":") if p]
    for d in dirs + [cache_dir() / "wheels"]:
        found = sorted(d.glob(f"rez-{version}-*.whl")) if d.is_dir() else []
        if found:
            return found[0]
    return None


def rez_wheel(version: str, log: Callable[[str], None] = print) -> Path:
    """The wheel of rez ``version``: from ``$LANDSCAPE_WHEELHOUSE`` or the cache, else
    downloaded once with ``pip download`` (the host's pip config: index, proxy, CA bundle).
    Raises :class:`LandscapeError` telling where to put the wheel on an air-gapped host."""
    found = local_rez_wheel(version)
    if found is not None:
        return found
    cache = cache_dir() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    log(f"downloading the rez {version} wheel into {cache}")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                        ":all:", "-d", str(cache), f"rez=={version}"], capture_output=True,
                       text=True)
    found = sorted(cache.glob(f"rez-{version}-*.whl"))
    if r.returncode != 0 or not found:
        raise LandscapeError(
            f"no wheel of rez {version}: pip download failed ({r.stderr.strip()[-300:]})",
            hint=f"put rez-{version}-py3-none-any.whl in $LANDSCAPE_WHEELHOUSE or {cache}")
    return found[0]


def prepare_build_context(spec: ImageSpec, log: Callable[[str], None] = print,
                          options: BuildOptions | None = None) -> Path:
    """Lay out the build context of ``spec`` in a folder of its own (private to this build,
    under the user cache: concurrent builds never share one) and return it; the caller
    removes it. Contents::

        Dockerfile
        rez/rez-<version>-*.whl
        packages/<tier>/<name>/<version>/…   payloads, hard-linked when possible (``<name>/…``
                                             unversioned, ``<name>.py`` a single-file family)
        landscape/tools.json                 {tool path: exact requests}
        landscape/lib/bake.py, landscape/bin/landscape-enter
        fetch/fetch-os-packages              the fetch stage's script
        fetch/debs/*.deb                     the pinned .deb files, from ``options.vendor``
        fetch/ca.crt                         ``options.ca_certificates``, fetch stage only

    Raises :class:`LandscapeError` when a package would come from two repositories, or a
    pinned ``.deb`` is not in the vendored folder, or the CA file cannot be read.
    """
    options = options or BuildOptions()
    _conflicts(spec)
    (cache_dir() / "build").mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"{spec.short}-", dir=cache_dir() / "build"))
    try:
        _fill_build_context(dest, spec, options, log)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _fill_build_context(dest: Path, spec: ImageSpec, options: BuildOptions,
                        log: Callable[[str], None]) -> None:
    from .vendor import vendored_debs, vendored_wheel

    (dest / "rez").mkdir(parents=True)
    if options.vendor is not None:
        wheel = vendored_wheel(options.vendor, spec.rez_version)
        if wheel is None:
            raise LandscapeError(f"vendor folder {options.vendor} has no rez {spec.rez_version} "
                                 "wheel", hint="run `landscape vendor PROJECT DIR` again")
    else:
        wheel = rez_wheel(spec.rez_version, log)
    shutil.copy2(wheel, dest / "rez" / wheel.name)
    fetch = dest / "fetch"
    (fetch / "debs").mkdir(parents=True)
    shutil.copy2(data_dir("templates") / "image" / "fetch-os-packages", fetch)
    if options.vendor is not None:
        for pin, deb in vendored_debs(options.vendor, options.pins or {}):
            shutil.copyfile(deb, fetch / "debs" / f"{pin}.deb")  # named by its pin
    if options.ca_certificates:
        try:
            shutil.copyfile(options.ca_certificates, fetch / "ca.crt")
        except OSError as e:
            raise LandscapeError(f"image.ca_certificates: cannot read "
                                 f"{options.ca_certificates}: {e.strerror}") from None
    for i, tier in enumerate(spec.tiers()):
        tier_dir = dest / "packages" / str(i)
        tier_dir.mkdir(parents=True)
        for p in tier:
            target = tier_dir / p.layout
            target.parent.mkdir(parents=True, exist_ok=True)
            if p.single_file and not target.exists():  # a family file: every version in it
                _link_or_copy(p.base, target)
            elif not target.exists():
                shutil.copytree(p.base, target, symlinks=True, copy_function=_link_or_copy,
                                ignore=_ignore_caches)
    own = dest / "landscape"
    (own / "lib").mkdir(parents=True)
    (own / "bin").mkdir()
    image_files = data_dir("templates") / "image"
    shutil.copy2(image_files / "bake.py", own / "lib" / "bake.py")
    shutil.copy2(image_files / "landscape-enter", own / "bin" / "landscape-enter")
    (own / "tools.json").write_text(tools_json(spec))
    (dest / "Dockerfile").write_text(render_dockerfile(spec))

