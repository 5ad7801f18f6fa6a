"""Displays and GPUs without an engine or an X server: the Xauthority format and the
FamilyWild rewrite, ``DISPLAY`` forms, which cookie Xlib would use, the display a launch
gets, and the exact container configuration of ``gpu: true`` on each kind of machine
(the machine passed in as a :class:`~landscape.engine.gpu.GpuHost`).

A real X server (Xvfb with ``-auth``) and real containers: test_display_docker.py."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_tree
from landscape.context import resolve
from landscape.engine import display as dp
from landscape.engine import gpu as gp
from landscape.engine.launch import container_config, launch_spec, write_files
from landscape.errors import LandscapeError

SH010 = "projects/lighthouse/seq010/sh010"
COOKIE = bytes(range(16))
#: ``xauth -f F add :57 . 000102…0f`` on host ``vm``, as xauth writes it
XAUTH_FILE = bytes.fromhex("0100 0002 766d 0002 3537 0012" + b"MIT-MAGIC-COOKIE-1".hex()
                           + "0010" + COOKIE.hex())


def plant(base: Path, rel: str, text: str) -> None:
    write_tree(base, {rel: text})


def entry(family=dp.FAMILY_LOCAL, address=b"vm", number=b"57", name=dp.MIT_COOKIE,
          data=COOKIE):
    return dp.XauthEntry(family, address, number, name, data)


# --- the Xauthority file --------------------------------------------------------------------

def test_an_xauth_written_file_is_read_and_rewritten_as_a_wild_entry():
    [e] = dp.parse_xauthority(XAUTH_FILE)
    assert e == entry()
    wild = dp.dump_xauthority([dp.wild_entry(e, 57)])
    # family ffff, no address, number "57", the same name and cookie: what
    # `xauth nlist :57 | sed 's/^..../ffff/' | xauth -f F nmerge -` means
    assert wild == bytes.fromhex("ffff 0000 0002 3537 0012" + b"MIT-MAGIC-COOKIE-1".hex()
                                 + "0010" + COOKIE.hex())


FIELD = st.binary(max_size=300)


@settings(max_examples=200)
@given(st.lists(st.builds(dp.XauthEntry, st.integers(0, 0xFFFF), FIELD, FIELD, FIELD, FIELD),
                max_size=5))
def test_xauthority_round_trip(entries):
    assert dp.parse_xauthority(dp.dump_xauthority(entries)) == entries


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_parse_to_the_complete_entries_before_a_cut(data):
    entries = dp.parse_xauthority(data)  # never raises
    whole = dp.dump_xauthority(entries)
    assert data.startswith(whole)  # a cut entry at the end is dropped, as libXau does


def test_reading_an_xauthority_file(tmp_path):
    f = tmp_path / "auth"
    f.write_bytes(XAUTH_FILE + XAUTH_FILE[:7])  # a cut entry after a whole one
    assert dp.read_xauthority(f) == ([entry()], "")
    assert dp.read_xauthority(tmp_path / "none") == ([], "no such file or directory")
    (tmp_path / "empty").write_bytes(b"")
    assert dp.read_xauthority(tmp_path / "empty") == ([], "empty")
    os.mkfifo(tmp_path / "fifo")  # never blocks
    assert dp.read_xauthority(tmp_path / "fifo") == ([], "not a regular file")
    assert dp.xauthority_path({"XAUTHORITY": str(f), "HOME": "/h"}) == f
    assert dp.xauthority_path({"HOME": "/h"}) == Path("/h/.Xauthority")


def test_the_cookie_xlib_would_use():
    local = [(dp.FAMILY_LOCAL, b"vm")]
    other_host = entry(address=b"elsewhere")
    other_display = entry(number=b"1")
    xdm = entry(name=b"XDM-AUTHORIZATION-1")
    assert dp.find_cookie([other_host, other_display, xdm], local, 57) is None
    assert dp.find_cookie([other_host, entry()], local, 57) == entry()
    any_number = entry(number=b"")
    assert dp.find_cookie([any_number], local, 57) == any_number
    wild = entry(family=dp.FAMILY_WILD, address=b"")
    assert dp.find_cookie([wild], local, 57) == wild
    inet = entry(family=dp.FAMILY_INTERNET, address=bytes([192, 0, 2, 7]), number=b"0")
    assert dp.find_cookie([inet], [(dp.FAMILY_INTERNET, bytes([192, 0, 2, 7]))], 0) == inet
    assert dp.find_cookie([inet], local, 0) is None


# --- DISPLAY --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, host, number, screen, local_name", [
    (":0", "", 0, None, ":0"),
    (":0.0", "", 0, 0, ":0.0"),
    ("unix:0", "", 0, None, ":0"),
    ("unix/:1.2", "", 1, 2, ":1.2"),
    ("localhost:10.0", "localhost", 10, 0, ":10.0"),
    ("tcp/localhost:10", "localhost", 10, None, ":10"),
    ("workstation.studio:0", "workstation.studio", 0, None, ":0"),
    ("[::1]:3", "::1", 3, None, ":3"),
])
def test_display_forms(text, host, number, screen, local_name):
    d = dp.parse_display(text)
    assert (d.host, d.number, d.screen, d.local_name()) == (host, number, screen, local_name)
    assert d.local == (host == "")


@pytest.mark.parametrize("text", ["", "0", ":", ":x", ":0.", ":0.x", "host::0", "decnet::0",
                                  "/tmp/launch-x/org.xquartz:0", "ftp/host:0", ":99999999",
                                  "unix/host:0", ":٣"])
def test_displays_that_cannot_be_used(text):
    with pytest.raises(LandscapeError, match="is not an X display this launch can use"):
        dp.parse_display(text)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_any_display_text_parses_or_is_refused(text):
    try:
        d = dp.parse_display(text)
    except LandscapeError as e:
        assert "\n" not in str(e)
        return
    assert d.local_name().lstrip(":").replace(".", "").isdigit()


# --- the display a launch gets ---------------------------------------------------------------

@pytest.fixture
def x11(tmp_path):
    """A folder holding X server sockets ``X0`` and ``X10`` (nothing answers: the setups
    below do not probe) and an Xauthority file with cookies for both on this host."""
    folder = tmp_path / "x11"
    folder.mkdir()
    socks = []
    for n in (0, 10):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(folder / f"X{n}"))
        socks.append(s)
    auth = tmp_path / "auth"
    host = socket.gethostname().encode()
    auth.write_bytes(dp.dump_xauthority([entry(address=host, number=b"0", data=b"a" * 16),
                                         entry(address=host, number=b"10", data=b"b" * 16)]))
    yield folder, auth
    for s in socks:
        s.close()


@pytest.mark.parametrize("display, number, inside", [
    (":0", 0, ":0"), (":0.0", 0, ":0.0"), ("unix:0", 0, ":0"),
    ("localhost:10.0", 10, ":10.0"), ("127.0.0.1:10", 10, ":10")])
def test_a_local_display_gets_the_socket_folder_and_a_wild_cookie(x11, display, number, inside):
    folder, auth = x11
    setup = dp.x11_setup({"DISPLAY": display, "XAUTHORITY": str(auth)}, x11_dir=str(folder),
                         check=False)
    assert setup.binds == [(str(folder), "/tmp/.X11-unix", "ro")]
    assert setup.env == {"DISPLAY": inside, "XAUTHORITY": dp.XAUTHORITY_FILE}
    cookie = (b"a" if number == 0 else b"b") * 16
    assert dp.parse_xauthority(setup.files[dp.XAUTHORITY_FILE]) == [
        dp.XauthEntry(dp.FAMILY_WILD, b"", str(number).encode(), dp.MIT_COOKIE, cookie)]


def test_a_display_without_its_socket_is_refused(x11):
    folder, auth = x11
    with pytest.raises(LandscapeError, match=r"^the X server at :3 has no socket .*/X3 \("):
        dp.x11_setup({"DISPLAY": ":3"}, x11_dir=str(folder), check=False)
    with pytest.raises(LandscapeError) as e:  # ssh -X: a TCP port on the host's loopback
        dp.x11_setup({"DISPLAY": "localhost:11.0"}, x11_dir=str(folder), check=False)
    assert str(e.value).startswith("DISPLAY=localhost:11.0 is a TCP display on this machine's "
                                   "loopback (as SSH X forwarding makes), which a container "
                                   "cannot reach")


def test_a_remote_display_is_passed_as_given(tmp_path):
    auth = tmp_path / "auth"
    auth.write_bytes(dp.dump_xauthority([entry(family=dp.FAMILY_INTERNET,
                                               address=bytes([192, 0, 2, 7]), number=b"0")]))
    setup = dp.x11_setup({"DISPLAY": "192.0.2.7:0", "XAUTHORITY": str(auth)}, check=False)
    assert setup.binds == [] and setup.env["DISPLAY"] == "192.0.2.7:0"
    assert dp.parse_xauthority(setup.files[dp.XAUTHORITY_FILE])[0].data == COOKIE


def test_no_cookie_passes_no_xauthority(x11, tmp_path):
    folder, _ = x11
    setup = dp.x11_setup({"DISPLAY": ":0", "XAUTHORITY": str(tmp_path / "none")},
                         x11_dir=str(folder), check=False)
    assert setup.files == {} and "XAUTHORITY" not in setup.env and setup.drop == ["XAUTHORITY"]


def test_a_gui_launch_needs_a_display():
    with pytest.raises(LandscapeError) as e:
        dp.display_setup({"HOME": "/h"}, "maya")
    assert str(e.value) == ("tool 'maya' asks for a display (gui: true), but neither DISPLAY "
                            "nor WAYLAND_DISPLAY is set (launch it from a desktop session, or "
                            "with DISPLAY naming an X server)")


def _gui_tool(example, fields="gui: true"):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: true}\n")
    plant(example, f"{SH010}/landscape.yaml", f"level: shot\ntools: {{python: {{{fields}}}}}\n")
    return resolve(example / SH010, tool="python")


def test_the_container_of_a_gui_launch(example, x11, tmp_path):
    folder, auth = x11
    rc = _gui_tool(example)
    shown = dp.display_setup({"DISPLAY": ":0", "XAUTHORITY": str(auth)}, "python", check=False,
                             x11_dir=str(folder))
    spec = launch_spec(rc, [], display=shown, gpus=gp.GpuHost())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    files = write_files(spec, scratch)
    config = container_config(spec, files)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["DISPLAY"] == ":0" and env["XAUTHORITY"] == "/tmp/.landscape-xauthority"
    assert env["QT_X11_NO_MITSHM"] == "1"
    mounts = {m["Target"]: m for m in config["HostConfig"]["Mounts"]}
    assert mounts["/tmp/.X11-unix"] == {"Type": "bind", "Source": str(folder),
                                        "Target": "/tmp/.X11-unix", "ReadOnly": True}
    cookie = mounts["/tmp/.landscape-xauthority"]
    assert cookie["ReadOnly"] is True
    st_ = os.stat(cookie["Source"])
    assert stat.S_IMODE(st_.st_mode) == 0o600 and st_.st_uid == spec.uid  # the user's alone
    assert Path(cookie["Source"]).read_bytes() == shown.files[dp.XAUTHORITY_FILE]
    assert stat.S_IMODE(os.stat(mounts["/etc/passwd"]["Source"]).st_mode) == 0o644
    assert str(auth) not in str(config)  # the artist's own file is never mounted


def test_landscape_owns_the_display_variables(example, x11):
    folder, _ = x11
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: true}\n")
    plant(example, f"{SH010}/landscape.yaml", """
        level: shot
        tools: {python: {gui: true}}
        env: {DISPLAY: "evil:0", XAUTHORITY: /etc/shadow, QT_X11_NO_MITSHM: "0"}
    """)
    rc = resolve(example / SH010, tool="python")
    shown = dp.display_setup({"DISPLAY": ":0", "XAUTHORITY": "/nowhere"}, "python",
                             check=False, x11_dir=str(folder))
    spec = launch_spec(rc, [], display=shown)
    assert spec.environment["DISPLAY"] == ":0"
    assert "XAUTHORITY" not in spec.environment  # no cookie: none passed, not the config's
    assert spec.environment["QT_X11_NO_MITSHM"] == "1"


# --- GPUs -------------------------------------------------------------------------------------

NVIDIA = gp.GpuHost(nvidia=True, nvidia_toolkit=True)
DRI = gp.GpuHost(dri=(("/dev/dri/card0", 44), ("/dev/dri/renderD128", 993)))
HYBRID = gp.GpuHost(nvidia=True, nvidia_toolkit=True, dri=DRI.dri)
NO_TOOLKIT = gp.GpuHost(nvidia=True, dri=DRI.dri)
NOTHING = gp.GpuHost()
DRI_DEVICES = [{"PathOnHost": "/dev/dri/card0", "PathInContainer": "/dev/dri/card0",
                "CgroupPermissions": "rwm"},
               {"PathOnHost": "/dev/dri/renderD128", "PathInContainer": "/dev/dri/renderD128",
                "CgroupPermissions": "rwm"}]
ALL_GPUS = [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
NVIDIA_ENV = ["NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility",
              "NVIDIA_VISIBLE_DEVICES=all"]


def _configs(example, host, fields="gpu: true"):
    plant(example, f"{SH010}/landscape.yaml", f"level: shot\ntools: {{python: {{{fields}}}}}\n")
    rc = resolve(example / SH010, tool="python")
    gpu = launch_spec(rc, [], gpus=host)
    plain = launch_spec(rc, [], gpus=host)
    plain.devices, plain.gpus = [], False
    plain.group_add = [str(g) for g in os.getgroups() if g != os.getgid()]
    plain.environment = {k: v for k, v in plain.environment.items()
                         if not k.startswith("NVIDIA_")}
    plain.environment["NVIDIA_VISIBLE_DEVICES"] = "void"
    files = [("/tmp/f0", "/etc/passwd")]
    return gpu, container_config(gpu, files), container_config(plain, files)


def _gpu_part(config):
    host = config["HostConfig"]
    return ({k: host[k] for k in ("Devices", "DeviceRequests", "GroupAdd")},
            sorted(e for e in config["Env"] if e.startswith("NVIDIA_")))


def _same_but_gpus(a, b):
    """``a`` and ``b`` differ in nothing but the GPU fields."""
    strip = {**a, "Env": [e for e in a["Env"] if not e.startswith("NVIDIA_")],
             "HostConfig": {k: v for k, v in a["HostConfig"].items()
                            if k not in ("Devices", "DeviceRequests", "GroupAdd")}}
    other = {**b, "Env": [e for e in b["Env"] if not e.startswith("NVIDIA_")],
             "HostConfig": {k: v for k, v in b["HostConfig"].items()
                            if k not in ("Devices", "DeviceRequests", "GroupAdd")}}
    return strip == other


def _groups(*gids):
    own = [str(g) for g in os.getgroups() if g != os.getgid()]
    return (own + [str(g) for g in gids if str(g) not in own and g != os.getgid()]) or None


def test_gpu_on_an_nvidia_machine(example):
    spec, config, plain = _configs(example, NVIDIA)
    assert _gpu_part(config) == ({"Devices": None, "DeviceRequests": ALL_GPUS,
                                  "GroupAdd": _groups()}, NVIDIA_ENV)
    assert _same_but_gpus(config, plain) and spec.warnings == []


def test_gpu_on_an_nvidia_machine_with_dri_nodes(example):
    spec, config, plain = _configs(example, HYBRID)
    assert _gpu_part(config) == ({"Devices": DRI_DEVICES, "DeviceRequests": ALL_GPUS,
                                  "GroupAdd": _groups(44, 993)}, NVIDIA_ENV)
    assert _same_but_gpus(config, plain) and spec.warnings == []
    assert ":x:44:" in spec.files["/etc/group"] and ":x:993:" in spec.files["/etc/group"]


def test_gpu_on_a_mesa_machine(example):
    spec, config, plain = _configs(example, DRI)
    assert _gpu_part(config) == ({"Devices": DRI_DEVICES, "DeviceRequests": None,
                                  "GroupAdd": _groups(44, 993)},
                                 ["NVIDIA_VISIBLE_DEVICES=void"])
    assert _same_but_gpus(config, plain) and spec.warnings == []


def test_gpu_on_an_nvidia_machine_without_the_container_toolkit(example):
    spec, config, _ = _configs(example, NO_TOOLKIT)
    assert _gpu_part(config) == ({"Devices": DRI_DEVICES, "DeviceRequests": None,
                                  "GroupAdd": _groups(44, 993)},
                                 ["NVIDIA_VISIBLE_DEVICES=void"])
    assert spec.warnings == ["tool 'python': this machine has an NVIDIA driver but not the "
                             "NVIDIA Container Toolkit (nvidia-container-runtime-hook), so no "
                             "NVIDIA GPU; it gets only /dev/dri"]


def test_gpu_on_a_machine_without_one_falls_back_to_software_rendering(example):
    spec, config, plain = _configs(example, NOTHING)
    assert _gpu_part(config) == ({"Devices": None, "DeviceRequests": None,
                                  "GroupAdd": _groups()}, ["NVIDIA_VISIBLE_DEVICES=void"])
    assert config == plain
    assert spec.warnings == ["tool 'python' asks for a GPU (gpu: true), but this machine has no "
                             "GPU a container can use (no NVIDIA driver, no /dev/dri device you "
                             "may open): it runs with software rendering"]


def test_a_tool_may_name_other_nvidia_driver_capabilities(example):
    spec, config, _ = _configs(example, NVIDIA, 'gpu: true, env: {NVIDIA_DRIVER_CAPABILITIES: '
                               '"graphics,compute,utility,video"}')
    assert "NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility,video" in config["Env"]


def test_no_gpu_no_gpu_configuration(example):
    spec, config, plain = _configs(example, HYBRID, "gpu: false")
    assert config == plain and spec.warnings == []
    assert _gpu_part(config)[1] == ["NVIDIA_VISIBLE_DEVICES=void"]


def test_gpu_detection(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in ("nvidia-smi", "nvidia-container-runtime-hook"):
        (bin_ / name).write_text("#!/bin/sh\n")
        (bin_ / name).chmod(0o755)
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "card0").symlink_to("/dev/null")  # a link, not a device node: not passed
    (dri / "renderD128").write_text("")
    (dri / "by-path").mkdir()
    none = str(tmp_path / "no-proc")
    assert gp.detect(str(dri), none, str(bin_)) == NVIDIA
    (bin_ / "nvidia-container-runtime-hook").unlink()
    assert gp.detect(str(dri), none, str(bin_)) == gp.GpuHost(nvidia=True)
    proc = tmp_path / "version"
    proc.write_text("NVRM version: …\n")
    assert gp.detect(str(tmp_path / "no-dri"), str(proc), str(tmp_path)).nvidia is True
    assert gp.detect(str(tmp_path / "no-dri"), none, str(tmp_path)) == NOTHING


def test_workspace_identity_follows_devices_and_gpus_but_not_the_cookie(example, x11):
    from landscape.engine.workspace import identity

    folder, auth = x11
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: true}\n")
    plant(example, f"{SH010}/landscape.yaml", "level: shot\ntools: {python: {gui: true, "
          "gpu: true}}\n")
    rc = resolve(example / SH010, tool="python")

    def ident(host, env):
        shown = dp.display_setup(env, "python", check=False, x11_dir=str(folder))
        spec = launch_spec(rc, [], gpus=host, display=shown)
        spec.image = "sha256:" + "ab" * 32
        return identity(spec, "/studio", "lighthouse", 60)

    base = {"DISPLAY": ":0", "XAUTHORITY": str(auth)}
    assert ident(DRI, base) == ident(DRI, {**base, "DISPLAY": ":10"})  # per launch
    auth.write_bytes(dp.dump_xauthority([entry(address=socket.gethostname().encode(),
                                               number=b"0", data=b"c" * 16)]))
    assert ident(DRI, base) == ident(DRI, {**base, "XAUTHORITY": "/none"})
    assert len({ident(h, base) for h in (DRI, NVIDIA, HYBRID, NOTHING)}) == 4
