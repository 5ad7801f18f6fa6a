"""Mounted package payloads, checked at every launch (docs/locking.md, "Mounted payloads").

A launch's :attr:`~landscape.launchinputs.LaunchInputs.payloads` are package folders that are
not in the image: those the studio root delivers by ``mount`` and, with ``--dev``, the
user's dev packages. Before a container gets them, :func:`payload_binds` reads each one
fresh — never from the resolve cache, whose record only says which folders to mount:

- the folder must still lead to the real path it had when it was resolved, inside its
  repository's real path (a folder swapped for a symlink since is refused, as a build
  refuses one: :func:`landscape.engine.buildcontext.package_payloads`);
- a ``mount`` package's folder must have the content digest that the project's
  ``landscape.lock`` records for it. That digest is taken cheaply: the on-disk digest
  cache answers by the folder's stat signature (path, and each entry's size, times, inode,
  mode), so an unchanged gigabyte payload costs one ``lstat`` per file; a changed one is
  read once. No lock, or a lock without that package, is refused too: a mounted payload is
  only ever run as the lock describes it;
- a ``dev`` package is mounted as it is (the user's own work in progress).

What is mounted is the real path (``ReadOnly``), where a baked copy would be; the launch
checks it once more just before the container is created
(:func:`landscape.engine.launch.verify_binds`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..digest import fresh_tree_digest
from ..errors import LandscapeError
from ..launchinputs import LaunchInputs, PayloadMount
from ..lock import LOCK_NAME, LockError, line_of_package, package_entry_name, read_lock


def _moved(m: PayloadMount) -> str | None:
    """Why ``m``'s folder may not be mounted now (it leads elsewhere than when it was
    resolved, or outside its repository), or ``None``."""
    now = os.path.realpath(m.base)
    repository = os.path.realpath(m.repository).rstrip("/") + "/"
    if now != m.source:
        return f"{m.base} now leads to {now}, not {m.source} as when it was resolved"
    if not now.startswith(repository):
        return f"{m.base} leads to {now}, outside its repository {m.repository}"
    return None


def payload_binds(inputs: LaunchInputs) -> list[tuple[str, str, str]]:
    """``[(host source, container target, "ro")]`` for every payload of ``inputs``, each
    checked as the module doc says. Raises :class:`LandscapeError` — one line naming the
    package and its folder — for a folder that moved, a ``mount`` payload whose content is
    not the one ``landscape.lock`` records, or a lock that is missing, unreadable or does
    not list the package."""
    return checked_binds(inputs.payloads, inputs.project_dir, inputs.root)


def checked_binds(payloads: list[PayloadMount], project_dir: str, root: str
                  ) -> list[tuple[str, str, str]]:
    """:func:`payload_binds` of ``payloads`` of the project at ``project_dir`` (its lock)
    in the studio ``root`` — for a launch, or for the stack's workspace services."""
    binds: list[tuple[str, str, str]] = []
    lock: dict | None = None
    lock_path = Path(project_dir) / LOCK_NAME
    for m in payloads:
        why = _moved(m)
        if why is not None:
            raise LandscapeError(f"package {m.package}: {why}: not mounted, not launched")
        if m.delivery == "mount":
            if lock is None:
                try:
                    lock = read_lock(lock_path, Path(project_dir))
                except LockError as e:
                    raise LandscapeError(
                        f"package {m.package} is mounted (delivery: mount) and is checked "
                        f"against the project's lock: {e.message}", e.location,
                        hint=e.hint) from None
            name = package_entry_name(Path(root), m.package, m.repository)
            entry = (lock.get("packages") or {}).get(name)
            if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
                raise LandscapeError(
                    f"package {m.package} is mounted (delivery: mount) but {lock_path} does "
                    f"not record its payload {m.source}: not launched",
                    hint=f"run `landscape lock {project_dir}`")
            digest = "sha256:" + fresh_tree_digest(m.source)
            if digest != entry["digest"]:
                line = line_of_package(lock, name)
                raise LandscapeError(
                    f"package {m.package}: its payload {m.source} changed since the lock "
                    f"({lock_path}:{line} says {entry['digest'][:19]}…, it is now "
                    f"{digest[:19]}…): not launched",
                    hint=f"review the change, then run `landscape lock {project_dir}`")
        binds.append((m.source, m.target, "ro"))
    return binds
