#!/usr/bin/env python3
"""The launcher's studio tree at scale: how long listing, indexing, searching and showing a
context take in a 10,000-shot project. Prints figures, asserts nothing.

    python benchmarks/browse.py [--shots 10000] [-n 5]

Two synthetic studios are written to a temporary folder (benchmarks/synth.py): one project
of 100 sequences × 100 shots and one of a single sequence of 10,000 shots. Then, in this
process (the launcher's own):

- ``children()`` of the project (100 sequences), of one 100-shot sequence and of the flat
  10,000-shot sequence — cold (each config file read for the first time in this process),
  again (the cascade's in-process file cache) and in the next process (the listing kept
  in the user cache: no file parsed again);
- ``ContextIndex.build()`` of the 100 × 100 studio (one walk, no YAML);
- ``search("seq042 sh07")`` over that index (median of ``-n``; synth.py numbers shots
  across the project, so it matches nothing there), and searches that match;
- ``Backend.details()`` of one shot with its python tool: cold (rez solves) and cached.
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


def ms(fn, n: int = 1) -> tuple[float, object]:
    """Median wall time of ``n`` calls of ``fn`` in ms, and the last result."""
    times, result = [], None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def row(label: str, value: float, note: str = "") -> None:
    print(f"{label:<52} {value:9.1f} ms  {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", type=int, default=10_000)
    ap.add_argument("-n", type=int, default=5)
    a = ap.parse_args()
    from landscape.browse import ContextIndex, children
    from landscape.gui.backend import Backend

    with tempfile.TemporaryDirectory(prefix="landscape-browse-") as tmp:
        t = time.perf_counter()
        grid = make_studio(Path(tmp) / "grid", a.shots, per_sequence=100, pin_every=50,
                           broken_every=200, python_only=True)
        flat = make_studio(Path(tmp) / "flat", a.shots, per_sequence=a.shots, pin_every=50,
                           broken_every=200, python_only=True)
        print(f"wrote two studios of {a.shots} shots in {time.perf_counter() - t:.1f} s")
        root, flat_root = grid.parent.parent, flat.parent.parent
        seq = grid / "seq042"
        flat_seq = flat / "seq001"

        value, kids = ms(lambda: children(grid, root))
        row("children(project): 100 sequences, cold", value, f"{len(kids)} entries")
        value, _ = ms(lambda: children(grid, root), a.n)
        row("children(project), again", value)
        value, kids = ms(lambda: children(seq, root))
        broken = sum(1 for e in kids if e.errors)
        row("children(100-shot sequence), cold", value, f"{len(kids)} ({broken} broken)")
        value, _ = ms(lambda: children(seq, root), a.n)
        row("children(100-shot sequence), again", value)
        value, kids = ms(lambda: children(flat_seq, flat_root))
        broken = sum(1 for e in kids if e.errors)
        row(f"children({a.shots}-shot flat sequence), cold", value,
            f"{len(kids)} ({broken} broken)")
        value, _ = ms(lambda: children(flat_seq, flat_root), a.n)
        row(f"children({a.shots}-shot flat sequence), again", value)
        code = ("import sys, time; from pathlib import Path; from landscape.browse import "
                "children; t = time.perf_counter(); children(Path(sys.argv[1]), "
                "Path(sys.argv[2])); print((time.perf_counter() - t) * 1000)")
        for label, folder, top in ((f"{a.shots}-shot flat sequence", flat_seq, flat_root),
                                   ("100-shot sequence", seq, root)):
            runs = [float(subprocess.run([sys.executable, "-c", code, str(folder), str(top)],
                                         capture_output=True, text=True, check=True).stdout)
                    for _ in range(a.n)]
            row(f"children({label}), next process", statistics.median(runs),
                "(listing kept in the user cache)")

        index = ContextIndex(root)
        value, paths = ms(index.build)
        row("ContextIndex.build (100 x 100)", value, f"{len(paths)} contexts")
        value, found = ms(lambda: index.search("seq042 sh07"), a.n)
        row('search("seq042 sh07")', value, f"{len(found)} matches")
        value, found = ms(lambda: index.search("seq042 sh0410"), a.n)
        row('search("seq042 sh0410")', value, f"{len(found)} matches")
        value, found = ms(lambda: index.search("seq0 sh0"), a.n)
        row('search("seq0 sh0")', value, f"{len(found)} matches (limit 500)")

        backend = Backend(root)
        shot = seq / "sh04101"
        value, d = ms(lambda: backend.details(shot, "python", ()))
        row("Backend.details(shot, python): cold", value,
            f"{len(d.packages)} packages, {len(d.errors)} errors")
        value, _ = ms(lambda: backend.details(shot, "python", ()), a.n)
        row("Backend.details(shot, python): cached", value)
        other = seq / "sh04102"
        value, _ = ms(lambda: backend.details(other, "python", ()))
        row("Backend.details(sibling shot, python): first", value)


if __name__ == "__main__":
    main()
