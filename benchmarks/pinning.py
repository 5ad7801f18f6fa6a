#!/usr/bin/env python3
"""Pinned-image timings against a real Docker engine; prints figures, asserts nothing.

    python benchmarks/pinning.py [-n N]

Needs the base image (`landscape base build`), the example's images built and its lock
current (`./quickstart`), and Debian's `docker-registry`. In a temporary copy of the
example studio it measures, as whole processes:

- `landscape plan` against `landscape build --locked` on the built project (nothing to
  build);
- `landscape lock` twice (byte-identical?);
- for one image (shot sh010's): `build --push` to a loopback registry, then with the local
  image removed, `launch … -- -c pass` that pulls it, against `launch` after removing it
  again and rebuilding it with `--no-cache` (an engine that has neither the image nor its
  layers' build cache would be slower still: the base is kept).

Every image tag, the registry and the copy are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXE = [str(Path(sys.executable).with_name("landscape"))]


def timed(cmd: list[str], check: bool = True) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return took


def median(cmd: list[str], n: int) -> float:
    return statistics.median(timed(cmd) for _ in range(n))


def registry(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp / "registry.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"127.0.0.1:{port}"


def rmi(tags: list[str]) -> None:
    for tag in tags:
        subprocess.run(["docker", "rmi", tag], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="landscape-bench-"))
    studio = tmp / "studio"
    shutil.copytree(REPO / "examples/studio", studio, symlinks=True,
                    ignore=shutil.ignore_patterns(".landscape", "work"))
    project = studio / "projects/lighthouse"
    shot = project / "seq010/sh010"
    proc, reg = registry(tmp)
    made: list[str] = []
    try:
        plan = median(EXE + ["plan", str(project)], args.n)
        locked = median(EXE + ["build", str(project), "--locked"], args.n)
        print(f"plan {plan:.2f} s · build --locked, nothing to build {locked:.2f} s "
              f"({locked / plan:.2f}× plan)")
        lock = project / "landscape.lock"
        before = lock.read_bytes()
        timed(EXE + ["lock", str(project)])
        print(f"lock rewritten byte-identical: {lock.read_bytes() == before}")

        root = studio / "landscape.yaml"
        root.write_text(root.read_text().replace("image:\n", f"image:\n  registry: \"{reg}\"\n", 1)
                        if "image:\n" in root.read_text() else
                        root.read_text() + f"\nimage: {{registry: \"{reg}\"}}\n")
        resolved = json.loads(subprocess.run(EXE + ["resolve", str(shot), "--json"],
                                             capture_output=True, text=True).stdout)
        tag = resolved["image"]["tag"]
        push = timed(EXE + ["build", str(shot), "--push", reg])
        made += [tag, f"{reg}/{tag}"]
        print(f"build --push (image present, push only) {push:.1f} s")
        launch = EXE + ["launch", str(shot), "--tool", "python", "--", "-c", "pass"]
        rmi([tag, f"{reg}/{tag}"])
        pulled = timed(launch)
        warm = median(launch, args.n)
        rmi([tag, f"{reg}/{tag}"])
        built = timed(EXE + ["build", str(shot), "--no-cache"]) + timed(launch)
        print(f"pull + launch {pulled:.1f} s · build --no-cache + launch {built:.1f} s "
              f"(ratio {pulled / built:.2f}) · launch with the image present {warm:.2f} s")
    finally:
        proc.terminate()
        proc.wait()
        rmi([t for t in made if "/" in t.split(":")[0] and t.startswith("127.")])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
