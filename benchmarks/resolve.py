#!/usr/bin/env python3
"""Resolve timings on the example studio; prints figures, asserts nothing.

    python benchmarks/resolve.py [CONTEXT] [--tool T] [-n N]

- in-process: first resolve (imports rez, loads package definitions), then warm resolves
  with rez's repository caches warm but Landscape's solve memo cleared (each resolve runs
  every rez solve of the context again), then fully memoised resolves;
- whole commands: `landscape --help`, `landscape resolve --json`, `landscape check` (median of
  several runs, Python start-up included).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "examples/studio/projects/lighthouse/seq010/sh020"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("context", nargs="?", default=str(DEFAULT))
    ap.add_argument("--tool", default="blender")
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))

    t = time.perf_counter()
    from landscape import rezsolve
    from landscape.context import resolve

    first = time.perf_counter()
    rc = resolve(args.context, tool=args.tool)
    done = time.perf_counter()
    print(f"context {args.context} --tool {args.tool}: {len(rc.setups)} setups, "
          f"{len(rc.image.packages)} packages, image {rc.image.tag}")
    print(f"import landscape.context             {ms(first - t)}")
    print(f"first resolve (imports rez, solves)  {ms(done - first)}")

    def warm() -> None:
        rezsolve._MEMO.clear()
        resolve(args.context, tool=args.tool)

    runs = timed(warm, args.n)
    print(f"warm resolve, every rez solve re-run {ms(statistics.median(runs))} median, "
          f"{ms(min(runs))} min  (n={args.n})")
    runs = timed(lambda: resolve(args.context, tool=args.tool), args.n)
    print(f"warm resolve, solves memoised        {ms(statistics.median(runs))} median  "
          f"(n={args.n})")

    exe = [sys.executable, "-m", "landscape"]
    for label, cmd in (("landscape --help", [*exe, "--help"]),
                       ("landscape resolve --json", [*exe, "resolve", args.context, "--tool",
                                                     args.tool, "--json"]),
                       ("landscape check examples/studio", [*exe, "check",
                                                            str(REPO / "examples/studio")])):
        runs = timed(lambda: subprocess.run(cmd, capture_output=True, check=True,
                                            cwd=REPO), 5)
        print(f"{label:<36} {ms(statistics.median(runs))} median of 5 (whole process)")


if __name__ == "__main__":
    main()
