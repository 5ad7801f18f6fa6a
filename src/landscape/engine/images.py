"""Building Landscape images with the Docker engine (README.md, Images).

An image is found by its tag (``landscape/<project>:<key prefix>``) or, failing that, by
its ``io.landscape.key`` label (another project built the same key: it is tagged, not
rebuilt) — and in both cases only when **every** label Landscape would write matches,
the build-inputs digest ``io.landscape.inputs`` included (:func:`landscape.recipe.image_labels`):
a key label alone proves nothing. A build streams the context of
:func:`landscape.engine.buildcontext.prepare_build_context` (a tar, package payloads read from
their repositories) to the engine through the Docker SDK's low-level ``APIClient.build``
with the labels as data, and streams its events (steps, command output) to ``log``. The legacy
builder is assumed: no BuildKit syntax.

Concurrent builds of one key (two ``landscape build`` at once, parallel CI jobs) serialise
on a per-key lock file (``filelock``) under the user cache; the second finds the image the
first built. Each build lays out its own private build folder.

A build that fails raises an error that shows the failing step's last output lines, ANSI
escape sequences stripped (:func:`landscape.engine.docker.strip_ansi`), after removing the
untagged images its own steps made (:func:`_remove_made_images`): never one it took from
the cache or that was there before it, never one that something else uses. A retry runs
those steps again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import EngineError, LandscapeError
from ..imagekey import ImageSpec
from ..resources import cache_dir
from . import docker as dk
from ..names import LABEL_BASE_FINGERPRINT, LABEL_PROJECT, LABEL_STUDIO

Log = Callable[[str], None]


#: Labels that name the project an image was built for; an image of the same key built for
#: another project differs only in these.
NAMING_LABELS = ("org.opencontainers.image.title", "org.opencontainers.image.description",
                 LABEL_PROJECT)


@dataclass(frozen=True)
class ImageResult:
    """What happened to one image of a build, a pull or a launch.

    ``tag`` and ``key`` are the spec's. ``source`` says where the image came from:
    ``"built"`` (built now), ``"local"`` (already in the engine, under its tag or another
    project's), ``"pulled"`` (from a registry: :func:`landscape.engine.registry.ensure_image`)
    or ``"registry"`` (``build --push``: the registry already holds it, so it was neither
    built nor pushed). ``seconds`` is wall time in seconds (rounded). ``id`` is the engine's
    image id (``sha256:…``; ``None`` when not asked for, or not local). ``digest`` is the
    registry's manifest digest (``sha256:…``; ``None`` when unknown). ``steps`` and
    ``cached_steps`` count the Dockerfile steps run and those taken from the layer cache
    (``0`` when nothing was built; ``None`` for a result that does not count steps: a pull
    or a launch's :func:`~landscape.engine.registry.ensure_image`). ``push_seconds`` is how
    long a push took (``None``: not pushed)."""

    tag: str
    key: str
    source: str
    seconds: float
    id: str | None = None
    digest: str | None = None
    steps: int | None = None
    cached_steps: int | None = None
    push_seconds: float | None = None

    @property
    def built(self) -> bool:
        """Whether the image was built now."""
        return self.source == "built"

    def to_json(self) -> dict:
        """docs/json.md. A result that counts steps is an item of ``build --json``'s
        ``images``: ``tag``, ``key``, ``id`` (left out when ``None``), ``built``,
        ``seconds``, ``steps``, ``cached_steps``, ``source``, then ``digest`` and
        ``push_seconds`` when known. Any other is an item of ``pull --json``'s ``images``:
        ``tag``, ``key``, ``source``, ``digest`` (``null`` when unknown), ``seconds``."""
        if self.steps is None:
            return {"tag": self.tag, "key": self.key, "source": self.source,
                    "digest": self.digest, "seconds": self.seconds}
        out: dict[str, Any] = {"tag": self.tag, "key": self.key}
        if self.id is not None:
            out["id"] = self.id
        out |= {"built": self.built, "seconds": self.seconds, "steps": self.steps,
                "cached_steps": self.cached_steps, "source": self.source}
        if self.digest is not None:
            out["digest"] = self.digest
        if self.push_seconds is not None:
            out["push_seconds"] = self.push_seconds
        return out


def _matches(image: Any, expected: dict[str, str], ignore: tuple[str, ...] = ()) -> bool:
    return _labels_match(image.labels, expected, ignore)


def _labels_match(labels: dict[str, str] | None, expected: dict[str, str],
                  ignore: tuple[str, ...] = ()) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in expected.items() if k not in ignore)


def image_id(spec: ImageSpec, labels: dict[str, str] | None = None) -> str | None:
    """The id of the engine's image for ``spec`` (``sha256:…``), or ``None``: the image
    :func:`find_image` takes, found first by tag through the Engine API directly
    (:func:`landscape.engine.docker.inspect_image`, no SDK import: the fast path of a
    launch), else by :func:`find_image` itself. A launch runs this id, not the tag, so the
    image whose labels were checked is the image that runs. ``labels`` are the labels the
    image must carry when already known (:attr:`LaunchInputs.image_labels`, from the resolve
    cache: no Dockerfile is rendered), else :func:`landscape.recipe.image_labels`."""
    if labels is None:
        from ..recipe import image_labels

        labels = image_labels(spec)
    data = dk.inspect_image(spec.tag)
    if data is not None and _labels_match((data.get("Config") or {}).get("Labels"), labels):
        return data["Id"]
    image = find_image(spec)
    return image.id if image is not None else None


def find_image(spec: ImageSpec, tag: bool = True) -> Any | None:
    """The engine's image for ``spec`` — by tag, else by key label (then tagged, unless
    ``tag`` is false: ``plan`` only looks) — or ``None``. An image is only taken when it
    carries every label :func:`image_labels` gives ``spec`` (another project's image of the
    same key differs only in its title/project)."""
    from ..recipe import image_labels

    expected = image_labels(spec)
    image = dk.get_image(spec.tag)
    if image is not None and _matches(image, expected):
        return image
    # Another project's image with the same content: everything but the naming must match.
    for other in dk.client().images.list(filters={"label": f"io.landscape.key={spec.key}"}):
        if _matches(other, expected, ignore=NAMING_LABELS):
            if tag:
                repo, _, name = spec.tag.rpartition(":")
                other.tag(repo, name)
            return other
    return None


def image_exists(spec: ImageSpec) -> bool:
    """Whether the engine holds ``spec``'s image (:func:`find_image`, without tagging):
    what a plan asks. Raises :class:`~landscape.errors.EngineError` when no engine answers."""
    return find_image(spec, tag=False) is not None


def build_lock(spec: ImageSpec) -> Any:
    """The per-key lock file of builds of ``spec`` (a ``filelock.FileLock``)."""
    from filelock import FileLock

    path = cache_dir() / "locks" / f"build-{spec.short}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def require_base(spec: ImageSpec) -> None:
    """Raise a :class:`LandscapeError` saying how to get the base image when it is missing."""
    if dk.get_image(spec.base) is None:
        hint = ("run `landscape base build`" if spec.base.startswith("landscape/base:")
                else f"pull or load {spec.base} (image.base) into the engine")
        raise LandscapeError(f"base image {spec.base} is not in the Docker engine", hint=hint)


def build_image(spec: ImageSpec, *, no_cache: bool = False, log: Log = print,
                cache_from: list[str] | None = None, options: Any = None,
                force: bool = False) -> ImageResult:
    """Build ``spec``'s image unless it exists (see the module doc: per-key lock, private
    build folder). Returns its :class:`ImageResult` (``source`` ``"built"``, or ``"local"``
    when it was there; ``id``, ``steps`` and ``cached_steps`` set). Raises
    :class:`EngineError` with the failing step's output when the build fails.

    ``cache_from`` (image references, e.g. images pulled from a registry) is handed to the
    engine's ``cache_from`` (``APIClient.build``): the legacy builder then takes cached steps
    only from those images and their local parents — ``None`` (the default) uses the whole
    local build cache."""
    existing = None if no_cache or force else find_image(spec)
    if existing is not None:
        return existing_result(spec, existing)
    require_base(spec)
    from filelock import Timeout

    lock = build_lock(spec)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"waiting for another build of {spec.tag}")
        lock.acquire()
    try:
        existing = None if no_cache or force else find_image(spec)
        if existing is not None:  # built by the process we waited for
            return existing_result(spec, existing)
        return _build(spec, no_cache, log, cache_from, options)
    finally:
        lock.release()


def existing_result(spec: ImageSpec, image: Any) -> ImageResult:
    """:func:`build_image`'s result for an image that was already there (not built)."""
    return ImageResult(spec.tag, spec.key, "local", 0.0, id=image.id, steps=0, cached_steps=0)


def _build(spec: ImageSpec, no_cache: bool, log: Log,
           cache_from: list[str] | None = None, options: Any = None) -> ImageResult:
    from ..recipe import image_labels
    from .base import base_fingerprint
    from .buildcontext import BuildOptions, build_args, prepare_build_context

    options = options or BuildOptions()
    started = time.monotonic()
    args = build_args(spec, options)
    labels = image_labels(spec)
    base = dk.get_image(spec.base)
    if base is not None:  # which base the image was built on (checked by --locked)
        labels[LABEL_BASE_FINGERPRINT] = base_fingerprint(base)
    if options.studio:  # which studio built it (prune); never compared by find_image
        labels[LABEL_STUDIO] = options.studio
    context = prepare_build_context(spec, log, options)
    try:
        return _send(spec, context, labels, no_cache, log, started,
                     (cache_from or []) + (options.cache_from or []), args,
                     "none" if options.offline else None)
    finally:
        context.remove()


#: A line of the legacy builder's output that names the image a step ended with.
_STEP_IMAGE = re.compile(r" ---> ([0-9a-f]{12,64})\Z")
#: A step that starts from an image that was there before (its id is the base's).
_FROM_STEP = re.compile(r"Step \d+/\d+ : FROM\b", re.IGNORECASE)


def _send(spec: ImageSpec, context: Any, labels: dict[str, str], no_cache: bool, log: Log,
          started: float, cache_from: list[str] | None = None,
          buildargs: dict[str, str] | None = None, network_mode: str | None = None
          ) -> ImageResult:
    """Stream ``context`` to the engine's build (``APIClient.build``) and its output to
    ``log`` (``Step`` lines, then the commands' output indented, ANSI escape sequences
    stripped). Raises :class:`EngineError` with the failing step's last output lines when
    the build fails, after removing the images this build made
    (:func:`_remove_made_images`)."""
    api = dk.client().api
    steps = cached = 0
    tail: list[str] = []
    image_id = None
    made: list[str] = []  # the images this build's steps made, oldest first
    reused = False  # whether the current step's image was there before (FROM, the cache)
    try:
        # what was there before: a line of a step's own output that looks like a step's
        # image can name no image older than this build
        before = {i.removeprefix("sha256:")[:12] for i in api.images(all=True, quiet=True)}
        stream = api.build(fileobj=context.chunks(), custom_context=True, tag=spec.tag, rm=True,
                           forcerm=True, decode=True,
                           nocache=no_cache, pull=False, labels=labels,
                           cache_from=cache_from or None, buildargs=buildargs or None,
                           network_mode=network_mode)
        for event in stream:
            if "error" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                raise EngineError(f"build of {spec.tag} failed: "
                                  f"{dk.strip_ansi(str(detail)).strip()}\n" +
                                  "\n".join(tail[-15:]))
            text = dk.strip_ansi(event.get("stream", ""))
            if "aux" in event and isinstance(event["aux"], dict):
                image_id = event["aux"].get("ID", image_id)
            for line in text.splitlines():
                line = line.rstrip()
                if not line:
                    continue
                tail = (tail + [line])[-40:]
                made_now = _STEP_IMAGE.match(line)
                if line.startswith("Step "):
                    steps += 1
                    reused = bool(_FROM_STEP.match(line))
                    log(line)
                elif "Using cache" in line:
                    cached += 1
                    reused = True
                elif made_now is not None:
                    if not reused and made_now.group(1)[:12] not in before:
                        made.append(made_now.group(1))
                elif not line.startswith((" ---> ", "Removing intermediate", "Successfully")):
                    log("    " + line)
    except Exception as e:  # docker.errors.APIError, BuildError, connection errors
        _remove_made_images(made, log)
        if isinstance(e, EngineError):
            raise
        raise EngineError(f"build of {spec.tag} failed: {dk.strip_ansi(str(e))}") from None
    image = dk.client().images.get(spec.tag)
    return ImageResult(spec.tag, spec.key, "built", round(time.monotonic() - started, 1),
                       id=image_id or image.id, steps=steps, cached_steps=cached)


def _remove_made_images(made: list[str], log: Log) -> None:
    """After a failed build: remove the images it ``made`` (ids from its own output, oldest
    first; never an image it took from the cache or a ``FROM``, nor one the engine had
    before it started), newest first, each only while it has no tag and nothing else uses
    it. Without ``force`` the engine refuses to remove an image that a container or another
    image is built on: that image and those below it stay, shared with what uses them.
    ``noprune``: no parent is removed but those listed. Errors are not raised (the build's
    own error is the one to report)."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    api = dk.client().api
    removed = 0
    for image in reversed(made):
        try:
            tags = [t for t in api.inspect_image(image).get("RepoTags") or []
                    if t != "<none>:<none>"]
            if tags:
                continue
            api.remove_image(image, force=False, noprune=True)
            removed += 1
        except (DockerException, RequestException):
            continue
    if removed:
        log(f"removed {removed} image(s) the failed build made")
