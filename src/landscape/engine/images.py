"""Building Landscape images with the Docker engine (SPEC §5).

An image is found by its tag (``landscape/<project>:<key prefix>``) or, failing that, by
its ``io.landscape.key`` label (another project built the same key: it is tagged, not
rebuilt). A build sends the context from :func:`landscape.plan.prepare_build_context` to
the engine through the Docker SDK's low-level ``APIClient.build`` and streams its events
(steps, command output) to ``log``. The legacy builder is assumed: no BuildKit syntax.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..errors import EngineError, LandscapeError
from ..imagekey import ImageSpec
from . import docker as dk

Log = Callable[[str], None]


def find_image(spec: ImageSpec) -> Any | None:
    """The engine's image for ``spec`` — by tag, else by key label (then tagged) — or ``None``."""
    image = dk.get_image(spec.tag)
    if image is not None:
        return image
    same = dk.client().images.list(filters={"label": f"io.landscape.key={spec.key}"})
    if same:
        repo, _, tag = spec.tag.rpartition(":")
        same[0].tag(repo, tag)
        return same[0]
    return None


def require_base(spec: ImageSpec) -> None:
    """Raise a :class:`LandscapeError` saying how to get the base image when it is missing."""
    if dk.get_image(spec.base) is None:
        hint = ("run `landscape base build`" if spec.base.startswith("landscape/base:")
                else f"pull or load {spec.base} (image.base) into the engine")
        raise LandscapeError(f"base image {spec.base} is not in the Docker engine", hint=hint)


def build_image(spec: ImageSpec, *, no_cache: bool = False, log: Log = print) -> dict:
    """Build ``spec``'s image unless it exists. Returns ``{"tag", "key", "id", "built",
    "seconds", "cached_steps", "steps"}``. Raises :class:`EngineError` with the failing
    step's output when the build fails."""
    from ..plan import prepare_build_context  # the plan lays out what the engine builds

    existing = None if no_cache else find_image(spec)
    if existing is not None:
        return {"tag": spec.tag, "key": spec.key, "id": existing.id, "built": False,
                "seconds": 0.0, "steps": 0, "cached_steps": 0}
    require_base(spec)
    started = time.monotonic()
    path = prepare_build_context(spec, log)
    api = dk.client().api
    steps = cached = 0
    tail: list[str] = []
    image_id = None
    try:
        stream = api.build(path=str(path), tag=spec.tag, rm=True, forcerm=True, decode=True,
                           nocache=no_cache, pull=False)
        for event in stream:
            if "error" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                raise EngineError(f"build of {spec.tag} failed: {detail.strip()}\n" +
                                  "\n".join(tail[-15:]))
            text = event.get("stream", "")
            if "aux" in event and isinstance(event["aux"], dict):
                image_id = event["aux"].get("ID", image_id)
            for line in text.splitlines():
                line = line.rstrip()
                if not line:
                    continue
                tail = (tail + [line])[-40:]
                if line.startswith("Step "):
                    steps += 1
                    log(line)
                elif "Using cache" in line:
                    cached += 1
                elif not line.startswith((" ---> ", "Removing intermediate", "Successfully")):
                    log("    " + line)
    except EngineError:
        raise
    except Exception as e:  # docker.errors.APIError, BuildError, connection errors
        raise EngineError(f"build of {spec.tag} failed: {e}") from None
    image = dk.client().images.get(spec.tag)
    return {"tag": spec.tag, "key": spec.key, "id": image_id or image.id, "built": True,
            "seconds": round(time.monotonic() - started, 1), "steps": steps,
            "cached_steps": cached}
