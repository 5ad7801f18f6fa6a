"""Landscape images in a registry: push, look up, pull, and the one way to get an image.

An image of :class:`~landscape.imagekey.ImageSpec` ``spec`` lives in registry ``REGISTRY``
(``registry.example.com``, ``127.0.0.1:5000``, ``reg.example/studio``:
:func:`landscape.grammar.is_registry`) as ``REGISTRY/landscape/<project>:<short key>`` —
:func:`registry_reference`, the local tag with the registry in front. A push returns the
manifest digest the registry stores (``sha256:…``), the value a lock file pins; a pull checks
that digest when one is expected, then checks the image's labels exactly as
:func:`landscape.engine.images.find_image` does (a registry is not trusted to hold this
spec's image because it holds a tag of the right name), and tags the image as ``spec.tag``.

:func:`ensure_image` is the entry point of ``launch``, ``up`` and ``pull``: the local image,
else the registry's, else a build.

Every call goes through the Docker SDK (the engine talks to the registry, with the
credentials of ``docker login``); errors become :class:`~landscape.errors.EngineError` with
one line of text — no traceback, no JSON — and no function here removes a local image: a
pull that fails its checks only takes back the tag it created.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from .. import grammar
from ..errors import EngineError, LandscapeError
from ..imagekey import ImageSpec
from . import docker as dk
from .images import NAMING_LABELS, ImageResult, _matches, build_image, find_image

Log = Callable[[str], None]

#: Longest error text kept (one line); the engine's messages can carry kilobytes of JSON.
_MAX_ERROR = 300
#: Push / pull events logged as they are; progress events ("Pushing", "Downloading"…) are not.
_LAYER_DONE = ("Pushed", "Layer already exists", "Mounted from", "Pull complete",
               "Already exists")


def one_line(text: object, limit: int = _MAX_ERROR) -> str:
    """``text`` as one line of at most ``limit`` characters: whitespace runs (newlines
    included) become one space, control characters are dropped, the rest is cut with ``…``."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    s = "".join(c for c in s if c.isprintable())
    return s if len(s) <= limit else s[:limit - 1] + "…"


_AUTH_WORDS = ("no basic auth credentials", "unauthorized", "authentication required",
               "denied")


def _error(what: str, detail: object, registry: str) -> EngineError:
    """An :class:`EngineError` ``"<what>: <detail>"`` in one line, with the hint to log in
    when the registry asked for credentials."""
    text = one_line(f"{what}: {detail}")
    hint = None
    if any(w in text.lower() for w in _AUTH_WORDS):
        hint = f"docker login {registry.split('/', 1)[0]}"
    return EngineError(text, hint=hint)


def _api_error(what: str, e: BaseException, registry: str) -> EngineError:
    """:func:`_error` with the engine's explanation of ``e`` (an SDK or HTTP error)."""
    return _error(what, getattr(e, "explanation", None) or str(e) or type(e).__name__,
                  registry)


def _check_digest(digest: str | None) -> None:
    """Raise :class:`LandscapeError` unless ``digest`` is ``None`` or ``sha256:<64 hex>``."""
    if digest is not None and not (isinstance(digest, str) and
                                   re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
        raise LandscapeError(f"expected digest {one_line(repr(digest), 100)} is not "
                             "sha256:<64 lowercase hex digits>")


def _split(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    return repo, tag


def registry_reference(spec: ImageSpec, registry: str) -> str:
    """``REGISTRY/landscape/<project>:<short key>`` — ``f"{registry}/{spec.tag}"``.

    ``registry`` is a host (lowercase DNS name with a dot, ``localhost``, IPv4 or
    ``[IPv6]``), an optional ``:port`` and optional ``/path`` components
    (:func:`landscape.grammar.is_registry`). Raises :class:`LandscapeError` when it is not,
    or when the reference it makes is not one Docker accepts
    (:func:`landscape.grammar.is_image_reference`: a name over 255 characters, or an IPv6
    host, which Docker 20.10's reference grammar lacks). No engine call."""
    if not grammar.is_registry(registry):
        raise LandscapeError(
            f"registry {one_line(repr(registry), 120)} is not a registry location",
            hint="HOST[:PORT][/PATH] with a lowercase host holding a dot (or localhost, or a "
                 "port), e.g. registry.example.com or 127.0.0.1:5000 — no scheme")
    ref = f"{registry}/{spec.tag}"
    if not grammar.is_image_reference(ref):
        raise LandscapeError(f"{one_line(ref, 120)} is not a Docker image reference "
                             "(name too long, or an IPv6 registry host)")
    return ref


def registry_repository(spec: ImageSpec, registry: str) -> str:
    """``REGISTRY/landscape/<project>`` (the reference without its tag); the name that
    ``RepoDigests`` entries of pulled and pushed images start with. Raises like
    :func:`registry_reference`."""
    return _split(registry_reference(spec, registry))[0]


def _main_tag(image: Any) -> str:
    """``image``'s ``landscape/…`` tag when it has one, else its first tag."""
    return sorted(image.tags, key=lambda t: (not t.startswith("landscape/"), t))[0]


def project_images(project: str) -> list[str]:
    """One tag of each local image labelled ``io.landscape.project=<project>`` (its
    ``landscape/…`` tag when it has one; untagged images are left out), sorted — the images
    a build of that project may take its cache from. Docker SDK ``images.list(filters=…)``.
    Raises :class:`EngineError` when no engine answers."""
    images = dk.client().images.list(filters={"label": f"io.landscape.project={project}"})
    return sorted({_main_tag(image) for image in images if image.tags})


def build_cache_sources(project: str) -> list[str] | None:
    """What :func:`ensure_image` hands a build as ``cache_from``: the tags of ``project``'s
    tagged local images when all of them came from a registry (no ``Parent``: pulled images
    have no local build chain, so the legacy builder reuses their layers only through
    ``cache_from``), else ``None`` — the engine's whole local cache.

    Measured on Docker 20.10 (legacy builder) with the two-stage Dockerfile: given
    ``cache_from``, the builder accepts a cached step only from those images' history or
    their local parents, so the final stage (base → OS packages → rez → packages → tools) is
    reused from a pulled image, but the ``fetch`` stage — in no image's history — always runs
    again (it downloads the OS packages: +17 s here); with images built on this engine,
    ``None`` reuses every step. Docker SDK ``images.list(filters=…)``."""
    pulled, built_here = set(), False
    for image in dk.client().images.list(filters={"label": f"io.landscape.project={project}"}):
        if not image.tags:  # a dangling intermediate image of some build
            continue
        if image.attrs.get("Parent"):
            built_here = True
        else:
            pulled.add(_main_tag(image))
    return sorted(pulled) if pulled and not built_here else None


def _repo_digest(image: Any, repository: str) -> str | None:
    """The ``sha256:…`` of ``image``'s ``RepoDigests`` entry for ``repository``, or ``None``."""
    for entry in image.attrs.get("RepoDigests") or []:
        repo, _, digest = entry.rpartition("@")
        if repo == repository:
            return digest
    return None


def _layer_event(event: dict, log: Log, seen: dict[str, str]) -> None:
    """Log one push/pull progress event compactly: each layer's final state once, other
    status lines (``Digest: …``, ``Status: …``) as they are, progress bars never."""
    status = one_line(event.get("status", ""), 200)
    layer = event.get("id")
    if not status:
        return
    if layer:
        if status.startswith(_LAYER_DONE) and seen.get(layer) != status:
            seen[layer] = status
            log(f"    {layer}: {status}")
    elif not status.startswith(("Pulling from", "The push refers to")):
        log(f"    {status}")


def push_image(spec: ImageSpec, registry: str, log: Log = print) -> str:
    """Push ``spec``'s local image to ``registry`` and return the manifest digest the
    registry stores for it (``sha256:<64 hex>``, from the push stream's ``aux.Digest``).

    The local image (:func:`~landscape.engine.images.find_image`) is tagged as
    :func:`registry_reference` (``image.tag``; the tag stays, as after ``docker push``) and
    pushed with ``APIClient.push(repo, tag=…, stream=True, decode=True)``; each layer's end
    state (``Pushed``, ``Layer already exists``) goes to ``log``. A failed push takes back
    the registry tag when it added it. Raises
    :class:`LandscapeError` for a bad ``registry``, :class:`EngineError` (one line) when the
    image is not local, the registry does not answer, refuses the push or wants credentials
    (``docker login``). Never removes a local image."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    ref = registry_reference(spec, registry)
    repo, tag = _split(ref)
    image = find_image(spec)
    if image is None:
        raise EngineError(f"image {spec.tag} is not in the Docker engine: build it before "
                          f"pushing it to {registry}")
    started = time.monotonic()
    digest = None
    seen: dict[str, str] = {}
    tagged_here = dk.get_image(ref) is None
    try:
        image.tag(repo, tag)
        log(f"pushing {ref}")
        for event in dk.client().api.push(repo, tag=tag, stream=True, decode=True):
            if "error" in event or "errorDetail" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event.get("error")
                raise _error(f"push of {ref} failed", detail, registry)
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = aux["Digest"]
            _layer_event(event, log, seen)
    except (EngineError, DockerException, RequestException) as e:
        if tagged_here:  # take back the tag this push added (the image keeps spec.tag)
            try:
                dk.client().images.remove(ref, noprune=True)
            except (DockerException, RequestException):
                pass
        if isinstance(e, EngineError):
            raise
        raise _api_error(f"push of {ref} failed", e, registry) from None
    if not digest or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise EngineError(f"push of {ref} ended without a manifest digest")
    log(f"pushed {ref}@{digest} in {time.monotonic() - started:.1f}s")
    return digest


def remote_digest(spec: ImageSpec, registry: str) -> str | None:
    """The manifest digest (``sha256:…``) ``registry`` holds for
    :func:`registry_reference` — asked of the registry without pulling
    (``APIClient.inspect_distribution(ref)["Descriptor"]["digest"]``) — or ``None`` when the
    registry answers that it has no such manifest or repository (404). Raises
    :class:`LandscapeError` for a bad ``registry``, :class:`EngineError` (one line) when the
    registry does not answer or refuses (credentials)."""
    from docker.errors import DockerException, NotFound
    from requests.exceptions import RequestException

    ref = registry_reference(spec, registry)
    try:
        data = dk.client().api.inspect_distribution(ref)
    except NotFound:
        return None
    except DockerException as e:
        text = str(getattr(e, "explanation", "") or e)
        if "manifest unknown" in text or "name unknown" in text:
            return None
        raise _api_error(f"asking registry {registry} for {ref} failed", e, registry) from None
    except RequestException as e:
        raise _api_error(f"asking registry {registry} for {ref} failed", e, registry) from None
    digest = (data.get("Descriptor") or {}).get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise EngineError(f"registry {registry} gave no digest for {ref}")
    return digest


class ImageMismatch(EngineError):
    """A registry image whose labels say it is not the image of the spec asked for (one
    line); ``reference`` is the registry reference that was checked."""

    def __init__(self, message: str, reference: str) -> None:
        super().__init__(message)
        self.reference = reference


def pull_image(spec: ImageSpec, registry: str, expected_digest: str | None = None,
               log: Log = print, *, by_digest: bool = False) -> Any:
    """Pull :func:`registry_reference` from ``registry`` (``APIClient.pull(repo, tag=…,
    stream=True, decode=True)``), check it and tag it as ``spec.tag``; returns the Docker SDK
    ``Image``. Each layer's end state and a summary (layers and bytes downloaded) go to
    ``log``.

    Checks, in order: with ``expected_digest`` (``sha256:…``, e.g. from a lock), the
    registry's digest (:func:`remote_digest`, before any byte is pulled) and then the pulled
    image's ``RepoDigests`` (the tag may move meanwhile) must hold
    ``REGISTRY/landscape/<project>@<expected>``, else
    ``EngineError("digest mismatch: registry has X, the lock says Y")``; then the image must
    carry every label :func:`landscape.recipe.image_labels` gives ``spec`` (the project's naming
    labels aside, as :func:`~landscape.engine.images.find_image` allows), the build-inputs
    digest ``io.landscape.inputs`` included, else :class:`EngineError`. When a check fails the
    registry reference is untagged if the pull created it (or pointed back at the image it
    named before); no image is removed otherwise. Raises :class:`EngineError` (one line) when
    the registry does not answer, lacks the image or refuses the pull;
    :class:`ImageMismatch` (an :class:`EngineError`) when the labels differ;
    :class:`LandscapeError` for a bad ``registry`` or ``expected_digest``.

    With ``by_digest`` (``expected_digest`` required) the pull asks for
    ``REGISTRY/landscape/<project>@<expected>`` — the engine checks the manifest's digest —
    instead of the tag, and the label checks are the same."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from ..recipe import image_labels

    ref = registry_reference(spec, registry)
    repo, tag = _split(ref)
    _check_digest(expected_digest)
    if by_digest:
        if expected_digest is None:
            raise LandscapeError("a pull by digest needs the digest")
        tag, ref = expected_digest, f"{repo}@{expected_digest}"
    elif expected_digest is not None:
        has = remote_digest(spec, registry)
        if has is not None and has != expected_digest:
            raise EngineError(one_line(f"digest mismatch: registry has {has}, the lock says "
                                       f"{expected_digest} ({ref})", 400))
    client = dk.client()
    before = dk.get_image(ref)
    before_ids = set(client.api.images(all=True, quiet=True))  # ids only: one call
    started = time.monotonic()
    seen: dict[str, str] = {}
    sizes: dict[str, int] = {}
    try:
        log(f"pulling {ref}")
        for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in event or "errorDetail" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event.get("error")
                raise _error(f"pull of {ref} failed", detail, registry)
            if event.get("status") == "Downloading" and event.get("id"):
                total = (event.get("progressDetail") or {}).get("total")
                if isinstance(total, int):
                    sizes[event["id"]] = total
            _layer_event(event, log, seen)
        image = client.images.get(ref)
    except EngineError:
        raise
    except (DockerException, RequestException) as e:
        raise _api_error(f"pull of {ref} failed", e, registry) from None
    log(f"pulled {ref}: {len(sizes)} layer(s), {sum(sizes.values())} bytes downloaded, "
        f"{time.monotonic() - started:.1f}s")

    def give_back(message: str, error: type[EngineError] = EngineError) -> EngineError:
        """Undo the tag this pull made (never an image that was there), return the error."""
        try:
            if before is None:
                # Removing a reference untags it; when it is the image's last tag the image
                # goes too — only done when the pull brought the image.
                if image.id not in before_ids or len(image.tags) > 1:
                    client.images.remove(ref, noprune=True)
            elif before.id != image.id:
                before.tag(repo, tag)  # the reference names what it named before
        except DockerException:
            pass
        if error is ImageMismatch:
            return ImageMismatch(one_line(message, 400), ref)
        return error(one_line(message, 400))

    if expected_digest is not None:
        want = f"{repo}@{expected_digest}"
        if want not in (image.attrs.get("RepoDigests") or []):
            has = _repo_digest(image, repo) or "another manifest"
            raise give_back(f"digest mismatch: registry has {has}, the lock says "
                            f"{expected_digest} ({ref})")
    differ = _differing_labels(image, image_labels(spec))
    if differ is not None:
        raise give_back(f"{ref} is not the image of {spec.tag}: its label(s) "
                        f"{', '.join(differ)} differ from this spec's", ImageMismatch)
    local_repo, _, short = spec.tag.rpartition(":")
    try:
        image.tag(local_repo, short)
        image.reload()
    except DockerException as e:
        raise _api_error(f"tagging {ref} as {spec.tag} failed", e, registry) from None
    return image


def _differing_labels(image: Any, expected: dict[str, str]) -> list[str] | None:
    """``None`` when ``image`` carries ``expected`` (the project's naming labels aside, as
    :func:`~landscape.engine.images.find_image` allows), else the keys that differ."""
    if _matches(image, expected) or _matches(image, expected, ignore=NAMING_LABELS):
        return None
    labels = image.labels or {}
    return sorted(k for k, v in expected.items()
                  if k not in NAMING_LABELS and labels.get(k) != v)


def image_by_digest(spec: ImageSpec, registry: str, digest: str, log: Log = print) -> Any:
    """The Docker SDK ``Image`` that is exactly ``REGISTRY/landscape/<project>@<digest>``
    (:func:`registry_repository`), checked to be ``spec``'s image by its labels: the local
    image whose ``RepoDigests`` hold that reference (the engine resolves
    ``repository@digest`` references itself), else pulled by that digest
    (:func:`pull_image` with ``by_digest``).

    Raises :class:`ImageMismatch` when that image's labels are not ``spec``'s (it is the
    image of another context, or of this context before its config changed),
    :class:`EngineError` when the registry does not answer or lacks the digest,
    :class:`LandscapeError` for a bad ``registry`` or ``digest``."""
    from ..recipe import image_labels

    _check_digest(digest)
    ref = f"{registry_repository(spec, registry)}@{digest}"
    image = dk.get_image(ref)
    if image is None:
        return pull_image(spec, registry, digest, log=log, by_digest=True)
    differ = _differing_labels(image, image_labels(spec))
    if differ is not None:
        raise ImageMismatch(one_line(f"{ref} is not the image of {spec.tag}: its label(s) "
                                     f"{', '.join(differ)} differ from this spec's", 400), ref)
    return image


def ensure_image(spec: ImageSpec, *, registry: str | None, expected_digest: str | None = None,
                 build: bool = True, log: Log = print, options: Any = None) -> ImageResult:
    """Make ``spec``'s image local — the entry point of ``launch``, ``up`` and ``pull``:

    1. the local image (:func:`~landscape.engine.images.find_image`): ``source`` ``"local"``;
    2. else, with a ``registry`` that holds the reference (:func:`remote_digest`), a pull
       (:func:`pull_image`, checking ``expected_digest`` when given): ``"pulled"``;
    3. else, when ``build`` is true, a build (:func:`~landscape.engine.images.build_image`,
       with ``cache_from`` = the project's pulled images when it has no image built here:
       :func:`build_cache_sources`; ``options``: its
       :class:`~landscape.engine.buildcontext.BuildOptions`): ``"built"``. A registry that
       does not answer is logged and skipped here; without ``build`` it is the error.

    A local image is taken without asking the registry — its labels prove its content — so
    ``expected_digest`` is only checked on a pull. Returns an
    :class:`~landscape.engine.images.ImageResult` that counts no steps: ``source``
    ``"local"``, ``"pulled"`` or ``"built"``, ``digest`` the registry manifest digest when
    known (pulled, or a local image that was pushed to or pulled from ``registry``), else
    ``None``; ``seconds`` is wall time (float). Raises
    :class:`EngineError` when the image is neither local nor in the registry and ``build`` is
    false, or when a pull or build fails; :class:`LandscapeError` for a bad ``registry`` or
    ``expected_digest``."""
    started = time.monotonic()
    repository = registry_repository(spec, registry) if registry else None
    _check_digest(expected_digest)

    def result(source: str, digest: str | None) -> ImageResult:
        return ImageResult(spec.tag, spec.key, source, round(time.monotonic() - started, 2),
                           digest=digest)

    image = find_image(spec)
    if image is not None:
        return result("local", _repo_digest(image, repository) if repository else None)
    if registry:
        try:
            digest = remote_digest(spec, registry)
        except EngineError as e:
            if not build:
                raise
            digest = None
            log(f"{e}; building {spec.tag} instead")
        if digest is not None:
            image = pull_image(spec, registry, expected_digest, log=log)
            return result("pulled", _repo_digest(image, repository) or digest)
    if not build:
        where = f"in registry {registry}" if registry else "in a registry (none given)"
        raise EngineError(f"image {spec.tag} is neither in the Docker engine nor {where}",
                          hint="build it (landscape build) or push it from a machine that has it")
    build_image(spec, log=log, cache_from=build_cache_sources(spec.project), options=options)
    return result("built", None)
