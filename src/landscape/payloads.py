"""How each resolved package's payload reaches a launch (docs/config.md, "Delivery").

A package is **baked** (copied into its image, the default), **mounted** (``delivery:
mount`` in the studio root: the image keeps the package's definition files, and its folder is
bind-mounted read-only at launch where a baked copy would be, after it was checked against
``landscape.lock``) or, with ``--dev``, a **dev** package (from ``rez.dev_path``: not in the
image at all, its folder mounted read-only at launch, so that an edit takes effect at the
next launch with no build).

Only the studio root's file may set ``delivery`` (:mod:`landscape.cascade` refuses it in any
other file), and a package is mounted only when its repository is one the root names itself
— in ``rez.packages_path``/``staging_path``/``dev_path`` or under ``delivery.repositories``
— so no other file can make another host path reach a container through this feature. A
mounted folder is always the package's real path, inside its repository's real path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from .errors import ConfigError, ErrorGroup, LandscapeError
from .launchinputs import PayloadMount
from .merge import expand_host_vars
from .paths import real
from .policy import under
from .rezsolve import ResolvedPackage

if TYPE_CHECKING:
    from .cascade import Cascade
    from .imagekey import ImageSpec

BAKE, MOUNT, DEV = "bake", "mount", "dev"
#: a package name or version that may name a folder of the image (as the build requires)
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class Delivery:
    """The studio root's ``delivery``: ``packages`` (family → ``bake``/``mount``),
    ``repositories`` (real path → ``bake``/``mount``) and ``named``, the real paths of every
    repository the root's file names (its ``rez`` paths and ``delivery.repositories``)."""

    packages: dict[str, str] = field(default_factory=dict)
    repositories: dict[str, str] = field(default_factory=dict)
    named: frozenset[str] = frozenset()

    def mode(self, p: ResolvedPackage) -> str:
        """``mount`` or ``bake`` for package ``p``: its family's setting, else its
        repository's, else ``bake``. Always ``bake`` for a package from a repository the
        root does not name, and for a single-file family (it has no payload)."""
        if p.single_file or (not self.packages and not self.repositories):
            return BAKE
        repository = real(p.repository)
        if repository not in self.named:
            return BAKE
        return self.packages.get(p.name) or self.repositories.get(repository, BAKE)


def root_delivery(cascade: "Cascade") -> Delivery:
    """The ``delivery`` of ``cascade``'s studio root file (:class:`Delivery`; empty when
    unset). Repository paths are taken relative to the root file, ``~`` and ``${VAR}``
    expanded from the host environment (the root is trusted). The schema has already checked
    the values (``bake``/``mount``, family names). Raises :class:`ConfigError` at the key's
    line for an unset ``${VAR}``."""
    root = cascade.files[0] if cascade.files else None
    node = root.node.get("delivery") if root is not None and root.node is not None else None
    if node is None or not node.is_map:
        return Delivery()
    families = node.get("packages")
    packages = {k: str(v.value) for k, v in families.items()} \
        if families is not None and families.is_map else {}
    repos = node.get("repositories")
    repositories: dict[str, str] = {}
    for key, value in (repos.items() if repos is not None and repos.is_map else ()):
        loc = repos.key_loc(key)
        text = os.path.expanduser(expand_host_vars(key, loc, ("delivery", "repositories", key),
                                                   trusted=True))
        repositories[real(os.path.join(str(root.dir), text))] = str(value.value)
    named = {real(p) for p in cascade.root_paths("rez", "packages_path", "staging_path",
                                                  "dev_path")}
    return Delivery(packages, repositories, frozenset(named | set(repositories)))


def dev_repositories(cascade: "Cascade") -> list[str]:
    """The dev repositories ``--dev`` searches first (``rez.dev_path``, as merged: absolute
    paths). Raises :class:`LandscapeError` when no file sets ``rez.dev_path``, and
    :class:`ConfigError` at its line for each one that is not a folder — one line each, so a
    dev launch never quietly runs without the user's packages."""
    rez = cascade.node("rez")
    node = rez.get("dev_path") if rez is not None else None
    items = list(node.value) if node is not None and node.is_list else []
    if not items:
        raise LandscapeError("--dev: no dev repository: no config file sets rez.dev_path",
                             hint="the studio root may name each user's own, e.g. "
                             "`rez: {dev_path: [~/packages]}`")
    errors = [ConfigError(f"--dev: the dev repository {item.value} does not exist (or is "
                          "not a folder)", item.loc, ("rez", "dev_path"))
              for item in items if not os.path.isdir(str(item.value))]
    ErrorGroup.raise_if_any(errors)
    return [str(item.value) for item in items]


def delivery_of(p: ResolvedPackage, image: "ImageSpec", dev: Iterable[str]) -> str:
    """``dev`` (``p`` comes from one of the dev repositories ``dev``, real paths),
    ``mount`` (``image`` mounts its payload) or ``bake``."""
    if dev and real(p.repository) in dev:
        return DEV
    return MOUNT if image.is_mounted(p) else BAKE


def payload_mounts(packages: Iterable[ResolvedPackage], image: "ImageSpec",
                   dev: Iterable[str]) -> tuple[list[PayloadMount], list[LandscapeError]]:
    """The read-only mounts a launch of ``packages`` (one tool's solution) needs: one
    :class:`~landscape.launchinputs.PayloadMount` per package that is mounted or a dev
    package, from the package folder's **real** path to its place in the image
    (:attr:`~landscape.rezsolve.ResolvedPackage.image_base`; for a dev version of a
    single-file family, its family file) — and an error for each package whose folder leads
    outside its repository (it is never mounted)."""
    dev = frozenset(dev)
    mounts: list[PayloadMount] = []
    errors: list[LandscapeError] = []
    for p in packages:
        kind = delivery_of(p, image, dev)
        if kind == BAKE:
            continue
        folder = [p.layout] if p.single_file else [p.name, p.version] if p.version else [p.name]
        if not all(_FOLDER_NAME.fullmatch(part) for part in folder):
            errors.append(LandscapeError(f"package {p.qualified!r} of {p.repository}: not a "
                                         "folder name of the image: not mounted"))
            continue
        source, repository = real(p.base), real(p.repository)
        if source == repository or not under(source, repository):
            errors.append(LandscapeError(
                f"package {p.qualified}: {p.base} leads to {source}, outside its repository "
                f"{p.repository}: not mounted"))
            continue
        mounts.append(PayloadMount(p.qualified, p.repository, p.base, source, p.image_base,
                                   kind))
    return mounts, errors
