"""Displays against a real X server and real containers (marked ``docker``; they also need
``Xvfb`` and ``xauth`` on the host, which ``.ci/run`` installs — they fail, never skip,
without them).

Each test gets its own Xvfb started **with authentication** (``-auth``: it accepts only
clients that present its cookie), listening only on its Unix socket, with its screen in a
file (``-fbdir``: ``Xvfb_screen0``, an XWD image read here without other tools). The
artist's Xauthority file is written by ``xauth add``, as a desktop session writes it. A
launch of a ``gui: true`` tool of the example studio's image runs a tiny X client
(``python3`` + ctypes on the image's libX11) that maps an orange window: with the cookie it
draws (the orange pixels appear in the framebuffer), without it the launch is refused
before a container starts — and a client in the container that drops the cookie cannot
connect, so the server's refusal is real there too. Cold and warm launches alike; every
container and workspace is removed by the fixtures, Xvfb is stopped."""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import landscape_exe

pytestmark = pytest.mark.docker

GUI = "projects/lighthouse/seq010/shgui"  # a shot of sh010's image, with a gui: true tool
ORANGE = 0xFF8000
#: maps a 100×80 orange window, says "drawn", keeps it until stdin ends; exit 3 when the
#: display cannot be opened (with argument ``nocookie``: after dropping XAUTHORITY)
CLIENT = r"""
import ctypes, json, os, sys
if sys.argv[1:] == ["nocookie"]:
    os.environ.pop("XAUTHORITY", None)
x = ctypes.CDLL("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
d = x.XOpenDisplay(None)
if not d:
    print("cannot open display", flush=True)
    sys.exit(3)
x.XDefaultScreen.argtypes = [ctypes.c_void_p]
x.XRootWindow.restype = ctypes.c_ulong
x.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
x.XCreateSimpleWindow.restype = ctypes.c_ulong
x.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong,
                                  ctypes.c_ulong]
x.XMapWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
w = x.XCreateSimpleWindow(d, x.XRootWindow(d, x.XDefaultScreen(d)), 20, 10, 100, 80, 0, 0,
                          0xFF8000)
x.XMapWindow(d, w)
x.XSync(d, 0)
st = os.stat(os.environ["XAUTHORITY"])
print("drawn", json.dumps({"display": os.environ["DISPLAY"], "mode": oct(st.st_mode & 0o777),
                           "uid": st.st_uid, "me": os.getuid(),
                           "qt": os.environ.get("QT_X11_NO_MITSHM")}), flush=True)
sys.stdin.read()
"""


class Xvfb:
    """A running Xvfb with authentication: ``number``, its ``cookie`` (hex), the artist's
    Xauthority file ``xauthority`` (written by ``xauth``) and its framebuffer ``screen``."""

    def __init__(self, folder: Path) -> None:
        for tool in ("Xvfb", "xauth"):
            if shutil.which(tool) is None:
                pytest.fail(f"these tests need {tool} on the host (apt-get install xvfb xauth; "
                            ".ci/run installs them)", pytrace=False)
        self.folder = folder
        self.cookie = secrets.token_hex(16)
        server_auth = folder / "server-auth"  # the server loads every cookie in it
        subprocess.run(["xauth", "-f", str(server_auth), "add", ":0", ".", self.cookie],
                       check=True, capture_output=True)
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-auth", str(server_auth), "-nolisten", "tcp",
             "-noreset", "-br", "-screen", "0", "320x240x24", "-fbdir", str(folder)],
            pass_fds=[write], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write)
        with os.fdopen(read) as f:
            line = f.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            pytest.fail(f"Xvfb did not start: {self.proc.stderr.read().decode()[-500:]}")
        self.number = int(line)
        self.xauthority = folder / "Xauthority"  # the artist's, as a desktop session writes it
        subprocess.run(["xauth", "-f", str(self.xauthority), "add", f":{self.number}", ".",
                        self.cookie], check=True, capture_output=True)
        self.screen = folder / "Xvfb_screen0"

    def pixels(self, value: int) -> int:
        """How many pixels of the screen have ``value`` (0xRRGGBB)."""
        data = self.screen.read_bytes()
        (size, version, _fmt, _depth, width, height, _xoff, byte_order, _unit, _bo, _pad, bpp,
         line) = struct.unpack_from(">13I", data, 0)
        ncolors = struct.unpack_from(">I", data, 19 * 4)[0]
        assert version == 7 and bpp == 32, (version, bpp)
        start = size + ncolors * 12
        fmt = "<" if byte_order == 0 else ">"
        count = 0
        for y in range(height):
            row = struct.unpack_from(f"{fmt}{width}I", data, start + y * line)
            count += sum(1 for p in row if p & 0xFFFFFF == value)
        return count

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def xvfb(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    server = Xvfb(folder)
    yield server
    server.stop()


@pytest.fixture
def gui_studio(warm):
    """The built example studio with the display allowed at its root and a shot whose
    ``python`` tool says ``gui: true`` (and ``gpu: true``); restored afterwards."""
    root = warm / "landscape.yaml"
    original = root.read_text()
    root.write_text(original + "policy: {allow_gui: true}\n")
    shot = warm / GUI
    shot.mkdir()
    (shot / "landscape.yaml").write_text("level: shot\ntools: {python: {gui: true, "
                                         "gpu: true}}\n")
    yield warm
    root.write_text(original)
    shutil.rmtree(shot)


def _start(studio, display, xauthority, *args, warm=False):
    env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(xauthority)}
    return subprocess.Popen([*landscape_exe(), "launch", *(["--warm"] if warm else []),
                             str(studio / GUI), "--tool", "python", "--", "-c", CLIENT, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _first_line(proc, timeout=240) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no output in {timeout} s: {proc.stderr.read()}") from None


@pytest.mark.parametrize("form, in_workspace", [
    (":{n}", False), ("unix:{n}.0", False), ("localhost:{n}", False), (":{n}.0", True)],
    ids=["cold", "cold-unix-form", "cold-loopback-tcp-form", "warm"])
def test_a_launch_with_the_cookie_draws(gui_studio, xvfb, form, in_workspace):
    assert xvfb.pixels(ORANGE) == 0
    display = form.format(n=xvfb.number)
    proc = _start(gui_studio, display, xvfb.xauthority, warm=in_workspace)
    try:
        line = _first_line(proc)
        assert line.startswith("drawn "), (line, proc.stderr.read() if proc.poll() else "")
        assert xvfb.pixels(ORANGE) == 100 * 80  # the window, on the real screen
    finally:
        proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    seen = json.loads(line.split(" ", 1)[1])
    inside = f":{xvfb.number}" + (".0" if ".0" in display else "")
    assert seen["display"] == inside  # a loopback TCP display is reached by its socket
    assert seen["mode"] == "0o600" and seen["uid"] == seen["me"] == os.getuid()
    assert seen["qt"] == "1"
    # no GPU here: the launch says so in one line and goes on with software rendering
    warning = [ln for ln in proc.stderr.read().splitlines() if ln.startswith("warning:")]
    assert warning == ["warning: tool 'python' asks for a GPU (gpu: true), but this machine "
                       "has no GPU a container can use (no NVIDIA driver, no /dev/dri device "
                       "you may open): it runs with software rendering"]


@pytest.mark.parametrize("in_workspace", [False, True], ids=["cold", "warm"])
def test_the_x_server_refuses_a_container_client_without_the_cookie(gui_studio, xvfb,
                                                                    in_workspace):
    """The cookie is the only way in: a client in the container that drops ``XAUTHORITY``
    finds none (its home has no ``.Xauthority``) and the server refuses it."""
    proc = _start(gui_studio, f":{xvfb.number}", xvfb.xauthority, "nocookie",
                  warm=in_workspace)
    proc.stdin.close()
    assert proc.wait(timeout=240) == 3, proc.stderr.read()
    assert proc.stdout.read().strip() == "cannot open display"
    assert xvfb.pixels(ORANGE) == 0


def test_a_launch_without_the_cookie_is_refused_before_it_starts(gui_studio, xvfb,
                                                                 docker_engine):
    empty = xvfb.folder / "empty"
    empty.write_bytes(b"")
    proc = _start(gui_studio, f":{xvfb.number}", empty)
    proc.stdin.close()
    assert proc.wait(timeout=240) == 1
    err = proc.stderr.read()
    assert err.strip().splitlines() == [
        f"error: the X server at :{xvfb.number} needs a cookie; none found in {empty} (empty): "
        "Authorization required, but no authorization protocol specified (set XAUTHORITY to "
        "the file your X session uses)"], err
    assert "Traceback" not in err
    assert docker_engine.containers.list(all=True, filters={
        "label": f"io.landscape.context={gui_studio / GUI}"}) == []


def test_a_wrong_cookie_and_a_missing_server_are_one_line_errors(gui_studio, xvfb):
    wrong = xvfb.folder / "wrong"
    subprocess.run(["xauth", "-f", str(wrong), "add", f":{xvfb.number}", ".",
                    secrets.token_hex(16)], check=True, capture_output=True)
    proc = _start(gui_studio, f":{xvfb.number}", wrong)
    proc.stdin.close()
    assert proc.wait(timeout=240) == 1
    assert proc.stderr.read().strip().splitlines() == [
        f"error: the X server at :{xvfb.number} refused the cookie for display {xvfb.number} "
        f"from {wrong}: Invalid MIT-MAGIC-COOKIE-1 key"]
    xvfb.stop()  # its socket is gone with it
    proc = _start(gui_studio, f":{xvfb.number}", xvfb.xauthority)
    proc.stdin.close()
    assert proc.wait(timeout=240) == 1
    assert proc.stderr.read().strip().splitlines() == [
        f"error: the X server at :{xvfb.number} has no socket /tmp/.X11-unix/X{xvfb.number} "
        "(a container reaches an X server only through it)"]


def test_the_per_launch_file_is_what_xauth_makes_of_the_artists(xvfb):
    """The FamilyWild file is the one `xauth nlist :N | sed 's/^..../ffff/' | xauth -f F
    nmerge -` makes (but for the host name in the address, which FamilyWild ignores), and
    ``xauth`` reads it."""
    from landscape.engine.display import XAUTHORITY_FILE, parse_xauthority, x11_setup

    setup = x11_setup({"DISPLAY": f":{xvfb.number}", "XAUTHORITY": str(xvfb.xauthority)})
    ours = xvfb.folder / "ours"
    ours.write_bytes(setup.files[XAUTHORITY_FILE])
    nlist = subprocess.run(["xauth", "-f", str(xvfb.xauthority), "nlist", f":{xvfb.number}"],
                           check=True, capture_output=True, text=True).stdout
    theirs = xvfb.folder / "theirs"
    subprocess.run(["xauth", "-f", str(theirs), "nmerge", "-"], input="ffff" + nlist[4:],
                   check=True, capture_output=True, text=True)
    [a], [b] = parse_xauthority(ours.read_bytes()), parse_xauthority(theirs.read_bytes())
    assert (a.family, a.number, a.name, a.data) == (b.family, b.number, b.name, b.data)
    assert b.address == socket.gethostname().encode() and a.address == b""
    listed = subprocess.run(["xauth", "-f", str(ours), "list"], check=True,
                            capture_output=True, text=True).stdout.split()
    assert listed == [f"#ffff##:{xvfb.number}", "MIT-MAGIC-COOKIE-1", xvfb.cookie]
