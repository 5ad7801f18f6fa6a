"""Manifests: named, pinned package snapshots, the lowest layer of an environment (docs/config.md).

A manifest ``vfx2024`` is the first ``vfx2024.yaml`` found along ``manifests_path``. It may
``extends:`` another manifest (single inheritance, base applied first) and holds
``packages``, ``env`` and per-workflow ``workflows``. Merges use
:data:`landscape.merge.MANIFEST_STRATEGIES`, so provenance is kept as in the cascade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, ErrorGroup, Location
from .memo import note
from .merge import MANIFEST_STRATEGIES, merge_maps
from .nodes import Node, load_file
from .schema import MANIFEST_SCHEMA, validate


@dataclass
class Manifest:
    """A loaded manifest: its ``name``, the ``files`` applied (base first) and merged
    ``values`` (``packages``, ``env``, ``workflows`` → :class:`~landscape.nodes.Node`)."""

    name: str
    files: list[Path]
    values: dict[str, Node]

    def node(self, key: str) -> Node | None:
        """Merged node of ``key`` (``packages``, ``env``, ``workflows``), or ``None``."""
        return self.values.get(key)


#: What a manifest name may be (it becomes a file name: no folders, no "..").
MANIFEST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def find_manifest(name: str, search: Sequence[str]) -> Path | None:
    """The first ``<dir>/<name>.yaml`` along ``search`` (directories), or ``None``. A name
    that is there but not a regular file (a FIFO, a device) is found too, so that loading it
    says so (:func:`landscape.nodes.load_file` never opens it)."""
    if not MANIFEST_NAME.match(name) or ".." in name:
        return None
    for d in search:
        p = Path(d) / f"{name}.yaml"
        note("paths", str(p))
        if p.is_file() or (p.exists() and not p.is_dir()):
            return p
    return None


def load_manifest(name: str, search: Sequence[str], requested_at: Location | None = None,
                  inside: Sequence[str] | None = None) -> Manifest:
    """Load manifest ``name`` and its ``extends`` chain from ``search`` (``manifests_path``).
    With ``inside`` (real folder paths), a manifest file whose real path lies in none of
    them is refused unread.

    Raises :class:`ConfigError` (at ``requested_at``) when a manifest is not found, is not a
    plain name, lies outside ``inside`` or the chain loops, and
    :class:`~landscape.errors.ErrorGroup` for syntax/schema errors in it.
    """
    chain: list[tuple[Path, Node | None]] = []
    seen: list[str] = []
    current, loc = name, requested_at
    while current:
        if current in seen:
            raise ConfigError("manifest extends loop: " + " -> ".join(seen + [current]), loc,
                              ("extends",))
        seen.append(current)
        if not MANIFEST_NAME.match(current) or ".." in current:
            raise ConfigError(f"{current!r} is not a manifest name (letters, digits, _ . -)",
                              loc, ("manifest",))
        path = find_manifest(current, search)
        if path is not None and inside is not None:
            from .policy import real, under

            if not any(under(real(path), d) for d in inside):
                raise ConfigError(f"manifest {path} links to {real(path)}, outside the studio: "
                                  "not read", loc, ("manifest",))
        if path is None:
            where = ", ".join(str(d) for d in search) or "(manifests_path is empty)"
            raise ConfigError(f"manifest {current!r} not found in {where}", loc, ("manifest",))
        node, data = load_file(path)
        ErrorGroup.raise_if_any(validate(node, MANIFEST_SCHEMA, data))
        chain.append((path, node))
        ext = node.get("extends") if node is not None else None
        current, loc = (str(ext.value), ext.loc) if ext is not None else (None, None)
    values: dict[str, Node] = {}
    errors: list[ConfigError] = []
    for _path, node in reversed(chain):
        if node is not None:
            values = merge_maps(values, node, MANIFEST_STRATEGIES, errors)
    ErrorGroup.raise_if_any(errors)
    return Manifest(name, [p for p, _ in reversed(chain)], values)

