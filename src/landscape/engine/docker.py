"""The Docker SDK client, created once, with engine errors turned into user errors."""

from __future__ import annotations

from typing import Any

from ..errors import EngineError

_client: Any = None


def client() -> Any:
    """A ``docker.DockerClient`` from the environment (``DOCKER_HOST`` or the local socket),
    pinged once. Raises :class:`EngineError` when no engine answers."""
    global _client
    if _client is not None:
        return _client
    import docker  # deferred: ~200 ms to import
    from docker.errors import DockerException

    try:
        c = docker.from_env(timeout=600)
        c.ping()
    except DockerException as e:
        text = str(e)
        if "Permission denied" in text or "PermissionError" in text:
            raise EngineError(
                "the Docker engine refuses this user (permission denied on its socket)",
                hint="join the `docker` group (which is root-equivalent on this machine) or "
                "use rootless Docker; see docs/security.md") from None
        raise EngineError(f"no Docker engine answers ({e}); start it or set DOCKER_HOST") from None
    _client = c
    return c


def image_exists(ref: str) -> bool:
    """Whether the engine has an image ``ref`` (a tag or id); ~1.4 ms through the SDK."""
    from docker.errors import ImageNotFound

    try:
        client().images.get(ref)
    except ImageNotFound:
        return False
    return True


def get_image(ref: str) -> Any | None:
    """The SDK image ``ref``, or ``None`` when the engine does not have it."""
    from docker.errors import ImageNotFound

    try:
        return client().images.get(ref)
    except ImageNotFound:
        return None
