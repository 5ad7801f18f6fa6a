"""Bootstrapping a base OS image from distribution packages (``landscape base build``).

For studios whose machines cannot pull from a registry: the recipe under ``images/``
(``bookworm.yaml``) names a Debian suite, variant, mirror, extra packages and a
``source_date_epoch``; Landscape runs ``mmdebstrap`` with ``SOURCE_DATE_EPOCH`` set, which
writes a reproducible tarball of the root filesystem (same mirror state → byte-identical
tar), and hands it to ``docker import`` (Docker SDK ``APIClient.import_image``) with the
recipe's ``ENV`` and labels.

Two imports of the same tarball get two image ids (the created time differs) but the same
layer: the image's ``RootFS.Layers[0]`` diff id is the sha256 of the tar. That diff id is the
base's **content fingerprint** (:func:`base_fingerprint`), recorded in ``landscape.lock`` and
checked by ``build --locked``; it is also written as label ``io.landscape.base.fingerprint``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import EngineError, LandscapeError
from ..resources import data_dir
from ..vendor import file_sha256
from . import docker as dk
from ..names import LABEL_BASE_FINGERPRINT

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
    source_date_epoch: int = 0


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
        prune=list(data.get("prune", [])), path=path,
        source_date_epoch=int(data.get("source_date_epoch", 0)))


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


def _ensure_tool(name: str, log: Log) -> str:
    """The path of the Debian tool ``name`` (``mmdebstrap``), installed with apt when
    missing and running as root. Raises :class:`LandscapeError` saying how to install it."""
    exe = shutil.which(name)
    if exe:
        return exe
    if os.geteuid() != 0:
        raise LandscapeError(f"{name} is not installed",
                             hint=f"install it: sudo apt-get install {name}")
    log(f"installing {name} (apt-get install {name})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", name]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise LandscapeError(f"could not install {name}: " + r.stderr.strip()[-400:])
    return shutil.which(name) or f"/usr/bin/{name}"


def _run_logged(cmd: list[str], log: Log, env: dict | None = None) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = dk.strip_ansi(line).rstrip()
        tail = (tail + [line])[-20:]
        if line.startswith(("I: Retrieving", "I: Validating")):
            continue  # hundreds of these; the rest tell the story
        log(line)
    if proc.wait() != 0:
        raise EngineError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}):\n" +
                          "\n".join(tail))


def base_fingerprint(image: Any) -> str | None:
    """The content fingerprint of a base image (a Docker SDK ``Image``): the diff id of its
    only layer (``RootFS.Layers[0]``, ``sha256:…``) — equal for every import of the same
    root filesystem tar, whatever the image id. ``None`` for an image of several layers that
    carries no ``io.landscape.base.fingerprint`` label (then its id is the best there is)."""
    layers = (image.attrs.get("RootFS") or {}).get("Layers") or []
    if len(layers) == 1:
        return layers[0]
    return (image.labels or {}).get(LABEL_BASE_FINGERPRINT) or image.id


def mmdebstrap_command(recipe: BaseRecipe, mirror: str, out: Path, exe: str = "mmdebstrap"
                       ) -> list[str]:
    """The argv of the bootstrap: ``mmdebstrap --variant … --include … SUITE OUT MIRROR``
    with customize hooks that empty the host-specific ``/etc/hostname`` and
    ``/etc/resolv.conf`` (the engine provides both at run time) and remove the recipe's
    ``prune`` globs. Recipes are Landscape's own data, never studio config."""
    cmd = [exe, f"--variant={recipe.variant}", "--components=" + ",".join(recipe.components),
           "--format=tar", "--customize-hook=: > \"$1/etc/hostname\"",
           "--customize-hook=: > \"$1/etc/resolv.conf\""]
    if recipe.include:
        cmd.append("--include=" + ",".join(recipe.include))
    for pattern in recipe.prune:
        cmd.append(f'--customize-hook=rm -rf "$1"/{pattern}')
    return cmd + [recipe.suite, str(out), mirror]


def _remove_replaced(image_id: str) -> None:
    """Remove the base image a rebuild replaced, unless a container or image still uses it
    (the engine refuses then, and it stays)."""
    from docker.errors import APIError

    try:
        dk.client().images.remove(image_id, noprune=False)
    except APIError:
        pass


def build_base(suite: str = "bookworm", *, mirror: str | None = None, force: bool = False,
               image: str | None = None, log: Log = print) -> dict:
    """Bootstrap the recipe's base image unless the engine already has it (``force`` rebuilds).

    Returns ``{"image", "id", "fingerprint", "seconds", "built"}``; ``fingerprint`` is
    :func:`base_fingerprint`. Needs root (mmdebstrap's root mode creates device nodes and
    chowns files). Raises :class:`LandscapeError` / :class:`EngineError` with the failing
    step's output. ``image`` names the result instead of the recipe's ``image``. The image a
    forced rebuild replaces is removed when nothing else uses it.
    """
    recipe = load_recipe(suite)
    if image is not None:
        recipe.image = image
    existing = dk.get_image(recipe.image)
    if existing is not None and not force:
        return {"image": recipe.image, "id": existing.id, "built": False, "seconds": 0.0,
                "fingerprint": base_fingerprint(existing)}
    if os.geteuid() != 0:
        raise LandscapeError("landscape base build needs root to run mmdebstrap",
                             hint="run it with sudo, or set image.base to an image of your "
                             "registry")
    exe = _ensure_tool("mmdebstrap", log)
    mirror = mirror or recipe.mirror or host_mirror()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="landscape-base-"))
    try:
        tarball = work / "rootfs.tar"
        log(f"mmdebstrap {recipe.suite} ({recipe.variant}) from {mirror}, "
            f"SOURCE_DATE_EPOCH={recipe.source_date_epoch}")
        _run_logged(mmdebstrap_command(recipe, mirror, tarball, exe), log,
                    env=dict(os.environ, SOURCE_DATE_EPOCH=str(recipe.source_date_epoch)))
        fingerprint = "sha256:" + file_sha256(tarball)
        repo, _, tag = recipe.image.rpartition(":")
        changes = [f"ENV {k}={v}" for k, v in recipe.env.items()]
        changes += [
            'CMD ["/bin/bash"]',
            f"LABEL io.landscape.base.fingerprint={fingerprint}",
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
    if existing is not None and existing.id != image.id:
        _remove_replaced(existing.id)
    return {"image": recipe.image, "id": image.id, "built": True,
            "fingerprint": base_fingerprint(image),
            "seconds": round(time.monotonic() - started, 1)}
