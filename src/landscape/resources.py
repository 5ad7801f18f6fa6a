"""Where Landscape's data directories are: ``images/`` (base image recipes), ``templates/``
(Jinja2 templates of Dockerfiles) and ``compose/`` (the service feature catalog).

In a source checkout (or an editable install) they sit at the repository root; an
installed wheel carries them as ``landscape/_data/<name>`` (see ``pyproject.toml``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Landscape's per-user cache: ``$LANDSCAPE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/landscape`` (``~/.cache/landscape``). Holds validation markers, the
    rez wheel and build contexts; safe to delete."""
    base = os.environ.get("LANDSCAPE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "landscape")
    return Path(base)


def user_data_dir() -> Path:
    """Landscape's per-user data: ``$LANDSCAPE_DATA_DIR``, else ``$XDG_DATA_HOME/landscape``
    (``~/.local/share/landscape``). Holds what must survive (persistent homes when the
    studio root names no ``launch.home_root``); read at call time (a launch agent serves
    clients with their own environment)."""
    base = os.environ.get("LANDSCAPE_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "landscape")
    return Path(base)


def data_dir(name: str) -> Path:
    """The directory ``name`` (``images``, ``templates`` or ``compose``).

    Raises ``FileNotFoundError`` when neither location has it (a broken install).
    """
    for candidate in (_PKG / "_data" / name, _PKG.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"landscape data directory {name!r} is missing from the install")


def atomic_write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Write ``text`` (or bytes) to ``path`` atomically (a temporary file in the same
    folder, renamed over it; ``mode`` 0644 unless told): readers see the old file or the new
    one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def usable_cpus() -> int:
    """The number of cores this process may run on (its CPU affinity, ``os.sched_getaffinity``;
    ``os.cpu_count()`` where that is missing; at least 1): how many workers to start."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
