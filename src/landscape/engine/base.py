"""Bootstrapping a base OS image from distribution packages (``landscape base build``).

For studios whose machines cannot pull from a registry: the recipe under ``images/``
(``bookworm.yaml``) names a Debian suite, variant, mirror and extra packages; Landscape runs
``debootstrap`` into a temporary folder, prunes caches, packs the root filesystem into a tar
stream sorted by name with numeric owners, and hands it to ``docker import`` (Docker SDK
``APIClient.import_image``) with the recipe's ``ENV`` and labels.

``docker import`` of the same tree twice gives two image ids and debootstrap output is not
byte-reproducible, so the image carries a content
fingerprint: the sha256 of the tar stream, as label ``io.landscape.base.fingerprint``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from ..errors import EngineError, LandscapeError
from ..resources import data_dir
from . import docker as dk

Log = Callable[[str], None]
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass
class BaseRecipe:
    """A base image recipe (``images/<suite>.yaml``)."""

    image: str
    suite: str
    variant: str
    components: list[str]
    mirror: str | None
    include: list[str]
    env: dict[str, str]
    prune: list[str]
    path: Path


def load_recipe(suite: str = "bookworm") -> BaseRecipe:
    """The recipe ``images/<suite>.yaml``. Raises :class:`LandscapeError` when absent."""
    path = data_dir("images") / f"{suite}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in data_dir("images").glob("*.yaml"))
        raise LandscapeError(f"no base image recipe for suite {suite!r}",
                             hint="recipes: " + ", ".join(known))
    data = yaml.safe_load(path.read_text()) or {}
    return BaseRecipe(
        image=data.get("image", f"landscape/base:{suite}"), suite=data.get("suite", suite),
        variant=data.get("variant", "minbase"), components=list(data.get("components", ["main"])),
        mirror=data.get("mirror"), include=list(data.get("include", [])),
        env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        prune=list(data.get("prune", [])), path=path)


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 ``URIs:`` or ``sources.list``) when the
    host runs Debian, else ``http://deb.debian.org/debian``."""
    try:
        debian = "ID=debian" in Path("/etc/os-release").read_text()
    except OSError:
        debian = False
    if not debian:
        return DEFAULT_MIRROR
    candidates = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + \
        ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for f in candidates:
        try:
            text = Path(f).read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:URIs:\s*(\S+)|deb\s+(?:\[[^\]]*\]\s+)?(\S+))", text, re.M):
            uri = m.group(1) or m.group(2)
            if uri.startswith("http") and "security" not in uri:
                return uri
    return DEFAULT_MIRROR


def _ensure_debootstrap(log: Log) -> str:
    exe = shutil.which("debootstrap")
    if exe:
        return exe
    if os.geteuid() != 0:
        raise LandscapeError("debootstrap is not installed",
                             hint="install it: sudo apt-get install debootstrap")
    log("installing debootstrap (apt-get install debootstrap)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise LandscapeError("could not install debootstrap: " + r.stderr.strip()[-400:])
    exe = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    return exe


def _run_logged(cmd: list[str], log: Log) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if line.startswith(("I: Retrieving", "I: Validating")):
            continue  # hundreds of these; the rest tell the story
        log(line)
    if proc.wait() != 0:
        raise EngineError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}):\n" +
                          "\n".join(tail))


def _prune(rootfs: Path, patterns: list[str]) -> None:
    for pattern in patterns:
        for p in glob.glob(str(rootfs / pattern)):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except OSError:
                    pass


def _pack(rootfs: Path, out: Path) -> str:
    """Tar ``rootfs`` into ``out`` (sorted names, numeric owners); return its sha256."""
    cmd = ["tar", "--sort=name", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf",
           str(out), "."]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise EngineError("tar of the root filesystem failed: " + r.stderr.strip()[-400:])
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_base(suite: str = "bookworm", *, mirror: str | None = None, force: bool = False,
               log: Log = print) -> dict:
    """Bootstrap the recipe's base image unless the engine already has it (``force`` rebuilds).

    Returns ``{"image", "id", "fingerprint", "seconds", "built"}``. Needs root (debootstrap
    creates device nodes and chowns files). Raises :class:`LandscapeError` /
    :class:`EngineError` with the failing step's output.
    """
    recipe = load_recipe(suite)
    existing = dk.get_image(recipe.image)
    if existing is not None and not force:
        return {"image": recipe.image, "id": existing.id, "built": False, "seconds": 0.0,
                "fingerprint": (existing.labels or {}).get("io.landscape.base.fingerprint")}
    if os.geteuid() != 0:
        raise LandscapeError("landscape base build needs root to run debootstrap",
                             hint="run it with sudo, or set image.base to an image of your registry")
    exe = _ensure_debootstrap(log)
    mirror = mirror or recipe.mirror or host_mirror()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="landscape-base-"))
    try:
        rootfs = work / "rootfs"
        cmd = [exe, f"--variant={recipe.variant}", "--components=" + ",".join(recipe.components)]
        if recipe.include:
            cmd.append("--include=" + ",".join(recipe.include))
        cmd += [recipe.suite, str(rootfs), mirror]
        log(f"debootstrap {recipe.suite} ({recipe.variant}) from {mirror}")
        _run_logged(cmd, log)
        _prune(rootfs, recipe.prune)
        log("packing the root filesystem")
        tarball = work / "rootfs.tar"
        fingerprint = _pack(rootfs, tarball)
        repo, _, tag = recipe.image.rpartition(":")
        changes = [f"ENV {k}={v}" for k, v in recipe.env.items()]
        changes += [
            'CMD ["/bin/bash"]',
            f"LABEL io.landscape.base.fingerprint=sha256:{fingerprint}",
            f"LABEL io.landscape.base.recipe={recipe.path.name}",
            f"LABEL io.landscape.base.mirror={mirror}",
            f"LABEL org.opencontainers.image.title={recipe.image}",
            f"LABEL org.opencontainers.image.base.name=debian:{recipe.suite}",
        ]
        log(f"docker import → {recipe.image}")
        api = dk.client().api
        api.import_image(src=str(tarball), repository=repo, tag=tag, changes=changes)
        image = dk.client().images.get(recipe.image)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"image": recipe.image, "id": image.id, "built": True,
            "fingerprint": f"sha256:{fingerprint}",
            "seconds": round(time.monotonic() - started, 1)}


