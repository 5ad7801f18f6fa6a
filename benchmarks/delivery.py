#!/usr/bin/env python3
"""A big package baked into its image or mounted at launch (``delivery: mount``); prints
figures, asserts nothing.

    python benchmarks/delivery.py [--mb 1024] [-n 5]

Needs the base image (`landscape base build`) and the rez wheel in the cache (any earlier
build). In a temporary folder it writes two studios that differ only in the root's
``delivery``: each has a package ``bigdcc`` holding one random (incompressible) file of
``--mb`` MiB (written with benchmarks/layers.py's helpers) and a ``py`` tool (``python3``).
For each studio it then:

1. builds the project's image (`landscape build`, a whole process: resolving digests the
   baked payload for the image key, the build streams it to the engine) and, for the
   mounted one, writes the lock (`landscape lock`: the payload's digest, read once and kept
   in the digest cache);
2. prints the image's size, the bytes of its layers above the base, and how much the
   engine's image storage grew (`docker system df`'s "Images" size: the Engine API's
   ``/system/df`` ``LayersSize``; another session's builds on the same engine would show
   here too);
3. times N cold launches ``landscape launch PROJECT --tool py -- -c pass`` (whole processes,
   a fresh container each, without the launch agent), baked and mounted alternating after
   one of each to warm the caches, and prints the median and the range;
4. times one launch of each with an empty cache (another ``LANDSCAPE_CACHE_DIR``: another
   user's first launch), which resolves afresh — reading the baked payload for the image
   key, or the mounted one to check it against the lock.

Every image it built (by its label) and the temporary folder are removed. Builds and
launches use a private cache folder (the rez wheel is linked from the user's cache).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from launch import LANDSCAPE, NO_AGENT, REPO, once  # noqa: E402
from layers import disk_bytes, write_package, write_payload  # noqa: E402

LABEL = "org.example.landscape-bench"
ROOT = """root: true
name: {kind}
rez: {{version: "3.4.0", packages_path: [packages]}}
{delivery}
packages: [python-3.11, bigdcc]
storage: [{{source: projects}}]
image: {{labels: {{{label}: {run}}}}}
tools: {{py: {{command: [python3]}}}}
"""


def make_studio(tmp: Path, kind: str, mb: int, run: str) -> Path:
    """A studio at ``tmp/kind`` whose ``bigdcc-1.0`` holds ``mb`` MiB, mounted when ``kind``
    is ``mounted``; returns its project folder."""
    studio = tmp / kind
    repo = studio / "packages"
    write_package(repo, "python", "3.11")
    big = write_package(repo, "bigdcc", "1.0")
    (big / "package.py").write_text((big / "package.py").read_text() +
                                    "def commands():\n    env.BIGDCC_ROOT = '{root}'\n")
    write_payload(big / "payload.bin", mb)
    delivery = "delivery: {packages: {bigdcc: mount}}" if kind == "mounted" else ""
    (studio / "landscape.yaml").write_text(ROOT.format(kind=kind, delivery=delivery,
                                                       label=LABEL, run=f"{run}-{kind}"))
    project = studio / "projects/bench"
    project.mkdir(parents=True)
    (project / "landscape.yaml").write_text("level: project\n")
    return project


def layers_size(client) -> int:
    """What `docker system df` counts as the size of all images (Engine API ``/system/df``)."""
    return int(client.df()["LayersSize"])


def timed(cmd: list[str], env: dict) -> float:
    """Seconds ``cmd`` took (:func:`launch.once`); its stderr, and an exit, when it fails."""
    try:
        return once(cmd, env)
    except subprocess.CalledProcessError as e:
        sys.exit(f"{' '.join(cmd)} failed:\n{e.stderr.decode(errors='replace')}")


def launch_cmd(project: Path) -> list[str]:
    return [*LANDSCAPE, "launch", str(project), "--tool", "py", "--", "-c", "pass"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=1024, help="size of the big payload (MiB)")
    ap.add_argument("-n", type=int, default=5, help="launches of each kind (median)")
    args = ap.parse_args()
    import docker

    client = docker.from_env(timeout=1800)
    base = client.images.get("landscape/base:bookworm")
    base_layers = len(base.attrs["RootFS"]["Layers"])
    free = shutil.disk_usage(client.info()["DockerRootDir"]).free
    if free < args.mb * (1 << 20) * 4:
        sys.exit(f"{free / 1e9:.0f} GB free for Docker: not enough for --mb {args.mb}")
    run = f"delivery-{os.getpid()}-{int(time.time())}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # clean up on kill
    tmp = Path(tempfile.mkdtemp(prefix="landscape-bench-delivery-"))
    cache = tmp / "cache"
    cache.mkdir()
    wheels = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "landscape/wheels"
    if wheels.is_dir():
        (cache / "wheels").symlink_to(wheels)
    env = {**NO_AGENT, "LANDSCAPE_CACHE_DIR": str(cache)}
    try:
        projects = {kind: make_studio(tmp, kind, args.mb, run) for kind in ("baked", "mounted")}
        print(f"payload {args.mb} MiB in bigdcc-1.0; {args.n} launches of each kind\n")
        for kind, project in projects.items():
            before = layers_size(client)
            seconds = timed([*LANDSCAPE, "build", str(project)], env)
            grown = layers_size(client) - before
            [image] = client.images.list(filters={"label": f"{LABEL}={run}-{kind}"})
            above, _ = disk_bytes(client, [image.id], base_layers)
            print(f"{kind:>7}: built in {seconds:6.1f} s; image {image.attrs['Size'] / 1e6:8.1f} MB"
                  f" ({above / 1e6:8.1f} MB above the base); `docker system df` images "
                  f"+{grown / 1e6:,.1f} MB")
            if kind == "mounted":
                seconds = timed([*LANDSCAPE, "lock", str(project)], env)
                print(f"{'':>7}  landscape lock (digests the payload once): {seconds:.1f} s")
        ids = [im.id for im in client.images.list(filters={"label": LABEL})
               if (im.labels or {}).get(LABEL, "").startswith(run)]
        together, _ = disk_bytes(client, ids, base_layers)
        print(f"   both: {together / 1e6:,.1f} MB above the base on disk (their rez and python "
              "layers are shared)")
        times: dict[str, list[float]] = {k: [] for k in projects}
        for project in projects.values():
            timed(launch_cmd(project), env)  # warm: resolve cache, digest cache, page cache
        for _ in range(args.n):
            for kind, project in projects.items():
                times[kind].append(timed(launch_cmd(project), env))
        print()
        for kind, values in times.items():
            print(f"{kind:>7}: cold launch median {statistics.median(values) * 1000:6.0f} ms "
                  f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})")
        for kind, project in projects.items():
            other = tmp / f"cache-{kind}"
            other.mkdir()
            seconds = timed(launch_cmd(project), {**env, "LANDSCAPE_CACHE_DIR": str(other)})
            print(f"{kind:>7}: launch with an empty cache (another user's first): "
                  f"{seconds:.1f} s")
    finally:
        for image in client.images.list(filters={"label": LABEL}):
            if (image.labels or {}).get(LABEL, "").startswith(run):
                client.images.remove(image.id, force=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
