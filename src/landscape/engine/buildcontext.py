"""What a build sends to the engine: build options, build arguments and the build context.

The build context of an image (:func:`prepare_build_context`) is a private folder of small
files — the Dockerfile (:func:`landscape.recipe.render_dockerfile`), the rez wheel, the fetch
stage's script, vendored ``.deb`` files, a studio CA, the image's own files — plus the package
payloads, which are never copied: :meth:`BuildContext.chunks` streams one tar of both to the
engine, each package read from its repository under ``packages/<layer>/landscape/packages/
<name>/<version>/`` (``COPY packages/<layer>/ /``: one layer per package, in the order of
:meth:`landscape.imagekey.ImageSpec.layers`). Every member of that tar has owner root, mtime 0
and mode 0755 or 0644 by its owner-executable bit (docs/locking.md, "Package layers"): the
same package content gives the same layer bytes, hence the same layer digest, from any
checkout of its repository. Of a package whose payload is mounted at launch instead
(``delivery: mount``), only the definition files are sent (:func:`definitions_only`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..digest import DEFINITION_FILES, ignored
from ..errors import ErrorGroup, LandscapeError
from ..imagekey import ImageSpec
from ..plan import package_conflicts
from ..recipe import render_dockerfile, tools_json
from ..resources import cache_dir, data_dir
from ..names import ARG_APT_MIRROR, ARG_LOCKED, ARG_OS_PACKAGES

Log = Callable[[str], None]
#: A package name or version as it may appear as a folder of the build context.
_PATH_TOKEN = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]*")
_CHUNK = 1 << 20


@dataclass
class BuildOptions:
    """How a build gets what is outside the image key.

    ``pins``: ``{OS package: version}`` from ``landscape.lock`` — every package the image
    adds over its base — installed at exactly those versions (``None``: unlocked, apt's
    current versions of :attr:`ImageSpec.system_packages`). ``vendor``: a folder written by
    ``landscape vendor`` whose ``.deb`` files are used instead of a mirror (the build then
    runs with no network). ``ca_certificates``: a CA file trusted by the fetch stage only.
    ``apt_mirror``: an apt mirror/cache URL for the fetch stage. ``cache_from``: images the
    engine may take layers from. ``studio``: :func:`studio_id` of the studio building it,
    written as label ``io.landscape.studio`` (``prune`` only touches its own studio's).
    """

    pins: dict[str, str] | None = None
    vendor: Path | None = None
    ca_certificates: str | None = None
    apt_mirror: str | None = None
    cache_from: list[str] | None = None
    studio: str | None = None

    @property
    def offline(self) -> bool:
        return self.vendor is not None


def studio_id(root: Path) -> str:
    """A short, stable name of a studio root on this machine: the first 16 hex digits of the
    sha256 of its real path (label ``io.landscape.studio``)."""
    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]


def build_args(spec: ImageSpec, options: BuildOptions | None = None) -> dict[str, str]:
    """The build arguments of ``spec``'s Dockerfile (handed to the engine as data):
    ``LANDSCAPE_OS_PACKAGES`` (names, or ``name=version`` pins), ``LANDSCAPE_LOCKED`` and
    ``LANDSCAPE_APT_MIRROR``. Every value is checked against Debian's package/version
    grammars or the mirror grammar; raises :class:`LandscapeError` otherwise."""
    from .. import grammar

    options = options or BuildOptions()
    if options.pins is not None:
        bad = [f"{n}={v}" for n, v in options.pins.items()
               if not (grammar.is_debian_package(n) and grammar.is_debian_version(v))]
        if bad:
            raise LandscapeError("the lock's OS packages are not Debian name=version pairs: "
                                 + ", ".join(map(repr, bad[:5])))
        packages = " ".join(f"{n}={options.pins[n]}" for n in sorted(options.pins))
    else:
        spec.validate()
        packages = " ".join(sorted(spec.system_packages))
    if options.apt_mirror is not None and not grammar.is_apt_mirror(options.apt_mirror):
        raise LandscapeError(f"image.apt_mirror {options.apt_mirror!r} is not a mirror URL")
    return {ARG_OS_PACKAGES: packages,
            ARG_LOCKED: "1" if options.pins is not None else "0",
            ARG_APT_MIRROR: options.apt_mirror or ""}


def local_rez_wheel(version: str) -> Path | None:
    """The wheel of rez ``version`` in ``$LANDSCAPE_WHEELHOUSE`` (``:``-separated folders)
    or the user cache, without downloading; ``None`` when there is none."""
    dirs = [Path(p) for p in os.environ.get("LANDSCAPE_WHEELHOUSE", "").split(":") if p]
    for d in dirs + [cache_dir() / "wheels"]:
        found = sorted(d.glob(f"rez-{version}-*.whl")) if d.is_dir() else []
        if found:
            return found[0]
    return None


def rez_wheel(version: str, log: Callable[[str], None] = print) -> Path:
    """The wheel of rez ``version``: from ``$LANDSCAPE_WHEELHOUSE`` or the cache, else
    downloaded once with ``pip download`` (the host's pip config: index, proxy, CA bundle).
    Raises :class:`LandscapeError` telling where to put the wheel on an air-gapped host."""
    found = local_rez_wheel(version)
    if found is not None:
        return found
    cache = cache_dir() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    log(f"downloading the rez {version} wheel into {cache}")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                        ":all:", "-d", str(cache), f"rez=={version}"], capture_output=True,
                       text=True)
    found = sorted(cache.glob(f"rez-{version}-*.whl"))
    if r.returncode != 0 or not found:
        raise LandscapeError(
            f"no wheel of rez {version}: pip download failed ({r.stderr.strip()[-300:]})",
            hint=f"put rez-{version}-py3-none-any.whl in $LANDSCAPE_WHEELHOUSE or {cache}")
    return found[0]


@dataclass
class BuildContext:
    """The build context of one image (see the module doc).

    ``folder``: the private folder of small files (Dockerfile, ``rez/``, ``fetch/``,
    ``landscape/``), removed by :meth:`remove`. ``payloads``: ``[(path in the context,
    package folder on the host)]``, in layer order, read only when :meth:`chunks` runs.
    ``definitions_only``: the paths in the context of the packages whose payload is mounted
    at launch (``delivery: mount``): of those, only the definition files
    (:data:`~landscape.digest.DEFINITION_FILES`) are sent."""

    folder: Path
    payloads: list[tuple[str, str]] = field(default_factory=list)
    definitions_only: set[str] = field(default_factory=set)

    def members(self) -> Iterator[tuple[str, str | None]]:
        """``(name in the tar, host path)`` of every member, parents before children, in
        a fixed order: the folder's files sorted, then each payload; ``None`` is a folder
        that exists only in the tar (a payload's parents)."""
        yield from _walk(str(self.folder), "")
        seen: set[str] = set()
        for arcname, source in self.payloads:
            parts = arcname.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent not in seen:
                    seen.add(parent)
                    yield parent, None
            if os.path.islink(source) or os.path.realpath(source) != source:
                raise LandscapeError(f"{source} became a link after it was checked: "
                                     "not copied into the image")
            if arcname in self.definitions_only:
                yield arcname, None
                for name in DEFINITION_FILES:
                    if os.path.lexists(os.path.join(source, name)):
                        yield f"{arcname}/{name}", os.path.join(source, name)
            elif os.path.isdir(source):
                yield from _walk(source, arcname)
            else:  # a single-file family: the family file itself
                yield arcname, source

    def names(self) -> list[str]:
        """The member names of the tar :meth:`chunks` streams (e.g. for tests)."""
        return [name for name, path in self.members() if _tarinfo(name, path) is not None]

    def chunks(self) -> Iterator[bytes]:
        """The build context as an uncompressed tar (PAX headers from :mod:`tarfile`), in
        pieces of about 1 MiB — a body the Docker SDK streams to the engine
        (``APIClient.build(fileobj=…, custom_context=True)``) without a copy on disk.
        Owner ``0:0``, mtime 0, mode 0755 for folders and owner-executable files, 0644 for
        other files; symlinks kept as links; :func:`~landscape.digest.ignored` entries
        and anything but files, folders and symlinks left out. A file that shrinks while it
        is read is padded with zero bytes, one that grows is cut at its size when listed.
        Raises :class:`LandscapeError` naming a file that cannot be read."""
        buf = bytearray()
        for name, path in self.members():
            info = _tarinfo(name, path)
            if info is None:
                continue
            buf += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if info.isreg():
                assert path is not None
                try:
                    with open(path, "rb") as f:
                        left = info.size
                        while left:
                            piece = f.read(min(left, _CHUNK)) or bytes(min(left, _CHUNK))
                            left -= len(piece)
                            buf += piece
                            if len(buf) >= _CHUNK:
                                yield bytes(buf)
                                buf.clear()
                except OSError as e:
                    raise LandscapeError(f"cannot read {path} for the image: "
                                         f"{e.strerror or e}") from None
                buf += bytes(-info.size % tarfile.BLOCKSIZE)
            if len(buf) >= _CHUNK:
                yield bytes(buf)
                buf.clear()
        buf += bytes(2 * tarfile.BLOCKSIZE)  # the end-of-archive marker
        yield bytes(buf)

    def remove(self) -> None:
        """Delete :attr:`folder` (the payloads are the repositories' own: never touched)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _walk(root: str, prefix: str) -> Iterator[tuple[str, str | None]]:
    """``(name in the tar, host path)`` below ``root`` (``root`` itself, followed if it is a
    symlink, as a folder named ``prefix`` when that is not empty), sorted, top-down;
    symlinked folders below it are listed as links, not entered."""
    if prefix:
        yield prefix, None
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        base = prefix if rel == "." else (f"{prefix}/{rel}" if prefix else rel)
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        for name in sorted([f for f in filenames if not ignored(f)] + dirnames):
            yield (f"{base}/{name}" if base else name), os.path.join(dirpath, name)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def _tarinfo(name: str, path: str | None) -> tarfile.TarInfo | None:
    """The normalised tar header of ``path`` as ``name`` (see :meth:`BuildContext.chunks`),
    or ``None`` for what is left out (sockets, devices, fifos, vanished files)."""
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if path is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        return info
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        elif stat.S_ISREG(st.st_mode):
            info.type, info.size = tarfile.REGTYPE, st.st_size
            info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
        else:
            return None
    except FileNotFoundError:
        return None
    return info


def package_payloads(spec: ImageSpec) -> list[tuple[str, str]]:
    """``[(path in the build context, package folder or file)]`` of ``spec``'s package
    layers: ``packages/<layer>/landscape/packages/<layout>``, where the layout is the
    package's place in its repository (:attr:`~landscape.rezsolve.ResolvedPackage.layout`:
    ``<name>/<version>``, ``<name>`` unversioned, ``<name>.py`` for a single-file family,
    copied once however many of its versions the image holds), each from its real path.
    Raises :class:`LandscapeError` for a name that is not a plain folder or file name (rez
    allows none such; a hostile repository could try), or a package folder or file whose
    real path lies outside its repository."""
    out = []
    seen: set[str] = set()
    for i, layer in enumerate(spec.layers()):
        for p in layer:
            # each part checked on its own: a name holding "/" never becomes two folders
            folder = [p.layout] if p.single_file else \
                ([p.name, p.version] if p.version else [p.name])
            for token in folder:
                if not _PATH_TOKEN.fullmatch(token):
                    raise LandscapeError(f"package {p.qualified!r} of {p.repository}: "
                                         f"{token!r} cannot name a folder of the image")
            if p.layout in seen:
                continue
            seen.add(p.layout)
            # streamed from its real path, which must lie in its repository: a version
            # folder swapped for a link after the resolve cannot bring other files along
            source = os.path.realpath(p.base)
            repo = os.path.realpath(p.repository)
            if source != repo and not source.startswith(repo.rstrip("/") + "/"):
                raise LandscapeError(f"package {p.qualified!r}: {p.base} leads to {source}, "
                                     f"outside its repository {p.repository}: not copied")
            out.append(("/".join([f"packages/{i}/landscape/packages"] + folder), source))
    return out


def definitions_only(spec: ImageSpec, payloads: list[tuple[str, str]]) -> set[str]:
    """The paths in the build context (of :func:`package_payloads`) of the packages whose
    payload ``spec`` mounts at launch: only their definition files go into the image."""
    mounted = {"/".join([p.name, p.version] if p.version else [p.name])
               for p in spec.packages if spec.is_mounted(p)}
    return {arc for arc, _source in payloads
            if arc.split("/landscape/packages/", 1)[-1] in mounted}


def prepare_build_context(spec: ImageSpec, log: Log = print,
                          options: BuildOptions | None = None) -> BuildContext:
    """The build context of ``spec``: a folder of its own (private to this build, under
    the user cache: concurrent builds never share one) and the package payloads; the
    caller calls :meth:`BuildContext.remove`. Folder contents::

        Dockerfile
        rez/rez-<version>-*.whl
        landscape/tools.json                 {tool path: exact requests}
        landscape/lib/bake.py, landscape/bin/landscape-enter
        fetch/fetch-os-packages              the fetch stage's script
        fetch/debs/*.deb                     the pinned .deb files, from ``options.vendor``
        fetch/ca.crt                         ``options.ca_certificates``, fetch stage only

    and, streamed from the repositories, ``packages/<layer>/landscape/packages/<name>/
    <version>/…`` (:func:`package_payloads`; of a package whose payload is mounted at launch,
    its definition files only: :func:`definitions_only`).

    Raises :class:`LandscapeError` when a package would come from two repositories
    (:func:`landscape.plan.package_conflicts`), or a pinned ``.deb`` is not in the vendored
    folder, or the CA file cannot be read.
    """
    options = options or BuildOptions()
    ErrorGroup.raise_if_any(package_conflicts(spec))
    payloads = package_payloads(spec)
    (cache_dir() / "build").mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix=f"{spec.short}-", dir=cache_dir() / "build"))
    try:
        _fill_build_context(dest, spec, options, log)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return BuildContext(dest, payloads, definitions_only(spec, payloads))


def _fill_build_context(dest: Path, spec: ImageSpec, options: BuildOptions,
                        log: Callable[[str], None]) -> None:
    from ..vendor import vendored_debs, vendored_wheel

    (dest / "rez").mkdir(parents=True)
    if options.vendor is not None:
        wheel = vendored_wheel(options.vendor, spec.rez_version)
        if wheel is None:
            raise LandscapeError(f"vendor folder {options.vendor} has no rez {spec.rez_version} "
                                 "wheel", hint="run `landscape vendor PROJECT DIR` again")
    else:
        wheel = rez_wheel(spec.rez_version, log)
    shutil.copy2(wheel, dest / "rez" / wheel.name)
    fetch = dest / "fetch"
    (fetch / "debs").mkdir(parents=True)
    shutil.copy2(data_dir("templates") / "image" / "fetch-os-packages", fetch)
    if options.vendor is not None:
        for pin, deb in vendored_debs(options.vendor, options.pins or {}):
            shutil.copyfile(deb, fetch / "debs" / f"{pin}.deb")  # named by its pin
    if options.ca_certificates:
        try:
            shutil.copyfile(options.ca_certificates, fetch / "ca.crt")
        except OSError as e:
            raise LandscapeError(f"image.ca_certificates: cannot read "
                                 f"{options.ca_certificates}: {e.strerror}") from None
    own = dest / "landscape"
    (own / "lib").mkdir(parents=True)
    (own / "bin").mkdir()
    image_files = data_dir("templates") / "image"
    shutil.copy2(image_files / "bake.py", own / "lib" / "bake.py")
    shutil.copy2(image_files / "landscape-enter", own / "bin" / "landscape-enter")
    (own / "tools.json").write_text(tools_json(spec))
    (dest / "Dockerfile").write_text(render_dockerfile(spec))

