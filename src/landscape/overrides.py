"""Override packages on top of the real rez library (docs/config.md), without patching rez.

A rez package whose definition says ``override = True`` does not hide the package of the
same name further down the packages path: it augments it. rez has no such mechanism
(repository order shadows, filters exclude, nothing merges), so Landscape builds it from
rez's public API:

1. Every solve runs with a package filter (:class:`OverrideRule`, a ``rez.package_filter``
   rule) that hides override packages, so rez picks the first **real** match with its own
   version rules — packages without ``override`` behave exactly as in rez.
2. For each resolved family, override packages in the repositories searched *before* the
   one the real package came from form its stack, nearest first, so the deepest repository
   (the shot's) comes last.
3. Each override becomes a generated **companion package** in Landscape's own repository
   (``<cache>/overrides``): a copy of the override's folder whose definition
   (``package.py``, or ``package.yaml`` from a declarative repository) keeps the
   override's ``commands`` but is renamed ``<family>__override_<digest>``, version ``1``, and
   ``requires`` the package below it in the stack (the real one first) plus the override's
   own requirements. Its payload is copied too, so ``{root}`` points at the companion.
4. The companions are appended to the requests and rez solves again with the generated
   repository first: rez orders packages by dependency, so the real package's commands run
   first and each override's after it, deepest last.

Versioned override packages are refused when they share a version with a real package
further down: rez would let them shadow it before any filter applies.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import ResolveError
from .digest import tree_digest
from .resources import cache_dir

COMPANION_MARK = "__override_"
COMPANION_VERSION = "1"


def is_companion(name: str) -> bool:
    """Whether a package name is a generated companion of an override package."""
    return COMPANION_MARK in name


def override_filter() -> Any:
    """A ``rez.package_filter.PackageFilterList`` that hides override packages."""
    from rez.package_filter import PackageFilter, PackageFilterList, Rule

    class OverrideRule(Rule):
        """Matches packages whose definition says ``override = True``."""

        name = "landscape_override"

        def __init__(self) -> None:
            self._family = None

        def match(self, package: Any) -> bool:
            return getattr(package, "override", False) is True

        def cost(self) -> int:
            return 10

        def __str__(self) -> str:
            return "landscape_override()"

    pf = PackageFilter()
    pf.add_exclusion(OverrideRule())
    pfl = PackageFilterList()
    pfl.add_filter(pf)
    return pfl


@dataclass(frozen=True)
class Override:
    """One layer of an override stack: the override package (``uri``, ``repository``, its
    ``requires``) and the companion generated for it (``companion``)."""

    family: str
    uri: str
    repository: str
    requires: tuple[str, ...]
    companion: str

    def to_json(self) -> dict:
        return {"package": self.family, "repository": self.repository, "definition": self.uri,
                "requires": list(self.requires), "companion": self.companion}


def generated_repository() -> str:
    """Landscape's repository of companion packages (created on first use)."""
    path = cache_dir() / "overrides"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _norm(path: str) -> str:
    """A repository path as rez reports it: symlinks resolved (rez's ``location`` is real)."""
    return os.path.realpath(str(path))


def _is_override(package: Any) -> bool:
    """Whether ``package`` (a ``rez.packages.Package``) says ``override = True``. Reading the
    attribute loads its definition; one that fails to load (a broken ``package.py``, an
    ``@early`` function that raises) is no override: rez reports it itself if the solve
    needs it."""
    try:
        return getattr(package, "override", False) is True
    except Exception:  # noqa: BLE001 - a definition's own code (@early) raises anything
        return False


def _overrides_in(family: str, repo: str, timestamp: int | None) -> list[Any]:
    from rez.packages import iter_packages

    found = [p for p in iter_packages(family, paths=[repo])
             if _is_override(p) and not (timestamp and p.timestamp and p.timestamp > timestamp)]
    return sorted(found, key=lambda p: p.version)


def _same_version_below(family: str, version: str, repos: Sequence[str]) -> str | None:
    """The first of ``repos`` holding ``family`` at exactly ``version`` — a package that an
    override of that version shadows from rez — or ``None``. Reads versions from the
    repositories' listings only: no definition is loaded (rez never loads a shadowed one)."""
    from rez.packages import iter_packages

    for repo in repos:
        if any(str(p.version) == version for p in iter_packages(family, paths=[repo])):
            return repo
    return None


def stacks(resolved: Sequence[Any], paths: Sequence[str], timestamp: int | None
           ) -> dict[str, list[Override]]:
    """Override stacks of the resolved variants: family → layers, nearest the real package
    first. Generates the companions (idempotent: their names carry a content digest).

    Raises :class:`ResolveError` for an override with variants, one that is not a
    ``package.py``, or a versioned override that shadows a real package.
    """
    norm_paths = [_norm(p) for p in paths]
    out: dict[str, list[Override]] = {}
    for variant in resolved:
        if is_companion(variant.name):
            continue
        repo = _norm(variant.repository.location)
        if repo not in norm_paths:
            continue
        before = norm_paths[: norm_paths.index(repo)]
        below = variant.name
        layers: list[Override] = []
        for override_repo in reversed(before):  # nearest the real package first
            found = _overrides_in(variant.name, override_repo, timestamp)
            if not found:
                continue
            pkg = found[-1]
            shadowed = str(pkg.version) and _same_version_below(
                variant.name, str(pkg.version), norm_paths[norm_paths.index(override_repo) + 1:])
            if shadowed:
                raise _shadow_error(pkg.qualified_name, override_repo, shadowed)
            layer = _companion(variant.name, pkg, override_repo, below)
            layers.append(layer)
            below = layer.companion
        if layers:
            out[variant.name] = layers
    return out


def _companion_definition(definition: Path, name: str, requires: list[str], family: str
                          ) -> tuple[str, str]:
    """``(file name, text)`` of a companion's definition: a ``package.py`` override keeps its
    source with the companion's identity appended; a ``package.yaml`` override (the only kind
    a declarative repository holds) is re-serialised as data with the new identity."""
    identity = {"name": name, "version": COMPANION_VERSION, "requires": requires,
                "override": False, "landscape_override_of": family,
                "landscape_override_source": str(definition)}
    if definition.name == "package.py":
        return "package.py", definition.read_text() + (
            "\n\n# --- Landscape: companion of an override package (generated) ---\n"
            + "".join(f"{k} = {v!r}\n" for k, v in identity.items()))
    import yaml
    from rez.vendor import yaml as rez_yaml  # the parser that validated it (declarative)

    data = rez_yaml.load(definition.read_text(), Loader=rez_yaml.SafeLoader) or {}
    data.update(identity)
    return "package.yaml", yaml.safe_dump(data, sort_keys=False)


def _companion(family: str, pkg: Any, repo: str, below: str) -> Override:
    """Generate (once) the companion of override package ``pkg`` stacked on ``below``."""
    definition = Path(pkg.uri)
    if definition.name not in ("package.py", "package.yaml"):
        raise ResolveError(f"override package {pkg.uri}: only package.py and package.yaml "
                           "definitions can be overrides")
    if pkg.variants:
        raise ResolveError(f"override package {pkg.uri} has variants; an override cannot")
    requires = tuple(str(r) for r in (pkg.requires or []))
    digest = hashlib.sha256("\0".join([tree_digest(str(pkg.base)), family, below,
                                       *requires]).encode()).hexdigest()[:12]
    name = f"{family}{COMPANION_MARK}{digest}"
    target = Path(generated_repository()) / name / COMPANION_VERSION
    if not target.exists():
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=generated_repository()))
        try:
            work = tmp / COMPANION_VERSION
            try:
                shutil.copytree(pkg.base, work, symlinks=True,
                                ignore=shutil.ignore_patterns("package.py", "package.yaml"))
            except (OSError, shutil.Error) as e:  # a FIFO, an unreadable file…
                raise ResolveError(f"override package {pkg.uri}: its files cannot be copied "
                                   f"({e})") from None
            filename, text = _companion_definition(definition, name, [below, *requires], family)
            (work / filename).write_text(text)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(work, target)
            except OSError:
                if not target.exists():  # another process won the race: theirs is identical
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        from rez.package_repository import package_repository_manager

        package_repository_manager.get_repository(generated_repository()).clear_caches()
    return Override(family, str(definition), repo, requires, name)


def _shadow_error(qualified: str, repo: str, below: str) -> ResolveError:
    return ResolveError(
        f"override package {qualified} in {repo} has the version of {qualified} in {below} "
        "and would hide it from rez; give the override no version")


#: A requirement rez names as missing: ``Package could not be found: maya-2024.2``,
#: ``package family not found: nosuch, was required by: app``.
_MISSING = re.compile(r"(?:not found|could not be found):\s*([^\s,()]+)")


def _failed_families(requests: Sequence[str], reason: str) -> dict[str, Any]:
    """family → ``rez.version.VersionRange`` for each family rez's failure ``reason`` is
    about: the requirements it names as missing (with the range it printed), then the
    families of the request list that ``reason`` names (with the list's merged range,
    ``rez.version.RequirementList``). Weak and conflict requirements are left out."""
    from rez.version import Requirement, RequirementList

    out: dict[str, Any] = {}
    for text in _MISSING.findall(reason):
        try:
            req = Requirement(text)
        except Exception:  # noqa: BLE001 - rez's version parser raises its own kinds
            continue
        if not (req.conflict or req.weak):
            out.setdefault(req.name, req.range)
    try:
        merged = RequirementList([Requirement(str(r)) for r in requests])
    except Exception:  # noqa: BLE001 - an unparsable request: rez's reason says so
        return out
    if merged.conflict:
        return out  # the list contradicts itself: no package is involved
    for req in merged.requirements:
        if not (req.conflict or req.weak) and re.search(rf"\b{re.escape(req.name)}\b", reason):
            out.setdefault(req.name, req.range)
    return out


def family_error(requests: Sequence[str], paths: Sequence[str], reason: str
                 ) -> ResolveError | None:
    """After rez failed with ``reason``: a clear error when a family that ``reason`` is
    about has only override packages in the range rez looked for, or a versioned override
    there hides a package of that version further down the path from rez. ``None`` when
    neither holds (rez's own reason is then the error).

    Only packages in the range rez tried are looked at (``rez.packages.iter_packages`` with
    ``range_``), whose definitions rez itself loaded to apply the override filter; packages
    shadowed by an override are seen by version only. A definition that does not load is
    skipped (rez's reason already names it). Never raises.
    """
    try:
        return _family_error(requests, paths, reason)
    except Exception:  # noqa: BLE001 - a diagnosis only: rez's own reason stands
        return None


def _family_error(requests: Sequence[str], paths: Sequence[str], reason: str
                  ) -> ResolveError | None:
    from rez.packages import iter_packages

    for family, range_ in _failed_families(requests, reason).items():
        if is_companion(family):
            continue
        visible: list[tuple[int, Any]] = []  # (index in paths, package) as rez sees them
        versions: set[str] = set()
        for i, repo in enumerate(paths):
            for p in iter_packages(family, range_=range_, paths=[repo]):
                if str(p.version) not in versions:  # else shadowed: rez never sees it
                    versions.add(str(p.version))
                    visible.append((i, p))
        overrides = [(i, p) for i, p in visible if _is_override(p)]
        for i, p in overrides:
            below = str(p.version) and _same_version_below(family, str(p.version),
                                                           paths[i + 1:])
            if below:
                return _shadow_error(p.qualified_name, paths[i], below)
        if visible and len(overrides) == len(visible):
            return ResolveError(
                f"{family}: only override packages were found; an override augments a real "
                f"{family} package further down the packages path, and there is none")
    return None
