#!/usr/bin/env python3
"""Landscape's solve against rez's own over the rez-compatibility repositories; prints
figures, asserts nothing.

    python benchmarks/any_repository.py [-n N]

For each request list of ``tests/data/anyrez/cases.yaml`` (45 lists over two repositories
of ~40 packages: variants, single-file families, ``@early``/``@late``, unversioned
packages), with rez's repository caches warm:

- rez: ``rez.resolved_context.ResolvedContext`` alone;
- landscape solve: ``landscape.rezsolve.solve`` with its memo cleared (rez plus the
  override filter, the override scan and, on failure, the diagnosis of the failure);
- landscape resolve: ``landscape.context.resolve`` of a context requesting the list, with
  the solve memo cleared (config files, cascade, policy, every tool's solve, environment).

Medians over N runs, summed over the succeeding and the failing lists separately.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests/data/anyrez"


def median_ms(fn, n: int) -> float:
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    import yaml

    from landscape import rezsolve
    from landscape.context import resolve
    from landscape.errors import LandscapeError

    cases = yaml.safe_load((DATA / "cases.yaml").read_text())
    top = Path(tempfile.mkdtemp(prefix="landscape-anyrez-"))
    studio = top / "studio"
    shutil.copytree(DATA, studio, symlinks=True)
    paths = [str(studio / "repos/local"), str(studio / "repos/central")]
    from rez.resolved_context import ResolvedContext

    def rez(requests):
        try:
            return ResolvedContext(requests, package_paths=paths,
                                   add_implicit_packages=False).success
        except Exception:  # noqa: BLE001 - a failure is a figure too
            return False

    def landscape_solve(requests):
        rezsolve._MEMO.clear()
        try:
            rezsolve.solve(requests, paths)
        except LandscapeError:
            pass

    def landscape_resolve(folder):
        rezsolve._MEMO.clear()
        try:
            resolve(folder)
        except LandscapeError:
            pass

    totals = {True: [0.0, 0.0, 0.0, 0], False: [0.0, 0.0, 0.0, 0]}
    print(f"{'requests':38} {'rez':>9} {'solve':>9} {'resolve':>9}")
    try:
        for i, requests in enumerate(cases):
            folder = studio / f"c{i}"
            folder.mkdir()
            (folder / "landscape.yaml").write_text(yaml.safe_dump({"packages": requests}))
            ok = rez(requests)
            landscape_resolve(folder)  # warm rez's caches for this list
            row = (median_ms(lambda: rez(requests), args.n),
                   median_ms(lambda: landscape_solve(requests), args.n),
                   median_ms(lambda: landscape_resolve(folder), args.n))
            for k in range(3):
                totals[ok][k] += row[k]
            totals[ok][3] += 1
            label = " ".join(requests) + ("" if ok else "  (fails)")
            print(f"{label:38} {row[0]:7.2f}ms {row[1]:7.2f}ms {row[2]:7.2f}ms")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    for ok, (r, s, c, count) in totals.items():
        print(f"sum of {count} {'succeeding' if ok else 'failing'} lists: rez {r:.1f} ms, "
              f"landscape solve {s:.1f} ms, landscape resolve {c:.1f} ms")


if __name__ == "__main__":
    main()
