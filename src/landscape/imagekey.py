"""Image specs and image keys (README.md, Images).

An :class:`ImageSpec` is everything that goes into one image: the base image reference,
OS packages, the rez version, the resolved packages (name, version, variant and a digest of
the package definition and payload) and the tool setups (tool path → exact requests). Its
**image key** is the sha256 of a canonical JSON of those, plus a digest of the image recipe
(the Dockerfile template and the files copied into every image), so a change to any of them
makes a new key and nothing else does. Thousands of contexts that resolve alike share one key.

Per-context values that need no software — levels, metadata, env actions, storage — are not
part of the key: they are applied at launch.

Computed without the Docker engine (``resolve`` and ``plan`` need no daemon).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, TypeVar

from . import grammar
from .digest import _DIGESTS, definition_digest, definition_size, tree_digest, tree_size
from .errors import LandscapeError
from .resources import data_dir
from .rezsolve import ResolvedPackage

#: Bumped when the layout of images changes in a way the recipe digest cannot see.
#: 2: one layer per package (:func:`package_layers`) instead of one per repository.
IMAGE_FORMAT = 2
#: Most package layers an image gets (Docker refuses images deeper than ~125 layers, and
#: the base and the fixed steps take some): the packages past the last but one share the
#: last layer.
MAX_PACKAGE_LAYERS = 64
DEFAULT_BASE = "landscape/base:bookworm"
DEFAULT_REZ_VERSION = "3.4.0"
#: OS packages every image needs (rez runs in a venv of the image's Python).
CORE_SYSTEM_PACKAGES = ("python3", "python3-venv")

def recipe_digest() -> str:
    """Digest of the image recipe: ``templates/Dockerfile.j2`` and ``templates/image/``."""
    hit = _DIGESTS.get("<recipe>")
    if hit is None:
        t = data_dir("templates")
        hit = hashlib.sha256((tree_digest(str(t / "Dockerfile.j2")) +
                              tree_digest(str(t / "image"))).encode()).hexdigest()
        _DIGESTS["<recipe>"] = hit
    return hit


T = TypeVar("T")


def package_layers(tiers: list[list[T]], size: Callable[[T], int],
                   name: Callable[[T], tuple[str, str]],
                   limit: int = MAX_PACKAGE_LAYERS) -> list[list[T]]:
    """The package layers of an image, bottom first (docs/locking.md, "Package layers").

    ``tiers`` are packages grouped by repository, most shared first (the studio's first);
    ``size(p)`` is a package's payload in bytes and ``name(p)`` its ``(name, version)``.
    Each package gets a layer of its own, in tier order and, within a tier, heaviest first
    (ties by name, then version) — so big, rarely bumped payloads sit low, where images
    that differ only above them share them, and a bumped small package re-sends only the
    layers above it. With more than ``limit`` packages, the ones past the ``limit - 1``
    first share the last layer. A pure function of its arguments: the same packages (by
    content) always give the same layers in the same order."""
    ordered = [p for tier in tiers
               for p in sorted(tier, key=lambda p: (-size(p), *name(p)))]
    if len(ordered) <= limit:
        return [[p] for p in ordered]
    return [[p] for p in ordered[:limit - 1]] + [ordered[limit - 1:]]


def repository_name(project: str) -> str:
    """A Docker repository for ``project``: ``landscape/<project>`` lowercased, with any
    character Docker refuses replaced by ``-``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", project.lower()).strip("-._") or "studio"
    return f"landscape/{slug}"


@dataclass
class ImageSpec:
    """What one image holds; see the module doc. ``packages`` are in install order: by
    repository tier (the last packages-path entry — the studio's — first), then name.
    ``mounted`` names (``name-version``) the packages whose payload is mounted at launch
    (``delivery: mount``, docs/config.md): the image keeps only their definition files, and
    its key depends on those, not on the payload (:meth:`package_digest`)."""

    project: str
    base: str
    system_packages: list[str]
    rez_version: str
    packages: list[ResolvedPackage]
    tools: dict[str, list[str]]
    repositories: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    mounted: list[str] = field(default_factory=list)
    key: str = ""

    def __post_init__(self) -> None:
        self.validate()
        if not self.key:
            self.key = self.compute_key()

    def validate(self) -> None:
        """Refuse any value that would not stay a single token of the Dockerfile or a label
        Landscape does not own — a second line of defence behind the schema, so that no
        generator ever sees such a value. Raises :class:`LandscapeError`."""
        if not grammar.is_image_reference(self.base):
            raise LandscapeError(f"image.base {self.base!r} is not a Docker image reference")
        bad = [p for p in self.system_packages if not grammar.is_debian_package(p)]
        if bad:
            raise LandscapeError(f"not Debian package names: {', '.join(map(repr, bad))}")
        for key in self.labels:
            why = grammar.check_label_key(key)
            if why:
                raise LandscapeError(f"image label {key!r}: {why}")
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", self.rez_version):
            raise LandscapeError(f"rez version {self.rez_version!r} is not a version number")

    def canonical(self) -> dict:
        """The JSON-able content the key hashes."""
        return {
            "format": IMAGE_FORMAT,
            "recipe": recipe_digest(),
            "base": self.base,
            "system_packages": sorted(self.system_packages),
            "rez": self.rez_version,
            "packages": sorted((self._canonical_package(p) for p in self.packages),
                               key=lambda d: (d["name"], d["version"])),
            "tools": {k: self.tools[k] for k in sorted(self.tools)},
            "labels": dict(sorted(self.labels.items())),
        }

    def _canonical_package(self, p: ResolvedPackage) -> dict:
        entry = {"name": p.name, "version": p.version, "variant": p.variant,
                 "digest": self.package_digest(p)}
        if self.is_mounted(p):  # a baked package's entry is as it always was
            entry["delivery"] = "mount"
        return entry

    def is_mounted(self, p: ResolvedPackage) -> bool:
        """Whether ``p``'s payload is mounted at launch rather than baked (a single-file
        family has no payload: always baked)."""
        return not p.single_file and p.qualified in self.mounted

    def package_digest(self, p: ResolvedPackage) -> str:
        """What of ``p`` the image holds, digested: its whole folder
        (:func:`~landscape.digest.tree_digest`), or only its definition files when its
        payload is mounted (:func:`~landscape.digest.definition_digest`: the payload is
        never read)."""
        return definition_digest(p.base) if self.is_mounted(p) else tree_digest(p.base)

    def package_size(self, p: ResolvedPackage) -> int:
        """Bytes of ``p`` the image holds (orders the package layers): its regular files,
        or only its definition files when its payload is mounted."""
        return definition_size(p.base) if self.is_mounted(p) else tree_size(p.base)

    def compute_key(self) -> str:
        """``sha256:<hex>`` of :meth:`canonical` as compact, key-sorted JSON."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @property
    def short(self) -> str:
        """The first 12 hex digits of the key (the tag)."""
        return self.key.split(":", 1)[1][:12]

    @property
    def tag(self) -> str:
        """``landscape/<project>:<key prefix>`` (README.md, Images)."""
        return f"{repository_name(self.project)}:{self.short}"

    def tiers(self) -> list[list[ResolvedPackage]]:
        """Packages grouped by repository, most shared first (studio before project and
        shot repositories), each sorted by name and version."""
        order = [os.path.realpath(r) for r in reversed(self.repositories)]

        def rank(repo: str) -> int:  # rez reports repositories with symlinks resolved
            real = os.path.realpath(repo)
            return order.index(real) if real in order else len(order)

        groups: dict[str, list[ResolvedPackage]] = {}
        for p in self.packages:
            groups.setdefault(p.repository, []).append(p)
        ranked = sorted(groups, key=rank)
        return [sorted(groups[r], key=lambda p: (p.name, p.version)) for r in ranked]

    def to_record(self) -> dict:
        """Every field (packages as dicts), for the resolve cache (:meth:`from_record`)."""
        return {"project": self.project, "base": self.base,
                "system_packages": list(self.system_packages), "rez_version": self.rez_version,
                "packages": [asdict(p) for p in self.packages],
                "tools": {k: list(v) for k, v in self.tools.items()},
                "repositories": list(self.repositories), "labels": dict(self.labels),
                "mounted": list(self.mounted), "key": self.key}

    @classmethod
    def from_record(cls, data: dict) -> "ImageSpec":
        """The spec :meth:`to_record` wrote, its key taken as recorded (the cache entry's
        inputs were checked instead). Raises :class:`LandscapeError` (the spec's own
        checks), ``KeyError`` or ``TypeError`` for anything else."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(data["key"])):
            raise ValueError("not an image key")
        return cls(project=str(data["project"]), base=str(data["base"]),
                   system_packages=[str(p) for p in data["system_packages"]],
                   rez_version=str(data["rez_version"]),
                   packages=[ResolvedPackage(**p) for p in data["packages"]],
                   tools={str(k): [str(r) for r in v] for k, v in data["tools"].items()},
                   repositories=[str(r) for r in data["repositories"]],
                   labels={str(k): str(v) for k, v in data["labels"].items()},
                   mounted=[str(q) for q in data["mounted"]], key=str(data["key"]))

    def layers(self) -> list[list[ResolvedPackage]]:
        """The image's package layers, bottom first: :func:`package_layers` of
        :meth:`tiers` (a version two variants share counted once), sized by
        :meth:`package_size` (what of each package the image holds). One ``COPY``
        instruction each (``templates/Dockerfile.j2``)."""
        seen: set[tuple[str, str]] = set()  # two variants of one version: one folder
        tiers = [[p for p in tier if (p.name, p.version) not in seen
                  and not seen.add((p.name, p.version))] for tier in self.tiers()]
        return package_layers(tiers, self.package_size, lambda p: (p.name, p.version))

    def to_json(self) -> dict:
        """docs/json.md ``image``."""
        return {"key": self.key, "tag": self.tag, "base": self.base}


def union_packages(solutions: list[list[ResolvedPackage]]) -> list[ResolvedPackage]:
    """Distinct packages of several solutions (by name, version, repository), in first-seen
    order."""
    seen: dict[tuple, ResolvedPackage] = {}
    for packages in solutions:
        for p in packages:
            seen.setdefault((p.name, p.version, p.repository, p.variant), p)
    return list(seen.values())
