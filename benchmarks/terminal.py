#!/usr/bin/env python3
"""Start-up of the terminal's everyday commands; prints figures, asserts nothing.

    python benchmarks/terminal.py [-n N] [--against SRC]

Whole processes (Python start-up included), median of N runs each:

- ``landscape --help``;
- a bash completion of a context folder (``landscape resolve projects/lighthouse/seq0``);
- a bash completion of ``--tool`` (reads the context's cascade; no rez);
- ``landscape launch CONTEXT`` without ``--tool`` (the usage error listing the tools).

``--against SRC`` runs ``landscape --help`` of another source tree (its ``src`` folder, e.g.
a checkout of an older commit) too, alternating runs with this one's, so both see the
same machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUDIO = REPO / "examples" / "studio"
SHOT = "projects/lighthouse/seq010/sh020"


def once(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=21)
    ap.add_argument("--against", type=Path, help="another tree's src folder, for --help")
    a = ap.parse_args()
    exe = [sys.executable, "-m", "landscape"]
    base = {**os.environ, "PYTHONPATH": str(REPO / "src"), "LANDSCAPE_NO_AGENT": "1"}

    def completion(words: str) -> dict[str, str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        return {**base, "_LANDSCAPE_COMPLETE": "complete_bash", "COMP_WORDS": words,
                "COMP_CWORD": str(cword)}

    cases = [
        ("landscape --help", exe + ["--help"], base),
        ("complete a context folder", exe,
         completion("landscape resolve projects/lighthouse/seq0")),
        ("complete --tool", exe, completion(f"landscape launch {SHOT} --tool ")),
        ("launch without --tool (exit 2)", exe + ["launch", SHOT], base),
    ]
    for label, cmd, env in cases:
        once(cmd, env, STUDIO)  # warm the page cache and the bytecode
        runs = [once(cmd, env, STUDIO) for _ in range(a.n)]
        print(f"{label:<34} {statistics.median(runs) * 1000:7.1f} ms median of {a.n}")
    if a.against:
        other = {**base, "PYTHONPATH": str(a.against.resolve())}
        mine, theirs = [], []
        for _ in range(a.n):
            mine.append(once(exe + ["--help"], base, STUDIO))
            theirs.append(once(exe + ["--help"], other, STUDIO))
        print(f"--help, this tree    {statistics.median(mine) * 1000:7.1f} ms median of {a.n}")
        print(f"--help, {a.against}  {statistics.median(theirs) * 1000:7.1f} ms median "
              f"of {a.n} (alternating)")


if __name__ == "__main__":
    main()
