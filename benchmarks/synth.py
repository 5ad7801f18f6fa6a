#!/usr/bin/env python3
"""A synthetic studio for the scale benchmarks: one project of N shots.

    python benchmarks/synth.py DEST --shots 10000 [--per-sequence 200] [--pin-every 50]
                               [--broken-every 200] [--python-only]

The studio root, packages and manifests are the example studio's (copied), so every context
solves against a real rez repository. The project ``film`` has ``shots / per_sequence``
sequences; each shot is a small ``landscape.yaml`` (its level and a metadata value). Every
``pin_every``-th shot pins the older ``studio_pipeline`` (another image); every
``broken_every``-th shot has a misspelt key (a schema error: the shot fails alone).
``--python-only`` drops the Blender tool from the root (images without the ~40 s apt step of
Blender's OS packages: fast to build, for the no-op build and launch figures).

Importable: :func:`make_studio` returns the project folder.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples/studio"

PROJECT = """schema: landscape/v1
level: project
name: Film
packages: [studio_pipeline-1.1]
metadata:
  fps: 24
  frames: [1001, 1100]
env:
  PROJECT_CODE: FILM
"""

SEQUENCE = """schema: landscape/v1
level: sequence
name: Sequence {n}
"""

SHOT = """schema: landscape/v1
level: shot
metadata:
  frames: [1001, {end}]
"""

PINNED = """schema: landscape/v1
level: shot
packages: [studio_pipeline-1.0]
metadata:
  frames: [1001, {end}]
"""

BROKEN = """schema: landscape/v1
level: shot
metdata:
  frames: [1001, {end}]
"""


def make_studio(dest: Path, shots: int, per_sequence: int = 200, pin_every: int = 50,
                broken_every: int = 200, python_only: bool = False) -> Path:
    """Write the studio under ``dest`` (which must not exist); returns the project folder.
    Shot ``i`` (1-based) is pinned when ``i % pin_every == 0`` and broken when
    ``i % broken_every == 0`` (broken wins); 0 disables either."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("projects"))
    root = dest / "landscape.yaml"
    if python_only:
        text = root.read_text()
        start = text.index("  blender:\n")
        end = text.index("  python:\n")
        root.write_text(text[:start] + text[end:])
    project = dest / "projects/film"
    project.mkdir(parents=True)
    (project / "landscape.yaml").write_text(PROJECT)
    for i in range(1, shots + 1):
        seq = (i - 1) // per_sequence + 1
        sdir = project / f"seq{seq:03d}"
        if (i - 1) % per_sequence == 0:
            sdir.mkdir()
            (sdir / "landscape.yaml").write_text(SEQUENCE.format(n=seq))
        shot = sdir / f"sh{i:05d}"
        shot.mkdir()
        if broken_every and i % broken_every == 0:
            text = BROKEN
        elif pin_every and i % pin_every == 0:
            text = PINNED
        else:
            text = SHOT
        (shot / "landscape.yaml").write_text(text.format(end=1100 + i % 7))
    return project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--shots", type=int, default=1000)
    ap.add_argument("--per-sequence", type=int, default=200)
    ap.add_argument("--pin-every", type=int, default=50)
    ap.add_argument("--broken-every", type=int, default=200)
    ap.add_argument("--python-only", action="store_true")
    a = ap.parse_args()
    print(make_studio(a.dest, a.shots, a.per_sequence, a.pin_every, a.broken_every,
                      a.python_only))


if __name__ == "__main__":
    main()
