#!/usr/bin/env python3
"""The launcher over a studio of 10,000 shots in one sequence; prints figures, asserts
nothing.

    python benchmarks/gui.py [-n SHOTS]

Offscreen (no display needed), with the real Backend over a temporary studio:

- open: from ``make_window`` until the tree shows the studio and its first level, and
  until the selected root's details are shown (its resolve runs beside the listing);
- expand: from asking to expand the sequence until its first rows (the first batch of the
  listing) are painted, until all its 10,000 rows are in the tree and painted
  (``QWidget.grab``) with their folder names, and until every shot's file is read (titles
  and levels shown); the first listing of a folder (the Backend caches listings in the
  user's cache folder, by each file's stamp), each shot's file its own (a label and a frame
  range), so each is validated; and the longest the UI thread went without running a
  20 ms timer meanwhile;
- first filter: from typing ``seq sh09999`` until the matching tree is shown, including the
  build of the search index (every context path) that the first use starts;
- next filter: another search over the built index;
- select: from selecting one shot until its details (a rez solve) are shown;
- expand again: the same in a second window (the next start), its listing cached.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "studio"


def make_studio(top: Path, shots: int) -> tuple[Path, Path]:
    import shutil

    root = top / "studio"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("projects", ".landscape"))
    seq = root / "projects/big/seq"
    seq.mkdir(parents=True)
    (root / "projects/big/landscape.yaml").write_text("level: project\n")
    (seq / "landscape.yaml").write_text("level: sequence\n")
    for i in range(shots):
        shot = seq / f"sh{i:05d}"
        shot.mkdir()
        (shot / "landscape.yaml").write_text(       # each file its own (validated once)
            f"level: shot\nmetadata: {{label: \"Shot {i}\", frames: [1001, {1100 + i}]}}\n")
    return root, seq


def wait(app, condition, timeout: float = 600.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="shots in the sequence")
    n = parser.parse_args().n

    from PySide6.QtWidgets import QApplication

    from landscape.gui.backend import Backend
    from landscape.gui.window import PATH_ROLE, make_window

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        root, seq = make_studio(Path(tmp), n)
        t = time.perf_counter()
        win = make_window(root, Backend(root), Path(tmp) / "settings", select=root)
        win.show()
        wait(app, lambda: win._find_node(root / "projects") is not None)
        print(f"open (tree with the first level):   {1000 * (time.perf_counter() - t):8.1f} ms")
        wait(app, lambda: win._details is not None and not win._resolving)
        print(f"open (and the root's details):      {1000 * (time.perf_counter() - t):8.1f} ms")

        from PySide6.QtCore import QTimer

        beats = [time.perf_counter()]
        gaps: list[float] = []

        def beat() -> None:   # the UI thread's heartbeat while the folder is listed
            now = time.perf_counter()
            gaps.append(now - beats[0])
            beats[0] = now

        heart = QTimer()
        heart.timeout.connect(beat)
        heart.start(20)
        t = time.perf_counter()
        beats[0] = t
        win._expand_path(seq)
        wait(app, lambda: (win._find_node(seq) is not None
                           and bool(win._find_node(seq).children)))
        win.grab()
        print(f"expand: its first rows painted:     {1000 * (time.perf_counter() - t):8.1f} ms")
        wait(app, lambda: len(win._find_node(seq).children or ()) >= n)
        win.grab()
        print(f"expand: all {n} rows painted:     {1000 * (time.perf_counter() - t):8.1f} ms"
              "  (folder names; titles and levels follow)")
        wait(app, lambda: (win._find_node(seq) is not None
                           and win._find_node(seq).children is not None
                           and not win._find_node(seq).loading
                           and win.contextTree.isExpanded(
                               win.tree_model.index_of(win._find_node(seq)))))
        win.grab()
        rows = len(win._find_node(seq).children)
        print(f"expand: all {rows} rows read:        {1000 * (time.perf_counter() - t):8.1f} ms"
              "  (every shot's file read)")
        heart.stop()
        print(f"expand: longest UI-thread gap:      {1000 * max(gaps, default=0):8.1f} ms"
              "  (a 20 ms timer's)")

        t = time.perf_counter()
        win.filterEdit.setText(f"seq sh{n - 1:05d}")       # builds the index first
        wait(app, lambda: win._filtering)
        win.grab()
        print(f"first filter 'seq sh{n - 1:05d}' (index):  "
              f"{1000 * (time.perf_counter() - t):8.1f} ms")
        t = time.perf_counter()
        win.filterEdit.setText(f"seq sh{n - 2:05d}")
        win.grab()
        print(f"next filter 'seq sh{n - 2:05d}':           "
              f"{1000 * (time.perf_counter() - t):8.1f} ms")
        win.filterEdit.clear()

        shot = seq / f"sh{n // 2:05d}"
        t = time.perf_counter()
        win.select_context(shot, tool="python")
        wait(app, lambda: (win._details is not None and win._details.context == shot
                           and not win._resolving))
        print(f"select a shot, details shown:       {1000 * (time.perf_counter() - t):8.1f} ms")
        wait(app, lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(shot))
        win.close()

        # a second window (the next start): the listing comes from the user's cache
        again = make_window(root, Backend(root), Path(tmp) / "settings", select=root)
        again.show()
        wait(app, lambda: again._details is not None and not again._resolving
             and again._find_node(root / "projects") is not None)
        t = time.perf_counter()
        again._expand_path(seq)
        wait(app, lambda: (again._find_node(seq) is not None
                           and again._find_node(seq).children is not None))
        again.grab()
        print(f"expand again, next start (cached):  {1000 * (time.perf_counter() - t):8.1f} ms")
        again.close()


if __name__ == "__main__":
    sys.exit(main())
