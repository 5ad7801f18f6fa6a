"""Manifests: named, pinned package snapshots, the lowest layer of an environment (docs/config.md).

A manifest ``vfx2024`` is the first ``vfx2024.yaml`` found along ``manifests_path``. It may
``extends:`` another manifest (single inheritance, base applied first) and holds
``packages``, ``env`` and per-workflow ``workflows``. Merges use
:data:`landscape.merge.MANIFEST_STRATEGIES`, so provenance is kept as in the cascade.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, ErrorGroup, Location
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


def find_manifest(name: str, search: Sequence[str]) -> Path | None:
    """The first ``<dir>/<name>.yaml`` along ``search`` (directories), or ``None``."""
    for d in search:
        p = Path(d) / f"{name}.yaml"
        if p.is_file():
            return p
    return None


def load_manifest(name: str, search: Sequence[str], requested_at: Location | None = None
                  ) -> Manifest:
    """Load manifest ``name`` and its ``extends`` chain from ``search`` (``manifests_path``).

    Raises :class:`ConfigError` (at ``requested_at``) when a manifest is not found or the
    chain loops, and :class:`~landscape.errors.ErrorGroup` for syntax/schema errors in it.
    """
    chain: list[tuple[Path, Node | None]] = []
    seen: list[str] = []
    current, loc = name, requested_at
    while current:
        if current in seen:
            raise ConfigError("manifest extends loop: " + " -> ".join(seen + [current]), loc,
                              ("extends",))
        seen.append(current)
        path = find_manifest(current, search)
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

