"""The engine side of ``landscape.lock``: what can only be read from images (docs/locking.md).

- :func:`installed_packages` — the OS packages of an image (``dpkg-query`` in a throwaway,
  network-less container), cached by image id (an id names immutable content);
- :func:`observe` — fills a lock's observed phase from the images the engine holds;
- :func:`locked_options` — the :class:`~landscape.engine.buildcontext.BuildOptions` of a
  ``--locked``
  build, after checking the base, the rez wheel and the lock's completeness;
- :func:`vendor` — downloads the locked ``.deb`` files and the rez wheel into a folder for
  builds with no network (``build --offline DIR``).
"""

from __future__ import annotations

import json
import os
import shutil
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, Callable

from ..errors import EngineError
from ..imagekey import ImageSpec
from ..lock import LockError, _line_of, line_of_image, missing_observations
from ..resources import atomic_write, cache_dir
from . import docker as dk
from .base import base_fingerprint
from ..names import LABEL_BASE_FINGERPRINT, LABEL_ROLE

Log = Callable[[str], None]
_QUERY = ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"]


def _run(image: str, command: list[str], **kwargs: Any) -> str:
    """Run ``command`` in a hardened throwaway container of ``image``; its stdout. Raises
    :class:`EngineError` (one line) when it fails."""
    from docker.errors import DockerException

    try:
        out = dk.client().containers.run(
            image, command, remove=True, stdout=True, stderr=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], labels={LABEL_ROLE: "pins"},
            **kwargs)
    except DockerException as e:
        from .registry import one_line

        raise EngineError(f"{' '.join(command[:2])} in {image} failed: {one_line(e)}"
                          ) from None
    return out.decode("utf-8", "replace")


def installed_packages(image: Any) -> dict[str, str]:
    """``{OS package: version}`` installed in ``image`` (an SDK image), read with
    ``dpkg-query`` in a container without network; cached under the user cache by image id.
    Raises :class:`EngineError` when the image has no ``dpkg-query``."""
    cached = cache_dir() / "observed" / (image.id.replace(":", "-") + ".json")
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    text = _run(image.id, _QUERY, network_disabled=True, read_only=True, user="0:0")
    out = {}
    for line in text.splitlines():
        name, _, version = line.partition("\t")
        if name and version:
            out[name] = version
    atomic_write(cached, json.dumps(out, sort_keys=True))
    return out


def added_packages(image: Any, base: Any) -> dict[str, str]:
    """The OS packages ``image`` has beyond ``base`` (new, or at another version)."""
    have, below = installed_packages(image), installed_packages(base)
    return {n: v for n, v in sorted(have.items()) if below.get(n) != v}


def _wheel_digest(version: str, vendor: Path | None = None) -> tuple[str, str] | None:
    """``(wheel file name, sha256)`` of the rez wheel of ``version`` this host would build
    with (vendor folder, wheelhouse or cache), without downloading; ``None`` if none."""
    from .buildcontext import local_rez_wheel
    from ..vendor import file_sha256, vendored_wheel

    wheel = vendored_wheel(vendor, version) if vendor is not None else local_rez_wheel(version)
    return (wheel.name, file_sha256(wheel)) if wheel is not None else None


def observe(lock: dict, specs: dict[str, ImageSpec], *, strict: bool = False,
            log: Log = print) -> list[str]:
    """Fill ``lock``'s observed phase (in place) from the engine: each base's fingerprint and
    OS packages, each rez wheel's digest, each image's OS packages beyond its base — for the
    images of ``specs`` (key → spec) the engine holds. Returns what is still missing. With
    ``strict``, a missing base or image is an error (:class:`LockError`)."""
    from .images import find_image

    missing = []
    bases: dict[str, Any] = {}
    for ref, entry in lock["bases"].items():
        base = dk.get_image(ref)
        if base is None:
            missing.append(f"base {ref} is not in the engine")
            continue
        bases[ref] = base
        entry["fingerprint"] = base_fingerprint(base)
        entry["os_packages"] = installed_packages(base)
    for version, entry in lock["rez"].items():
        found = _wheel_digest(version)
        if found:
            entry["wheel"], entry["sha256"] = found
    for key, entry in lock["images"].items():
        spec = specs.get(key)
        image = find_image(spec, tag=False) if spec is not None else None
        if image is None or entry["base"] not in bases:
            missing.append(f"image {entry['tag']} is not built")
            continue
        fp = (image.labels or {}).get(LABEL_BASE_FINGERPRINT)
        if fp and fp != lock["bases"][entry["base"]]["fingerprint"]:
            missing.append(f"image {entry['tag']} was built on another {entry['base']} "
                           f"({fp[:19]}); rebuild it")
            continue
        entry["os_packages"] = added_packages(image, bases[entry["base"]])
    if strict and missing:
        raise LockError("cannot complete the lock from the engine's images: " +
                        "; ".join(missing), hint="run `landscape build PROJECT` first")
    return missing_observations(lock)


def locked_options(lock: dict, spec: ImageSpec, path: Path, *, vendor: Path | None = None,
                   ca_certificates: str | None = None, apt_mirror: str | None = None) -> Any:
    """The :class:`~landscape.engine.buildcontext.BuildOptions` of a ``--locked`` build of
    ``spec``: its
    OS packages pinned to the lock's versions. Raises :class:`LockError` naming the lock's
    line when the lock lacks the image's observed phase, when the engine's base has
    another content fingerprint than the lock names, or the rez wheel another digest."""
    from .buildcontext import BuildOptions

    entry = lock["images"].get(spec.key)
    if entry is None:
        raise LockError(f"image {spec.tag} is not in the lock", hint="run `landscape lock`")
    line = line_of_image(lock, spec.key)
    gaps = missing_observations(lock, {spec.key})
    if gaps:
        raise LockError("the lock is incomplete: " + "; ".join(gaps), _loc(path, line),
                        hint="build once without --locked, then `landscape lock PROJECT "
                        "--from-images`")
    want = lock["bases"][spec.base]["fingerprint"]
    base = dk.get_image(spec.base)
    if base is None:
        raise LockError(f"base image {spec.base} is not in the engine (the lock wants "
                        f"{want})", hint="run `landscape base build` or load the locked base")
    have = base_fingerprint(base)
    if have != want:
        raise LockError(f"base {spec.base} has content {have}, the lock names {want}",
                        _loc(path, line), hint="bootstrap or load the locked base "
                        "(`landscape base build --force` from the same mirror state)")
    rez = lock["rez"][spec.rez_version]
    found = _wheel_digest(spec.rez_version, vendor)
    if found is None and vendor is None:  # fetch it now (pip download), then check it
        from .buildcontext import rez_wheel
        from ..vendor import file_sha256

        wheel = rez_wheel(spec.rez_version)
        found = (wheel.name, file_sha256(wheel))
    if found is None or found[1] != rez["sha256"]:
        what = f"{found[0]} has sha256 {found[1]}" if found else "is not in the vendor folder"
        raise LockError(f"the rez {spec.rez_version} wheel {what}; the lock names "
                        f"{rez['sha256']}", _loc(path, _line_of(lock.get("_text", ""), "rez",
                                                                   spec.rez_version)))
    return BuildOptions(pins=dict(entry["os_packages"]), vendor=vendor,
                        ca_certificates=ca_certificates, apt_mirror=apt_mirror)


def check_built(image: Any, lock: dict, spec: ImageSpec) -> str | None:
    """Why an existing ``image`` of ``spec`` does not hold what the lock pins (its OS
    packages beyond the base differ), or ``None`` when it does."""
    base = dk.get_image(spec.base)
    want = lock["images"][spec.key]["os_packages"] or {}
    have = added_packages(image, base) if base is not None else {}
    if have == want:
        return None
    diff = sorted(f"{n} {have.get(n, '(none)')} → {want.get(n, '(none)')}"
                  for n in set(have) | set(want) if have.get(n) != want.get(n))
    return "holds other OS package versions than the lock: " + ", ".join(diff[:5])


def _loc(path: Path, line: int) -> Any:
    from ..errors import Location

    return Location(str(path), line, 1)


def vendor(lock: dict, folder: Path, specs: dict[str, ImageSpec], *, log: Log = print
           ) -> dict:
    """Download every locked OS package (``apt-get download name=version`` in a container
    of each locked base, which has the mirror's sources) and copy the rez wheel into
    ``folder``, then write its index (:mod:`landscape.vendor`). Files already vendored with
    the right digest are kept. Only the images of ``specs`` (the project's plan, key →
    spec) and their bases are used: an entry added to the lock by hand never names an image
    to run. Returns ``{"debs": n, "wheels": n, "folder"}``. Raises
    :class:`LockError` for an incomplete lock and :class:`EngineError` when a download
    fails (a version the mirror no longer serves is named)."""
    from .. import grammar
    from ..vendor import INDEX, file_sha256, read_index

    gaps = missing_observations(lock, set(specs))
    if gaps:
        raise LockError("the lock is incomplete: " + "; ".join(gaps),
                        hint="build, then `landscape lock PROJECT --from-images`")
    images = {k: dict(lock["images"][k], base=spec.base) for k, spec in specs.items()}
    bases = sorted({spec.base for spec in specs.values()})
    versions = sorted({spec.rez_version for spec in specs.values()})
    folder = Path(folder).absolute()
    (folder / "debs").mkdir(parents=True, exist_ok=True)
    (folder / "wheels").mkdir(exist_ok=True)
    index = read_index(folder)
    by_base: dict[str, set[str]] = {}
    for im in images.values():
        for name, version in (im["os_packages"] or {}).items():
            if not (grammar.is_debian_package(name) and grammar.is_debian_version(version)):
                raise LockError(f"the lock's OS package {name}={version} is not a Debian "
                                "name=version pair")
            if f"{name}={version}" not in index["debs"]:
                by_base.setdefault(im["base"], set()).add(f"{name}={version}")
    uid, gid = os.getuid(), os.getgid()
    for base, wanted in sorted(by_base.items()):
        log(f"downloading {len(wanted)} .deb files with {base}'s apt sources")
        script = ('set -e; apt-get update -qq; cd /out; '
                  'apt-get download -qq "$@" || { echo "landscape: not downloadable: $*" >&2; '
                  'exit 100; }; chown "$LANDSCAPE_UID:$LANDSCAPE_GID" /out/*.deb')
        _run(base, ["sh", "-c", script, "vendor", *sorted(wanted)], user="0:0",
             volumes={str(folder / "debs"): {"bind": "/out", "mode": "rw"}},
             environment={"LANDSCAPE_UID": str(uid), "LANDSCAPE_GID": str(gid)},
             cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"])
    # Index only the files apt-get download names NAME_VERSION_ARCH.deb (':' as %3a) for a
    # locked pin, regular files only, each confirmed by its own control fields.
    wanted_all = {f"{n}={v}" for im in images.values()
                  for n, v in (im["os_packages"] or {}).items()}
    candidates: dict[str, str] = {}
    for pin in sorted(wanted_all):
        name, _, version = pin.partition("=")
        prefix = f"{name}_{version.replace(':', '%3a')}_"
        for f in sorted((folder / "debs").glob(f"{glob_escape(prefix)}*.deb")):
            if f.is_file() and not f.is_symlink():
                candidates[f.name] = pin
    if candidates and bases:
        base = bases[0]
        names = sorted(candidates)
        text = _run(base, ["sh", "-c", 'cd /out; for f in "$@"; do printf "%s\\t%s\\n" '
                           '"$f" "$(dpkg-deb -f "$f" Package)=$(dpkg-deb -f "$f" Version)"; '
                           'done', "index", *names], network_disabled=True, user="0:0",
                    volumes={str(folder / "debs"): {"bind": "/out", "mode": "ro"}})
        for line in text.splitlines():
            fname, _, pin = line.partition("\t")
            if candidates.get(fname) == pin:
                index["debs"][pin] = {"file": fname,
                                      "sha256": file_sha256(folder / "debs" / fname)}
    for version in versions:
        from .buildcontext import rez_wheel

        entry = lock["rez"][version]
        wheel = rez_wheel(version, log)
        digest = file_sha256(wheel)
        if entry.get("sha256") and digest != entry["sha256"]:
            raise LockError(f"the rez {version} wheel {wheel.name} has sha256 {digest}, the "
                            f"lock names {entry['sha256']}")
        shutil.copyfile(wheel, folder / "wheels" / wheel.name)
        index["wheels"][wheel.name] = digest
    atomic_write(folder / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")
    return {"folder": str(folder), "debs": len(index["debs"]), "wheels": len(index["wheels"])}
