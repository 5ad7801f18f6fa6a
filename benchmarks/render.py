#!/usr/bin/env python3
"""Render timings against a real Docker engine; prints figures, asserts nothing.

    python benchmarks/render.py [--studio DIR] [--frames 1001-1008] [--chunk 2] [--swarm]

Uses the example studio (examples/studio, or DIR — a copy of it; ``landscape build`` of its
project lighthouse runs first and builds what is missing, a few minutes on an empty engine,
as the quick start does) and renders the frames of shot sh020 with Blender three ways, as whole
processes, each into an empty renders folder:

- ``landscape render SHOT --tool blender/render --frames F --chunk C --parallel 1``;
- the same with ``--parallel 2``;
- with ``--swarm``, the same with ``--swarm --parallel 2`` (one Swarm service per chunk; the
  engine must be a Swarm manager and the studio root must name ``image.registry``; the push
  of the image is part of the first figure, so it runs twice and both are printed);
- one sequential ``landscape launch SHOT --tool blender/render -- -s A -e B -a`` of the same
  frames (one container, one Blender start, no verification).

Prints the seconds of each and the ratios to the sequential launch.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LANDSCAPE = [sys.executable, "-m", "landscape"]
SH020 = "projects/lighthouse/seq010/sh020"


def timed(argv: list[str]) -> float:
    """Seconds ``argv`` takes; exits with its output when it fails."""
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studio", type=Path)
    ap.add_argument("--frames", default="1001-1008")
    ap.add_argument("--chunk", type=int, default=2)
    ap.add_argument("--swarm", action="store_true", help="also render on the Swarm")
    a = ap.parse_args()
    studio = a.studio or REPO / "examples/studio"
    print("building (when missing)…", flush=True)
    timed([*LANDSCAPE, "build", str(studio / "projects/lighthouse")])
    shot = studio / SH020
    renders = shot / "work/blender/renders"
    from landscape.frames import parse

    frames = parse(a.frames)
    first, last = frames[0], frames[-1]
    if frames != list(range(first, last + 1)):
        sys.exit("--frames must be one range of consecutive frames")
    results = {}
    for parallel in (1, 2):
        shutil.rmtree(renders, ignore_errors=True)
        results[f"render --parallel {parallel}"] = timed(
            [*LANDSCAPE, "render", str(shot), "--tool", "blender/render", "--frames",
             a.frames, "--chunk", str(a.chunk), "--parallel", str(parallel)])
    for run in ("first", "again") if a.swarm else ():
        shutil.rmtree(renders, ignore_errors=True)
        results[f"render --swarm ({run})"] = timed(
            [*LANDSCAPE, "render", str(shot), "--tool", "blender/render", "--frames",
             a.frames, "--chunk", str(a.chunk), "--parallel", "2", "--swarm"])
    shutil.rmtree(renders, ignore_errors=True)
    sequential = timed([*LANDSCAPE, "launch", str(shot), "--tool", "blender/render", "--",
                        "-s", str(first), "-e", str(last), "-a"])
    results["one sequential launch"] = sequential
    print(f"{len(frames)} frames of {SH020}, chunks of {a.chunk}:")
    for name, seconds in results.items():
        print(f"  {name:<26} {seconds:7.1f} s   x{seconds / sequential:.2f} of the launch")


if __name__ == "__main__":
    main()
