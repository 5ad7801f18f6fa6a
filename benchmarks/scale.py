#!/usr/bin/env python3
"""Studio-scale timings: plan, check and a no-op build of synthetic projects, and the
whole-process resolve of one shot. Prints figures, asserts nothing.

    python benchmarks/scale.py [--sizes 100,1000,10000] [--no-build] [-n 7]

For each size N a synthetic studio (benchmarks/synth.py: N shots, every 50th pinned to
another package version, every 200th broken) is written to a temporary folder, then:

- ``landscape plan PROJECT --json``, ``landscape check PROJECT`` and (unless
  ``--no-build``) ``landscape build PROJECT`` once every image exists, each as a whole
  process: wall time, CPU time (user + system, worker processes included) and the peak
  resident memory of the largest process;
- per-context cost (wall / contexts) so linear growth shows as a flat column;
- ``check`` again at the largest size with ten times the broken shots (growth in errors);
- ``landscape resolve SHOT --json`` as a whole process: without the resolve cache and with it
  (median of ``-n`` runs each).

The first build of the images is not timed (``--python-only`` studios: no Blender, so the
images build in about a minute each). The images are removed at the end, by tag.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synth import make_studio  # noqa: E402

EXE = [sys.executable, "-m", "landscape"]


def run(args: list[str], env: dict | None = None) -> tuple[float, float, float, int]:
    """``(wall s, cpu s, peak RSS MiB of the largest process, exit code)`` of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = max(usage.ru_maxrss, after.ru_maxrss) / 1024
    return wall, cpu, peak, os.waitstatus_to_exitcode(status)


def row(label: str, n: int, r: tuple[float, float, float, int]) -> None:
    wall, cpu, peak, code = r
    print(f"{label:<8} {n:>6} contexts  wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
          f"peak {peak:6.0f} MiB  {wall / n * 1000:6.3f} ms/context  (exit {code})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("-n", type=int, default=7)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="landscape-scale-"))
    env = {**os.environ, "LANDSCAPE_CACHE_DIR": str(tmp / "cache")}
    tags: set[str] = set()
    try:
        if not a.no_build:
            subprocess.run([*EXE, "base", "build"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        for n in sizes:
            project = make_studio(tmp / f"s{n}", n, python_only=True)
            contexts = len(json.loads(subprocess.run(
                [*EXE, "plan", str(project), "--json"], capture_output=True, text=True,
                env=env).stdout)["contexts"])
            row("plan", contexts, run([*EXE, "plan", str(project), "--json"], env))
            row("check", contexts, run([*EXE, "check", str(project)], env))
            if not a.no_build:
                subprocess.run([*EXE, "build", str(project)], env=env, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                plan = json.loads(subprocess.run([*EXE, "plan", str(project), "--json"],
                                                 capture_output=True, text=True,
                                                 env=env).stdout)
                tags |= {im["tag"] for im in plan["images"]}
                p = run([*EXE, "plan", str(project), "--json"], env)
                b = run([*EXE, "build", str(project)], env)
                row("build0", contexts, b)
                print(f"         no-op build / plan: {b[0] / p[0]:.2f}x wall")
        n = sizes[-1]
        broken = make_studio(tmp / f"b{n}", n, broken_every=20, python_only=True)
        row("check", n, run([*EXE, "check", str(broken)], env))
        print(f"         (the same with {n // 20} broken shots instead of {n // 200})")

        shot = next((tmp / f"s{sizes[0]}" / "projects/film").glob("seq*/sh*"))
        cmd = [*EXE, "resolve", str(shot), "--tool", "python", "--json"]
        fresh = {**env, "LANDSCAPE_NO_RESOLVE_CACHE": "1"}
        runs = [run(cmd, fresh)[0] for _ in range(a.n)]
        print(f"resolve --json, no cache     {statistics.median(runs) * 1000:6.0f} ms median "
              f"of {a.n} (whole process)")
        run(cmd, env)
        runs = [run(cmd, env)[0] for _ in range(a.n)]
        print(f"resolve --json, cached       {statistics.median(runs) * 1000:6.0f} ms median "
              f"of {a.n} (whole process)")
        runs = [run([*EXE, "--help"], env)[0] for _ in range(a.n)]
        print(f"landscape --help             {statistics.median(runs) * 1000:6.0f} ms median")
    finally:
        if tags:
            subprocess.run(["docker", "rmi", *sorted(tags)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
