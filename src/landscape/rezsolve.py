"""Solving package requests with the real rez library.

:func:`solve` runs ``rez.resolved_context.ResolvedContext`` with the packages path, time
and requests of one tool of one context — passed per call, never through rez's global
config — and returns a :class:`Solution`: the exact packages (name, version, variant index,
repository, payload directory) and a way to compute the environment rez builds for them.

rez fails two ways: a ``RezError`` for bad input (an
unknown family, a broken ``package.py``), and a context with ``success == False`` and a
``failure_description`` for a conflict. Both become :class:`~landscape.errors.ResolveError`
with rez's own words.

Solutions are memoised in-process by (requests, packages path, timestamp): a repeated
solve costs about a microsecond instead of a millisecond. ``import rez`` takes 110–170 ms,
so this module is only imported by commands that solve.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from . import overrides
from .envactions import EnvAction
from .errors import ResolveError
from .overrides import Override

#: PATH of a Debian-based image; rez appends these "system paths" (``standard_system_paths``)
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where an image keeps its single rez repository of the resolved packages
IMAGE_PACKAGES = "/landscape/packages"

_configured = False


def _configure_rez() -> None:
    """Settings that make rez compute a *container's* environment on the host: system paths
    are the image's PATH (not probed from the host's shell), rez's own tools are not added
    to PATH (images call rez by its full path)."""
    global _configured
    if _configured:
        return
    from rez.config import config

    config.override("standard_system_paths", IMAGE_PATH.split(":"))
    config.override("rez_tools_visibility", "never")
    config.override("suite_visibility", "never")
    config.override("resolve_caching", False)
    _configured = True


@dataclass(frozen=True)
class ResolvedPackage:
    """One package of a solution.

    ``name``/``version`` as rez prints them (``version`` is ``""`` for an unversioned
    package), ``variant`` the variant index (``None`` when the package has no variants),
    ``repository`` the packages-path entry it came from, ``base`` the package's folder
    (payload and definition: ``<repo>/<name>/<version>``, or ``<repo>/<name>`` when
    unversioned) — or, for a version of a single-file family (rez's filesystem repository
    reads ``<repo>/<name>.py``/``.yaml`` holding several versions, no payload), that file —
    ``root`` the variant's root (``base`` when it has none), ``uri`` rez's URI of the
    definition, ``single_file`` whether ``base`` is such a family file.
    """

    name: str
    version: str
    variant: int | None
    repository: str
    base: str
    root: str
    uri: str
    single_file: bool = False

    @property
    def qualified(self) -> str:
        """``name-version`` (rez's qualified package name; ``name`` when unversioned)."""
        return f"{self.name}-{self.version}" if self.version else self.name

    @property
    def exact_request(self) -> str:
        """A request that pins exactly this package: ``name==version``. Unversioned, that is
        ``name==``, rez's range holding only the empty version (``nada==``)."""
        return f"{self.name}=={self.version}"

    @property
    def layout(self) -> str:
        """Where ``base`` sits in a repository, relative to its top: ``name/version``,
        ``name`` (unversioned) or ``name.py`` (a single-file family)."""
        if self.single_file:
            return os.path.basename(self.base)
        return f"{self.name}/{self.version}" if self.version else self.name

    @property
    def image_base(self) -> str:
        """Where ``base`` lives inside an image: :data:`IMAGE_PACKAGES` + :attr:`layout`."""
        return f"{IMAGE_PACKAGES}/{self.layout}"

    def to_json(self) -> dict:
        """docs/json.md ``packages`` item."""
        return {"name": self.name, "version": self.version, "variant": self.variant,
                "repository": self.repository}


class Solution:
    """rez's answer for one request list: ``packages`` (in rez's resolve order, override
    companions included), the underlying ``rez.resolved_context.ResolvedContext``
    (``rez_context``) and the override stacks (``overrides``: family → layers, see
    :mod:`landscape.overrides`)."""

    def __init__(self, requests: tuple[str, ...], package_paths: tuple[str, ...],
                 timestamp: int | None, rez_context: Any,
                 overrides: dict[str, list[Override]] | None = None) -> None:
        self.requests = requests
        self.package_paths = package_paths
        self.timestamp = timestamp
        self.rez_context = rez_context
        self.overrides = overrides or {}
        self.packages = [_package(v) for v in rez_context.resolved_packages or []]
        self._environ: dict[tuple, dict[str, str]] = {}

    def environ(self, parent_environ: Mapping[str, str]) -> dict[str, str]:
        """The environment rez builds for these packages over ``parent_environ``, with paths
        as they are **inside the image**: each package's host directory is replaced by its
        image directory and ``REZ_USED_PACKAGES_PATH`` is the image's repository.

        Uses ``ResolvedContext.get_environ`` (rez's Python rex interpreter; no shell),
        once per distinct ``parent_environ`` (memoised on this solution: every context that
        shares the solution starts its container from the same base environment).
        Raises :class:`ResolveError` (one line, :func:`rez_words`) when a package's
        ``commands`` (or a ``@late`` attribute they read) fail.
        """
        memo_key = tuple(sorted(parent_environ.items()))
        hit = self._environ.get(memo_key)
        if hit is None:
            hit = self._environ[memo_key] = self._compute_environ(parent_environ)
        return dict(hit)

    def _compute_environ(self, parent_environ: Mapping[str, str]) -> dict[str, str]:
        env = self._rez_call(self.rez_context.get_environ, parent_environ)
        out: dict[str, str] = {}
        for key, value in env.items():
            if key.startswith("REZ_USED") and key not in ("REZ_USED_REQUEST", "REZ_USED_RESOLVE"):
                continue  # host-specific: rez's install path and version, solve time
            out[key] = self.to_image(value)
        out["REZ_USED_PACKAGES_PATH"] = IMAGE_PACKAGES
        return out

    def _rez_call(self, method: Any, parent_environ: Mapping[str, str]) -> Any:
        """``method(parent_environ=…)`` of the rez context, its failures as one-line
        :class:`ResolveError` (rez names the package whose commands failed)."""
        try:
            return method(parent_environ=dict(parent_environ))
        except Exception as e:  # noqa: BLE001 - RexError, or a package's own code raised
            words = rez_words(e, self.package_paths)
            err = ResolveError(f"rez cannot build the environment: {words}")
            err.reason = words
            raise err from None

    def to_image(self, value: str) -> str:
        """``value`` with each resolved package's host folder replaced by its image folder."""
        for host, image in self._mapping:
            if host in value:
                value = value.replace(host, image)
        return value

    @property
    def _mapping(self) -> list[tuple[str, str]]:
        return sorted(((p.base, p.image_base) for p in self.packages),
                      key=lambda kv: len(kv[0]), reverse=True)

    def env_actions(self, parent_environ: Mapping[str, str]) -> list[EnvAction]:
        """What each package's ``commands`` did to each variable, in order, as
        :class:`~landscape.envactions.EnvAction` records (values as image paths; ``origin``
        ``package NAME-VERSION``, ``override package URI`` or ``rez (…)``), from rez's own
        action list (``ResolvedContext.get_actions``) — provenance for ``--explain``."""
        import re

        from rez import rex

        ops = {rex.Setenv: "set", rex.Prependenv: "prepend", rex.Appendenv: "append",
               rex.Unsetenv: "unset"}
        companions = {f"{layer.companion}-{overrides.COMPANION_VERSION}": layer
                      for layers in self.overrides.values() for layer in layers}
        origin = "rez"
        out: list[EnvAction] = []
        for action in self._rez_call(self.rez_context.get_actions, parent_environ):
            if isinstance(action, rex.Comment):
                text = str(action.args[0] if action.args else "").strip()
                m = re.match(r"(?:commands|variables) (?:from|for) package (\S+?)\[", text)
                if m and m.group(1) in companions:
                    origin = f"override package {companions[m.group(1)].uri}"
                elif m:
                    origin = f"package {m.group(1)}"
                elif text.strip("#-"):
                    origin = f"rez ({text})"  # a section of rez's own: system setup, …
                continue
            op = ops.get(type(action))
            if op is None or action.key.startswith("REZ_USED"):
                continue
            value = self.to_image(str(action.value)) if op != "unset" else None
            out.append(EnvAction(action.key, op, value, origin))
        return out


def _package(variant: Any) -> ResolvedPackage:
    """A ``rez.packages.Variant`` as a :class:`ResolvedPackage`. A variant of a single-file
    family (rez's "combined" filesystem resources) has neither ``base`` nor ``root``; its
    family file (the family resource's ``filepath``) stands for both."""
    base = variant.base or variant.root
    single = not base
    if single:
        base = getattr(variant.parent.resource.parent, "filepath", None) or \
            str(variant.uri).split("<", 1)[0]
    return ResolvedPackage(
        name=variant.name,
        version=str(variant.version),
        variant=variant.index,
        repository=str(variant.repository.location),
        base=str(base),
        root=str(variant.root or base),
        uri=str(variant.uri),
        single_file=single,
    )


_MEMO: dict[tuple, Solution] = {}


def clear_caches() -> None:
    """Forget every memoised solution, package digest and rez repository listing: a
    long-running process calls this to see packages released (or edited) since."""
    from rez.packages import package_repository_manager

    from .digest import _DIGESTS

    _MEMO.clear()
    _DIGESTS.clear()
    package_repository_manager.clear_caches()


def check_request(request: str) -> str | None:
    """rez's complaint about one request string, or ``None`` when it parses."""
    from rez.exceptions import RezError
    from rez.utils.formatting import PackageRequest

    if not request or any(c.isspace() for c in request):
        return "a request has no spaces or line breaks"
    try:
        PackageRequest(request)
    except (RezError, ValueError) as e:
        return str(e) or "invalid request"
    except Exception as e:  # noqa: BLE001 - rez's version parser raises its own kinds
        return f"{type(e).__name__}: {e}" if str(e) else "invalid request"
    return None


def rez_words(error: BaseException, paths: Sequence[str]) -> str:
    """One line for an exception raised while rez read or solved packages: ``TYPE: message``.

    rez's errors about a definition's own code (``SourceCodeExecError`` for an ``@early`` or
    ``@late`` function) embed a traceback; it is cut down to its last line (the exception).
    An exception that is not a ``RezError`` (rez lets a definition's own exception through)
    also names where it was raised: ``(raised in FILE:LINE, in FUNCTION)``, the innermost
    traceback frame inside one of the repositories ``paths`` (rez compiles a ``@late``
    function's code as ``<FILE:FUNCTION>``)."""
    import traceback

    from rez.exceptions import RezError

    text = str(error)
    head, mark, rest = text.partition("Traceback (most recent call last):")
    if mark:
        last = [line for line in rest.splitlines() if line.strip()][-1:]
        text = f"{head.strip()} {' '.join(last)}"
    text = " ".join(text.split())
    where = ""
    if not isinstance(error, RezError):
        roots = [os.path.realpath(p) + os.sep for p in paths]
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            path, _, func = frame.filename.strip("<>").partition(":")
            if any(os.path.realpath(path).startswith(r) for r in roots):
                where = (f" (raised in {path}, in {func})" if func else
                         f" (raised in {path}:{frame.lineno}, in {frame.name})")
                break
    return f"{type(error).__name__}: {text}{where}" if text else f"{type(error).__name__}{where}"


def _rez_solve(requests: list[str], paths: list[str], timestamp: int | None) -> Any:
    from rez.resolved_context import ResolvedContext

    try:
        ctx = ResolvedContext(requests, package_paths=paths, timestamp=timestamp or 0,
                              package_filter=overrides.override_filter(),
                              add_implicit_packages=False)
    except Exception as e:  # noqa: BLE001 - RezError, or a definition's own code raised
        reason = rez_words(e, paths)
    else:
        reason = None if ctx.success else (ctx.failure_description or "no solution").strip()
    if reason is not None:
        clear = overrides.family_error(requests, paths, reason)
        if clear is not None:
            clear.reason = clear.message
            raise clear
        err = ResolveError(f"rez cannot resolve [{' '.join(requests)}]: {reason}")
        err.reason = reason  # rez's own words, without the request list
        raise err
    return ctx


def solve(requests: Sequence[str], package_paths: Sequence[str],
          timestamp: int | None = None) -> Solution:
    """Solve ``requests`` against ``package_paths`` (searched in order), ignoring packages
    released after ``timestamp`` (epoch seconds; ``None`` for no limit), with override
    packages stacked onto the real ones (docs/config.md, :mod:`landscape.overrides`).

    Raises :class:`ResolveError` with rez's reason when rez cannot solve.
    """
    key = (tuple(requests), tuple(package_paths), timestamp)
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    _configure_rez()
    paths = list(package_paths)
    companions: list[str] = []
    stacks: dict[str, list[Override]] = {}
    for _ in range(8):  # an override's requires may pull in families with overrides of their own
        search = ([overrides.generated_repository()] if companions else []) + paths
        try:
            ctx = _rez_solve(list(requests) + companions, search, timestamp)
        except ResolveError as e:
            if not companions:
                raise
            layers = [f"{layer.family} from {layer.uri} (requires "
                      f"{', '.join(layer.requires) or 'nothing'})"
                      for layers in stacks.values() for layer in layers]
            e.message = (f"with the override packages {'; '.join(layers)} stacked: "
                         f"{e.message}")
            raise
        try:
            stacks = overrides.stacks(ctx.resolved_packages, paths, timestamp)
        except ResolveError:
            raise
        except Exception as e:  # noqa: BLE001 - an override's own code (@late requires…)
            raise ResolveError(f"override packages of [{' '.join(requests)}]: "
                               f"{rez_words(e, paths)}") from None
        wanted = [layer.companion for layers in stacks.values() for layer in layers]
        if wanted == companions:
            break
        companions = wanted
    else:
        raise ResolveError(f"override packages of [{' '.join(requests)}] do not settle")
    solution = Solution(key[0], key[1], timestamp, ctx, stacks)
    _MEMO[key] = solution
    return solution
