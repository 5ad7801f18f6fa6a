#!/usr/bin/env python3
"""How often a big package payload is stored and shipped; prints figures, asserts nothing.

    python benchmarks/layers.py [--mb 1024] [--images 10]

Needs the base image (`landscape base build`), the rez wheel in the cache (any earlier
build) and Debian's `docker-registry`. In a temporary synthetic studio it writes a package
``bigdcc`` holding one random (incompressible) file of ``--mb`` MiB, a small studio
package ``pipeline`` and ``--images`` versions of a small package ``tweak``; each shot
requests one ``tweak`` version, so the images differ in that small package only. Then:

1. builds the images and pushes them to a loopback registry;
2. bumps ``pipeline`` (a new version, every shot takes it), builds and pushes again.

After each step it prints the disk bytes the images hold beyond the base (the sum of the
sizes of their distinct layers, by chain id, as the engine's layer store records them),
the registry's blob storage, how many layers were pushed or found there, and times.
Every image it made (by its label), the registry and the temporary folder are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LABEL = "org.example.landscape-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_registry(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    """``docker-registry serve`` on a free loopback port, storage below ``tmp``."""
    port = free_port()
    storage = tmp / "registry"
    config = tmp / "registry.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"127.0.0.1:{port}", storage


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def write_package(repo: Path, name: str, version: str, requires: list[str] = ()) -> Path:
    d = repo / name / version
    d.mkdir(parents=True)
    (d / "package.py").write_text(f'name = "{name}"\nversion = "{version}"\n'
                                  f"requires = {list(requires)!r}\ntimestamp = 1700000000\n")
    return d


def write_payload(path: Path, mb: int) -> Path:
    """A file of ``mb`` MiB of random (incompressible) bytes at ``path``."""
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    return path


def make_studio(tmp: Path, mb: int, images: int, run: str) -> Path:
    studio = tmp / "studio"
    repo = studio / "packages"
    write_package(repo, "python", "3.11")
    write_payload(write_package(repo, "bigdcc", "1.0") / "payload.bin", mb)
    for v in ("1.0", "1.1"):
        (write_package(repo, "pipeline", v) / "pipeline.py").write_text(f"VERSION = {v!r}\n")
    for i in range(images):
        (write_package(repo, "tweak", str(i + 1)) / "tweak.txt").write_text(f"{i}\n" * 1000)
    (studio / "landscape.yaml").write_text(
        "root: true\nname: Bench\nrez: {version: \"3.4.0\", packages_path: [packages]}\n"
        "packages: [python-3.11, bigdcc, pipeline-1.0]\n"
        f"image: {{labels: {{{LABEL}: {run}}}}}\n"
        "tools: {py: {command: [python3]}}\n")
    project = studio / "projects/bench"
    project.mkdir(parents=True)
    (project / "landscape.yaml").write_text("level: project\nname: Bench\n")
    for i in range(images):
        shot = project / f"sh{i + 1:03d}"
        shot.mkdir()
        (shot / "landscape.yaml").write_text(f"level: shot\npackages: [tweak-{i + 1}]\n")
    return studio


def disk_bytes(client, ids: list[str], base_layers: int) -> tuple[int, int]:
    """(bytes of the distinct layers of ``ids`` above the base, total of each image's own
    layers above the base counted per image) from the layer store's ``size`` files."""
    info = client.info()
    layerdb = Path(info["DockerRootDir"]) / "image" / info["Driver"] / "layerdb" / "sha256"
    distinct: dict[str, int] = {}
    per_image = 0
    for image_id in ids:
        diffs = client.images.get(image_id).attrs["RootFS"]["Layers"]
        chain = ""
        for i, diff in enumerate(diffs):
            chain = diff if i == 0 else "sha256:" + hashlib.sha256(
                f"{chain} {diff}".encode()).hexdigest()
            if i < base_layers:
                continue
            size = int((layerdb / chain.split(":", 1)[1] / "size").read_text())
            distinct[chain] = size
            per_image += size
    return sum(distinct.values()), per_image


def step(title: str, specs, registry: str, storage: Path, client, base_layers: int,
         run: str) -> None:
    from landscape.engine.images import build_image
    from landscape.engine.registry import push_image
    from landscape.errors import EngineError

    before = tree_bytes(storage)
    built = pushed = 0.0
    events: list[str] = []
    for spec in specs:  # each pushed right away: another session's clean-up may remove it
        for attempt in range(3):
            try:
                started = time.monotonic()
                build_image(spec, log=lambda line: None)
                built += time.monotonic() - started
                started = time.monotonic()
                push_image(spec, registry, log=events.append)
                pushed += time.monotonic() - started
                break
            except EngineError as e:
                vanished = "failed to get digest" in str(e) or "not in the Docker" in str(e)
                if not vanished or attempt == 2:
                    raise
                print(f"  (again for {spec.tag}: an image vanished mid-way)")
    states = [e.rsplit(": ", 1)[-1] for e in events if e.startswith("    ")]
    ours = [im.id for im in client.images.list(filters={"label": f"{LABEL}={run}"})]
    distinct, counted = disk_bytes(client, ours, base_layers)
    print(f"{title}: {len(specs)} images built in {built:.1f} s, pushed in {pushed:.1f} s")
    print(f"  disk above the base, the {len(ours)} images present: {distinct / 1e6:,.1f} MB stored "
          f"({counted / 1e6:,.1f} MB if nothing were shared)")
    print(f"  registry blob storage: +{(tree_bytes(storage) - before) / 1e6:,.1f} MB "
          f"(total {tree_bytes(storage) / 1e6:,.1f} MB); layers pushed "
          f"{states.count('Pushed')}, already there {states.count('Layer already exists')}"
          f", mounted {sum(s.startswith('Mounted') for s in states)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024, help="size of the big payload (MiB)")
    ap.add_argument("--images", type=int, default=10)
    args = ap.parse_args()
    import docker

    from landscape.context import resolve

    client = docker.from_env(timeout=1800)
    base = client.images.get("landscape/base:bookworm")
    base_layers = len(base.attrs["RootFS"]["Layers"])
    free = shutil.disk_usage(client.info()["DockerRootDir"]).free
    need = args.mb * (1 << 20) * (4 * args.images + 6)  # old layout: disk and registry
    if free < need:
        sys.exit(f"{free / 1e9:.0f} GB free for Docker: not enough for --mb {args.mb} "
                 f"(needs ~{need / 1e9:.0f} GB); try --mb 300")
    run = f"layers-{os.getpid()}-{int(time.time())}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # clean up on kill
    tmp = Path(tempfile.mkdtemp(prefix="landscape-bench-layers-"))
    proc, registry, storage = serve_registry(tmp)
    try:
        studio = make_studio(tmp, args.mb, args.images, run)
        shots = sorted((studio / "projects/bench").glob("sh*"))
        specs = [resolve(s).image for s in shots]
        print(f"payload {args.mb} MiB in bigdcc, {len(specs)} images "
              f"({len({s.key for s in specs})} distinct keys)")
        step("first build", specs, registry, storage, client, base_layers, run)
        root = studio / "landscape.yaml"
        root.write_text(root.read_text().replace("pipeline-1.0", "pipeline-1.1"))
        specs = [resolve(s).image for s in shots]
        step("pipeline bumped", specs, registry, storage, client, base_layers, run)
    finally:
        proc.terminate()
        proc.wait()
        for image in client.images.list(filters={"label": f"{LABEL}={run}"}):
            client.images.remove(image.id, force=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
