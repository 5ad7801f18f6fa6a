"""What a tool says about rendering: its ``frames``, ``outputs`` and ``verify`` keys
(docs/config.md, Renders), and the checks of a rendered frame.

- ``frames``: the arguments that hand one chunk to the tool, with placeholders
  ``{frame_start}``, ``{frame_end}``, ``{frame_step}``, ``{frames}`` (the chunk's frames,
  comma-separated) and ``{output}`` (the attempt-private output pattern). They are replaced
  by exact token replacement from data (:func:`substitute`): never through a shell or
  :meth:`str.format`, so any other brace text (``{0.__class__}``) stays as written.
- ``outputs``: where the frames land, relative to the working directory, with one run of
  ``#`` for the zero-padded frame number in the file name (``renders/frame_####.png``); no
  absolute path, no ``..`` (:func:`check_pattern`), and the real folder must stay inside
  the working directory (checked at render time, :func:`confined`).
- ``verify``: ``exists`` (a non-empty regular file), ``decodes`` (a PNG is read through:
  signature, every chunk's CRC, the header, the pixel data inflated to exactly the size the
  header promises, the end chunk) or ``resolution`` (``decodes`` and the header's size is
  the context's ``metadata.resolution``). Formats other than PNG are checked as ``exists``
  (:func:`verify_frame` says so).

Untrusted input: the values come from config files below the studio root. Pure data and the
host's files; no engine.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ConfigError, LandscapeError, Location

PLACEHOLDERS = ("frame_start", "frame_end", "frame_step", "frames", "output")
VERIFY_MODES = ("exists", "decodes", "resolution")
#: the prefix of an attempt-private output folder (inside the outputs' own folder)
ATTEMPT_PREFIX = ".landscape-attempt-"

_TOKEN = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_HASHES = re.compile(r"#+")


@dataclass
class RenderSpec:
    """A tool's render keys, checked: ``frames`` (argument templates), ``outputs`` (the
    pattern, relative to the working directory) and ``verify`` (one of
    :data:`VERIFY_MODES`); ``where`` maps each key to the ``file:line:col`` that set it."""

    frames: list[str]
    outputs: str
    verify: str = "exists"
    where: dict[str, str] = field(default_factory=dict)

    @property
    def chooses_output(self) -> bool:
        """Whether Landscape chooses the output path (``{output}`` is in ``frames``): then
        every attempt renders into a folder of its own and verified frames are moved in."""
        return any("{output}" in a for a in self.frames)

    @property
    def steps(self) -> bool:
        """Whether a chunk may be a stepped run (``{frame_step}`` or ``{frames}`` tells the
        tool which frames); otherwise every chunk is a run of consecutive frames."""
        return any("{frame_step}" in a or "{frames}" in a for a in self.frames)


def _location(where: str | None) -> Location | None:
    if not where:
        return None
    file, _, rest = where.rpartition(":")
    file2, _, line = file.rpartition(":")
    try:
        return Location(file2, int(line), int(rest))
    except ValueError:
        return None


def render_spec(tool: str, data: Mapping[str, Any]) -> RenderSpec:
    """The :class:`RenderSpec` of ``tool`` from its render keys (``data``: key →
    ``{"value": plain value, "from": "file:line:col"}``, as
    :attr:`landscape.launchinputs.LaunchInputs.render` holds them).

    Raises :class:`ConfigError` at the key to blame when ``frames`` or ``outputs`` is
    missing, ``frames`` hands no frame to the tool (none of ``{frame_start}`` or
    ``{frames}``), ``outputs`` is not a safe pattern (:func:`check_pattern`) or ``verify``
    is not a known mode."""
    def value(key: str) -> Any:
        entry = data.get(key)
        return entry.get("value") if isinstance(entry, Mapping) else None

    where = {k: str(v.get("from", "")) for k, v in data.items() if isinstance(v, Mapping)}
    path = ("tools", *tool.split("/"))
    frames, outputs, verify = value("frames"), value("outputs"), value("verify") or "exists"
    if frames is None or outputs is None:
        missing = " and ".join(k for k, v in (("frames", frames), ("outputs", outputs))
                               if v is None)
        plural = "s" if " and " in missing else ""
        raise ConfigError(f"tool {tool!r} cannot render: it has no {missing} key{plural}",
                          _location(where.get("frames") or where.get("outputs")), path,
                          hint="declare how a chunk reaches the tool, e.g. frames: [-s, "
                               "\"{frame_start}\", -e, \"{frame_end}\", -a] and outputs: "
                               "renders/frame_####.png (docs/config.md, Renders)")
    if not isinstance(frames, list) or not all(isinstance(a, (str, int)) and
                                               not isinstance(a, bool) for a in frames):
        raise ConfigError("frames must be a list of arguments", _location(where.get("frames")),
                          (*path, "frames"))
    args = [str(a) for a in frames]
    if not any("{frame_start}" in a or "{frames}" in a for a in args):
        raise ConfigError("frames hands no frame to the tool: use {frame_start} (with "
                          "{frame_end}) or {frames}", _location(where.get("frames")),
                          (*path, "frames"))
    why = check_pattern(outputs) if isinstance(outputs, str) else "must be a string"
    if why:
        raise ConfigError(f"outputs {outputs!r}: {why}", _location(where.get("outputs")),
                          (*path, "outputs"))
    if verify not in VERIFY_MODES:
        raise ConfigError(f"verify {verify!r} must be one of " + ", ".join(VERIFY_MODES),
                          _location(where.get("verify")), (*path, "verify"))
    return RenderSpec(args, outputs, verify, where)


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an ``outputs`` pattern, or ``None``: it must be a relative
    path (no leading ``/``, no ``..`` or empty part, no NUL or line break, no part starting
    with :data:`ATTEMPT_PREFIX`) whose file name holds exactly one run of ``#`` and whose
    folders hold none."""
    if not pattern or any(c in pattern for c in "\0\n\r"):
        return "must be a non-empty path on one line"
    if pattern.startswith("/") or pattern.startswith("~"):
        return "must be relative to the working directory"
    parts = pattern.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not hold '..', '.' or an empty part"
    if any(p.startswith(ATTEMPT_PREFIX) for p in parts):
        return f"must not use the reserved name {ATTEMPT_PREFIX}…"
    if any("#" in p for p in parts[:-1]):
        return "the frame number (#) goes in the file name, not a folder"
    if len(_HASHES.findall(parts[-1])) != 1:
        return "the file name needs exactly one run of # for the frame number (frame_####.png)"
    return None


def frame_name(pattern: str, frame: int) -> str:
    """``pattern`` with its ``#`` run replaced by ``frame``, zero-padded to the run's width
    (wider numbers are written whole): ``frame_####.png``, 7 → ``frame_0007.png``."""
    return _HASHES.sub(lambda m: str(frame).zfill(len(m.group(0))), pattern, count=1)


def attempt_folder(chunk: str, attempt: int) -> str:
    """The name of attempt ``attempt`` (from 1) of chunk ``chunk``'s private folder."""
    return f"{ATTEMPT_PREFIX}{chunk}-{attempt}"


def attempt_pattern(pattern: str, chunk: str, attempt: int) -> str:
    """The outputs ``pattern`` of one attempt: its file name inside the attempt's private
    folder, next to where the frames land (``renders/frame_####.png`` →
    ``renders/.landscape-attempt-1001-1004-2/frame_####.png``)."""
    head, _, name = pattern.rpartition("/")
    return "/".join(p for p in (head, attempt_folder(chunk, attempt), name) if p)


def substitute(args: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """``args`` with each placeholder token (``{frame_start}`` … of
    :data:`PLACEHOLDERS`) found in ``values`` replaced by its value, as a whole item or
    inside one; every other character — other braces included — stays as written. No
    shell, no :meth:`str.format`: a value is inserted verbatim, never read again."""
    def one(m: re.Match) -> str:
        return values.get(m.group(1), m.group(0))

    return [_TOKEN.sub(one, a) for a in args]


def chunk_values(frames: Sequence[int], output: str | None) -> dict[str, str]:
    """The placeholder values of a chunk of ``frames`` (a stepped run, in order) rendering
    to ``output`` (``None``: the tool's own path)."""
    step = frames[1] - frames[0] if len(frames) > 1 else 1
    values = {"frame_start": str(frames[0]), "frame_end": str(frames[-1]),
              "frame_step": str(step), "frames": ",".join(str(f) for f in frames)}
    if output is not None:
        values["output"] = output
    return values


def confined(workdir: Path, relative: str) -> Path:
    """The host path of ``relative`` (a checked pattern's folder) in ``workdir``, made
    when missing; raises :class:`LandscapeError` when its real path leaves the real
    ``workdir`` (a symlink on the way) or it cannot be made or written."""
    base = Path(os.path.realpath(workdir))
    target = base / relative if relative else base
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot make the output folder {target}: "
                             f"{e.strerror or e}") from None
    real = Path(os.path.realpath(target))
    if real != base and base not in real.parents:
        raise LandscapeError(f"the output folder {target} leads to {real}, outside the "
                             f"working directory {base}")
    if not os.access(real, os.W_OK | os.X_OK):
        raise LandscapeError(f"the output folder {real} is not writable")
    return real


# -- verification --------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: the largest chunk a frame may hold (a corrupt length is not read into memory)
_MAX_CHUNK = 1 << 31
#: the most bytes of pixel data inflated at once (what is held in memory while decoding)
_INFLATE_STEP = 1 << 20


class BadImage(ValueError):
    """A file that is not a whole, valid PNG (the message says what is wrong)."""


def _raw_size(width: int, height: int, depth: int, color: int, interlace: int) -> int:
    bits = _CHANNELS[color] * depth

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if interlace == 0:
        return rows(width, height)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2))
    return sum(rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy)
               for x, y, dx, dy in passes)


def png_size(path: Path | str, *, decode: bool = True) -> tuple[int, int]:
    """``(width, height)`` of the PNG file ``path``, after reading it through when
    ``decode`` (every chunk's CRC, the pixel data inflated to exactly the size the header
    promises, the end chunk); only the signature and header otherwise. Raises
    :class:`BadImage` saying what is wrong, ``OSError`` when it cannot be read."""
    # no symlink followed, and a FIFO swapped in since the caller's lstat cannot block
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BadImage("not a regular file")
    with os.fdopen(fd, "rb") as f:
        left = st.st_size - 8
        if f.read(8) != _PNG_SIGNATURE:
            raise BadImage("not a PNG file")
        size: tuple[int, int] | None = None
        expected = got = 0
        inflate = zlib.decompressobj()
        first = True
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise BadImage("truncated (no end chunk)")
            length, kind = struct.unpack(">I4s", head)
            left -= 12 + length
            if length > _MAX_CHUNK or left < 0:  # never read more than the file holds
                raise BadImage(f"truncated in chunk {kind.decode('latin-1')}")
            if first and kind != b"IHDR":
                raise BadImage("the first chunk is not the header")
            if not decode and kind != b"IHDR":
                assert size is not None
                return size
            data = f.read(length)
            crc = f.read(4)
            if len(data) < length or len(crc) < 4:
                raise BadImage(f"truncated in chunk {kind.decode('latin-1')}")
            if zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]:
                raise BadImage(f"chunk {kind.decode('latin-1')} fails its CRC")
            if kind == b"IHDR":
                if not first or length != 13:
                    raise BadImage("bad header chunk")
                w, h, depth, color, comp, filt, inter = struct.unpack(">IIBBBBB", data)
                if w == 0 or h == 0 or color not in _DEPTHS or depth not in _DEPTHS[color] \
                        or comp or filt or inter > 1:
                    raise BadImage("invalid header")
                size = (w, h)
                expected = _raw_size(w, h, depth, color, inter)
            elif kind == b"IDAT":
                # inflated a slice at a time: a few MB of zeros inflate to gigabytes
                while data:
                    try:
                        got += len(inflate.decompress(data, _INFLATE_STEP))
                    except zlib.error as e:
                        raise BadImage(f"pixel data does not inflate: {e}") from None
                    if got > expected:
                        raise BadImage("more pixel data than the header says")
                    data = inflate.unconsumed_tail
            elif kind == b"IEND":
                try:
                    got += len(inflate.flush())
                except zlib.error as e:  # pragma: no cover - flush of a valid stream
                    raise BadImage(f"pixel data does not inflate: {e}") from None
                if not inflate.eof or got != expected:
                    raise BadImage(f"pixel data is incomplete ({got} of {expected} bytes)")
                assert size is not None
                return size
            first = False


def verify_frame(path: Path, mode: str, resolution: Sequence[int] | None = None
                 ) -> str | None:
    """Why the frame file ``path`` fails check ``mode`` (:data:`VERIFY_MODES`), or
    ``None`` when it passes. Every mode needs a non-empty regular file (a symlink is not
    one); ``decodes`` and ``resolution`` read PNG files through (:func:`png_size`) and
    ``resolution`` compares the size with ``resolution`` (``[width, height]``); files of
    other formats get the ``exists`` check only (:func:`weaker_check` says so)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty"
    if mode == "exists" or not is_png(path):
        return None
    try:
        w, h = png_size(path)
    except BadImage as e:
        return str(e)
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if mode == "resolution" and resolution is not None and [w, h] != list(resolution):
        return f"{w}x{h} pixels, not {resolution[0]}x{resolution[1]}"
    return None


def is_png(path: Path | str) -> bool:
    """Whether ``path`` names a PNG file by its extension."""
    return str(path).lower().endswith(".png")


def weaker_check(pattern: str, mode: str) -> str | None:
    """A one-line note when ``mode`` cannot be fully checked for ``pattern``'s format
    (only PNG files are decoded), else ``None``."""
    if mode == "exists" or is_png(pattern):
        return None
    ext = Path(pattern).suffix or "(no extension)"
    return (f"verify: {mode} decodes PNG files only; {ext} frames are checked to exist and "
            "not be empty")


def expected_resolution(metadata: Mapping[str, Any]) -> list[int] | None:
    """``metadata.resolution`` as ``[width, height]`` of positive integers, else ``None``."""
    r = metadata.get("resolution") if isinstance(metadata, Mapping) else None
    if isinstance(r, list) and len(r) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in r):
        return [int(r[0]), int(r[1])]
    return None
