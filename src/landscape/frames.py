"""Frame lists as render farms write them, and their chunks (docs/commands.md, render).

Syntax: comma-separated items, each a frame (``1001``), a range (``1001-1100``, both ends
included) or a stepped range (``1-10x2``: 1, 3, 5, 7, 9). Frames are integers from 0 to
:data:`MAX_FRAME`; a list holds at most :data:`MAX_FRAMES` frames and no frame twice; a
range runs upwards (``1100-1001`` is an error, as are an empty item, a step of 0 and
anything that is not a number).

A **chunk** is a contiguous run of at most N frames of one stepped range: its frames are
``start, start + step, …, end``. A chunk never spans a gap or a change of step, so
``{frame_start}``, ``{frame_end}`` and ``{frame_step}`` describe it exactly (``{frames}``
gives the list itself). Pure data: no engine, no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import LandscapeError

#: the most frames one list may hold (a typo such as ``1-10000000`` is refused, not queued)
MAX_FRAMES = 1_000_000
#: the largest frame number
MAX_FRAME = 99_999_999

_ITEM = re.compile(r"^(\d{1,9})(?:-(\d{1,9})(?:x(\d{1,9}))?)?$")


class FrameError(LandscapeError):
    """A frame list or chunk size that cannot be used (a usage error, one line)."""


@dataclass(frozen=True)
class Chunk:
    """Frames ``start, start + step, …, end`` (``end`` included; ``step`` ≥ 1), rendered
    together. ``name`` is ``<start>-<end>`` (``<start>-<end>x<step>`` when stepped,
    ``<start>`` for one frame): what progress lines, logs and attempt folders call it."""

    start: int
    end: int
    step: int = 1

    @property
    def frames(self) -> list[int]:
        """The chunk's frames, in order."""
        return list(range(self.start, self.end + 1, self.step))

    @property
    def name(self) -> str:
        if self.start == self.end:
            return str(self.start)
        return f"{self.start}-{self.end}" + (f"x{self.step}" if self.step != 1 else "")


def parse(spec: str) -> list[int]:
    """The frames of ``spec`` (``1001-1100``, ``1-10x2``, ``1,5,9``, ``1-3,7,10-20x5``), in
    the order written. Raises :class:`FrameError` (one line naming the bad item) for an
    empty spec or item, a descending range, a step of 0, a frame above :data:`MAX_FRAME`,
    a frame given twice, more than :data:`MAX_FRAMES` frames, or anything else."""
    text = spec.strip()
    if not text:
        raise FrameError("no frames given (e.g. --frames 1001-1100)")
    out: list[int] = []
    seen: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        m = _ITEM.match(item)
        if m is None:
            if re.fullmatch(r"[0-9]+(-[0-9]+(x[0-9]+)?)?", item):  # only too many digits
                raise FrameError(f"bad frames {item!r}: frames go up to {MAX_FRAME:,}")
            raise FrameError(f"bad frames {item!r} in {spec!r}: write A, A-B or A-BxSTEP "
                             "(whole frames from 0), separated by commas")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step == 0:
            raise FrameError(f"bad frames {item!r}: a step of 0")
        if b < a:
            raise FrameError(f"bad frames {item!r}: the range runs backwards (write {b}-{a})")
        if b > MAX_FRAME:
            raise FrameError(f"bad frames {item!r}: frames go up to {MAX_FRAME:,}")
        if len(out) + (b - a) // step + 1 > MAX_FRAMES:
            raise FrameError(f"too many frames in {spec!r}: at most {MAX_FRAMES:,}")
        for f in range(a, b + 1, step):
            if f in seen:
                raise FrameError(f"frame {f} is given twice in {spec!r}")
            seen.add(f)
            out.append(f)
    return out


def runs(frames: Sequence[int], stepped: bool = True) -> list[Chunk]:
    """``frames`` (in order) as runs read left to right: each run is a :class:`Chunk` of
    frames with one constant step (a single frame is a run of its own when it fits no
    neighbour). Without ``stepped``, only runs of step 1 are made (for a tool that takes a
    start and an end but no step)."""
    out: list[Chunk] = []
    i, n = 0, len(frames)
    while i < n:
        start = frames[i]
        if i + 1 < n and frames[i + 1] > start and (stepped or frames[i + 1] == start + 1):
            step = frames[i + 1] - start
            j = i + 1
            while j + 1 < n and frames[j + 1] - frames[j] == step:
                j += 1
            out.append(Chunk(start, frames[j], step))
            i = j + 1
        else:
            out.append(Chunk(start, start, 1))
            i += 1
    return out


def format_frames(frames: Sequence[int]) -> str:
    """``frames`` written in the syntax :func:`parse` reads (``parse(format_frames(x)) ==
    list(x)`` for every list of distinct frames in range); ``""`` for no frames."""
    return ",".join(c.name for c in runs(frames))


def chunks(frames: Sequence[int], size: int, stepped: bool = True) -> list[Chunk]:
    """``frames`` (in order) split into chunks of at most ``size`` frames: each run
    (:func:`runs`; stepped runs only when ``stepped``) cut into pieces, in order, so the
    chunks together hold exactly ``frames``. Raises :class:`FrameError` when ``size`` is
    below 1."""
    if size < 1:
        raise FrameError(f"a chunk holds at least 1 frame, not {size}")
    out: list[Chunk] = []
    for run in runs(frames, stepped):
        fs = run.frames
        for k in range(0, len(fs), size):
            piece = fs[k:k + size]
            out.append(Chunk(piece[0], piece[-1], run.step if len(piece) > 1 else 1))
    return out


def flatten(parts: Iterable[Chunk]) -> list[int]:
    """Every frame of ``parts``, in order."""
    return [f for c in parts for f in c.frames]
