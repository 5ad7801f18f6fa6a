#!/usr/bin/env python3
"""Build and launch timings against a real Docker engine; prints figures, asserts nothing.

    python benchmarks/launch.py [-n N]

Needs the example's images (run ./quickstart first). Measures, as whole processes:
- `landscape build examples/studio/projects/lighthouse` when every image exists (no-op);
- `landscape launch sh010 --tool python -- -c pass` against
  `docker run --rm <the same image> python -c pass` (rez's python package puts `python` on
  PATH through the launch environment; plain `docker run` gets the image's PATH, so it runs
  `python3`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "examples/studio/projects/lighthouse"
SHOT = PROJECT / "seq010/sh010"


def median_run(cmd: list[str], n: int) -> tuple[float, float]:
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=7)
    args = ap.parse_args()
    exe = [sys.executable, "-m", "landscape"]
    tag = json.loads(subprocess.run([*exe, "resolve", str(SHOT), "--json"], check=True,
                                    capture_output=True, text=True).stdout)["image"]["tag"]
    rows = [
        ("landscape build PROJECT (no-op)", [*exe, "build", str(PROJECT)]),
        ("landscape launch SHOT --tool python -- -c pass",
         [*exe, "launch", str(SHOT), "--tool", "python", "--", "-c", "pass"]),
        (f"docker run --rm {tag} python3 -c pass", ["docker", "run", "--rm", tag, "python3",
                                                   "-c", "pass"]),
        ("landscape resolve SHOT --tool python --json",
         [*exe, "resolve", str(SHOT), "--tool", "python", "--json"]),
    ]
    for label, cmd in rows:
        med, low = median_run(cmd, args.n)
        print(f"{label:<60} {med * 1000:7.0f} ms median, {low * 1000:7.0f} ms min (n={args.n})")


if __name__ == "__main__":
    main()
