"""Vendored build inputs for air-gapped builds (``landscape vendor``, ``build --offline DIR``).

A vendor folder holds what a locked build would otherwise download::

    DIR/vendor.json     {"format": 1, "debs": {"name=version": {"file": F, "sha256": H}},
                         "wheels": {"rez-3.4.0-py3-none-any.whl": H}}
    DIR/debs/F          the .deb files of every locked OS package, dependencies included
    DIR/wheels/…        the rez wheel

The index is written by the engine side (:mod:`landscape.engine.pins`); this module only
reads it, so a build can check every pinned file is there — and is the file that was
vendored — before the engine is asked anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import LandscapeError

INDEX = "vendor.json"
FORMAT = 1


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_index(folder: Path) -> dict:
    """The index of vendor ``folder`` (an empty one when the folder has none yet).
    Raises :class:`LandscapeError` for an unreadable or malformed index."""
    path = Path(folder) / INDEX
    if not path.exists():
        return {"format": FORMAT, "debs": {}, "wheels": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LandscapeError(f"{path}: not a vendor index ({e})",
                             hint="run `landscape vendor PROJECT DIR` again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or \
            not isinstance(data.get("debs"), dict) or not isinstance(data.get("wheels"), dict):
        raise LandscapeError(f"{path}: not a vendor index of this Landscape",
                             hint="run `landscape vendor PROJECT DIR` again")
    return data


def _entry_file(folder: Path, sub: str, name: object) -> Path:
    """``folder/sub/name`` for a plain file name from the index (no ``/`` or ``..``)."""
    if not isinstance(name, str) or "/" in name or name in ("", ".", "..") or "\0" in name:
        raise LandscapeError(f"{Path(folder) / INDEX}: bad file name {name!r}")
    return Path(folder) / sub / name


def vendored_debs(folder: Path, pins: dict[str, str]) -> list[tuple[str, Path]]:
    """``[(name=version, file)]``: the ``.deb`` files of ``folder`` for exactly the ``pins``
    ``{name: version}``, each a regular file (not a symlink) checked against its recorded
    sha256. Raises :class:`LandscapeError` naming every pinned package that is missing or
    altered."""
    debs = read_index(folder)["debs"]
    out, missing, altered = [], [], []
    for name in sorted(pins):
        want = f"{name}={pins[name]}"
        entry = debs.get(want)
        if not isinstance(entry, dict):
            missing.append(want)
            continue
        path = _entry_file(folder, "debs", entry.get("file"))
        if path.is_symlink() or not path.is_file():
            missing.append(want)
        elif file_sha256(path) != entry.get("sha256"):
            altered.append(want)
        else:
            out.append((want, path))
    if missing or altered:
        parts = []
        if missing:
            parts.append("missing: " + " ".join(missing))
        if altered:
            parts.append("changed since vendored: " + " ".join(altered))
        raise LandscapeError(f"vendor folder {folder}: locked OS packages " + "; ".join(parts),
                             hint="run `landscape vendor PROJECT DIR` with the lock's versions")
    return out


def vendored_wheel(folder: Path, version: str) -> Path | None:
    """The vendored rez wheel of ``version`` in ``folder`` (checked against its sha256),
    or ``None`` when the folder has none. Raises :class:`LandscapeError` when altered."""
    for name, digest in read_index(folder)["wheels"].items():
        if isinstance(name, str) and name.startswith(f"rez-{version}-"):
            path = _entry_file(folder, "wheels", name)
            if path.is_file():
                if file_sha256(path) != digest:
                    raise LandscapeError(f"vendor folder {folder}: {name} changed since vendored")
                return path
    return None
