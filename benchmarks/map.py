#!/usr/bin/env python3
"""``landscape map`` at studio scale: the time to draw a synthetic project of N shots (plan,
compose document, Graphviz layout) and the size of the SVG. Prints figures, asserts nothing.

    python benchmarks/map.py [--shots 10000] [-n 3]

The studio is written to a temporary folder by benchmarks/synth.py (200 shots a sequence, one
shot in 50 on another image, one in 200 broken). Each run is a whole ``landscape map``
process; the plan's figures alone (``landscape plan --json``) are given beside it, so the
cost of the map itself shows.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synth import make_studio  # noqa: E402


def timed(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=10000)
    ap.add_argument("-n", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="landscape-map-bench-") as tmp:
        project = make_studio(Path(tmp) / "studio", args.shots)
        out = Path(tmp) / "map.svg"
        exe = [sys.executable, "-m", "landscape"]
        plan = [timed([*exe, "plan", str(project), "--json"]) for _ in range(args.n)]
        maps = [timed([*exe, "map", str(project), "--out", str(out)]) for _ in range(args.n)]
        svg = out.read_bytes()
        nodes = svg.count(b'class="node"')
        print(f"project of {args.shots:,} shots, median of {args.n}")
        print(f"  landscape plan --json   {statistics.median(plan):6.2f} s")
        print(f"  landscape map --out svg {statistics.median(maps):6.2f} s"
              f"  ({len(svg) / 1024:,.1f} KiB, {nodes} nodes)")


if __name__ == "__main__":
    main()
