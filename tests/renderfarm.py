"""What the render tests share, local and on a Swarm: the example's shots, a fake renderer
(``FAKE``) and the ``farm`` fixture that makes the example's python tool that renderer.

Import ``farm`` into a test module to use it as a fixture."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

SH020 = "projects/lighthouse/seq010/sh020"
SH010 = "projects/lighthouse/seq010/sh010"

#: a "renderer" in Python: writes a 4x2 PNG per frame of "{frames}" to "{output}"; its mode
#: (the last argument) makes it misbehave, once per chunk (a marker file) or always
FAKE = textwrap.dedent("""\
    import os, struct, sys, time, zlib
    out, frames, mode = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    marker = os.path.join(os.path.dirname(os.path.dirname(out)), ".tried-" + sys.argv[2])
    first = not os.path.exists(marker)
    open(marker, "a").close()
    print("rendering", frames, "mode", mode, flush=True)
    if mode == "always":
        print("Error: no licence", flush=True)
        sys.exit(3)
    if mode == "flaky" and first:
        sys.exit(4)
    if mode == "silent" and first:
        sys.exit(0)
    if mode == "sleep":
        time.sleep(300)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\\0" * 13 * 2)) + chunk(b"IEND", b""))
    for f in frames:
        path = out.replace("####", f.zfill(4))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(png)
    with open(os.path.join(os.path.dirname(os.path.dirname(out)), "env-" + sys.argv[2] + ".json"), "w") as fh:
        import json
        json.dump({"env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd()}, fh)
    """)


@pytest.fixture
def farm(built):
    """The built example studio with context variants ``farm-<mode>`` at shot sh010 that
    make its python tool a renderer misbehaving as ``<mode>`` says; removed afterwards with
    the renders."""
    import shutil

    studio, _ = built
    shot = studio / SH010
    made = []
    for mode in ("ok", "flaky", "silent", "always", "sleep"):
        f = shot / f"landscape.farm-{mode}.yaml"
        f.write_text(json.dumps({"tools": {"python": {
            "frames": ["-c", FAKE, "{output}", "{frames}", mode],
            "outputs": "renders/frame_####.png", "verify": "decodes"}}}))
        made.append(f)
    shutil.rmtree(shot / "work/python/renders", ignore_errors=True)
    yield studio
    for f in made:
        f.unlink()
    shutil.rmtree(shot / "work/python/renders", ignore_errors=True)


def frames_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("frame_*.png"))


def flaky_and_silent_chunks_are_retried(cli, shot: Path, *extra: str) -> None:
    """Render with the ``farm-flaky`` and ``farm-silent`` variants of ``shot`` (``extra``:
    more options, e.g. ``--swarm``): a chunk that fails once and a chunk that exits 0
    without its frames are both retried and end with their frames in place."""
    renders = shot / "work/python/renders"
    r = cli("render", shot, "--tool", "python", "--variant", "farm-flaky", "--frames",
            "1-4", "--chunk", "2", "--retries", "1", *extra)
    assert r.code == 0, r
    assert "chunk 1-2: attempt 1 failed: exit 4" in r.err
    assert "chunk 3-4: attempt 1 failed: exit 4" in r.err
    assert frames_in(renders) == [f"frame_{f:04d}.png" for f in (1, 2, 3, 4)]

    r = cli("render", shot, "--tool", "python", "--variant", "farm-silent", "--frames", "5-6",
            "--chunk", "2", *extra)
    assert r.code == 0, r
    assert "chunk 5-6: attempt 1 failed: exit 0, frame 5 missing, frame 6 missing" in r.err
