"""Warm launches without the engine: the exact workspace and exec configurations, the
workspace identity, the ``docker exec`` argv serialised from data, ``launch.warm_idle``.

The engine side (reuse, stale images, signals, idle stop) is in test_warm_docker.py."""

from __future__ import annotations

from dataclasses import replace

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_tree
from landscape.cascade import warm_idle
from landscape.context import resolve
from landscape.engine import workspace as ws
from landscape.engine.launch import ENTRY, LaunchSpec, container_config, launch_spec
from landscape.errors import ConfigError, LandscapeError

SH010 = "projects/lighthouse/seq010/sh010"
SH030 = "projects/lighthouse/seq020/sh030"
IMAGE = "sha256:" + "ab" * 32


def _spec(example, shot=SH010, args=("-c", "pass")) -> LaunchSpec:
    spec = launch_spec(resolve(example / shot, tool="python"), list(args))
    spec.image = IMAGE
    return spec


def test_workspace_is_the_launch_container_with_a_watcher(example, tmp_path):
    spec = _spec(example)
    folder = tmp_path / "ws"
    folder.mkdir()
    config = ws.workspace_config(spec, folder, "/studio", "lighthouse", 90, "d" * 64)
    launch = container_config(spec, [])
    host, cold = config["HostConfig"], launch["HostConfig"]
    same = {k for k in cold if k not in ("Mounts", "Tmpfs")}
    assert {k: host[k] for k in same} == {k: cold[k] for k in same}  # hardening, init…
    assert host["Tmpfs"] == {**cold["Tmpfs"], ws.CONTROL:
                             f"rw,nosuid,nodev,noexec,uid={spec.uid},gid={spec.gid},mode=0700"}
    binds = {m["Target"]: m for m in host["Mounts"]}
    assert binds[ws.FILES] == {"Type": "bind", "Source": str(folder), "Target": ws.FILES,
                               "ReadOnly": True}
    assert "/landscape/context.json" not in binds  # per launch, under /run/landscape
    for target in ("/etc/passwd", "/etc/group"):
        assert binds[target]["ReadOnly"] and binds[target]["Source"].startswith(str(folder))
        assert open(binds[target]["Source"]).read() == spec.files[target]
    for source, target, mode in spec.binds:
        assert binds[target] == {"Type": "bind", "Source": source, "Target": target,
                                 "ReadOnly": mode == "ro"}
    assert config["Cmd"] == ["/bin/sh", "-c", ws.WATCHER, "landscape-watch", "90", "9"]
    assert sorted(config["Env"]) == sorted(  # what the runtime reads at creation, too
        f"{k}={spec.environment[k]}" for k in ("HOME", "LOGNAME", "USER",
                                               "NVIDIA_VISIBLE_DEVICES"))
    assert config["User"] == f"{spec.uid}:{spec.gid}" and config["Image"] == IMAGE
    labels = config["Labels"]
    assert labels["io.landscape.role"] == "workspace" and labels["io.landscape.image"] == IMAGE
    assert labels["io.landscape.workspace"] == "d" * 64
    assert labels["io.landscape.user"] == str(spec.uid)
    assert "io.landscape.context" not in labels and "io.landscape.tool" not in labels
    assert config["Tty"] is False and config["OpenStdin"] is False


def test_exec_config_carries_the_launch_environment_and_argv(example):
    spec = _spec(example)
    moved = {"/landscape/context.json": "/run/landscape/0123456789abcdef/context.json"}
    config = ws.exec_config(spec, "0123456789abcdef", moved, tty=False, stdin=True)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LANDSCAPE_CONTEXT_FILE"] == moved["/landscape/context.json"]
    assert {k: v for k, v in env.items() if k != "LANDSCAPE_CONTEXT_FILE"} == \
        {k: v for k, v in spec.environment.items() if k != "LANDSCAPE_CONTEXT_FILE"}
    assert config["Cmd"] == ["/bin/sh", "-c", ws.WRAPPER, "landscape-warm",
                             "0123456789abcdef", *spec.argv]
    assert spec.argv[0] == ENTRY and spec.argv[-2:] == ["-c", "pass"]
    assert config["User"] == f"{spec.uid}:{spec.gid}"
    assert (config["Tty"], config["AttachStdin"]) == (False, True)
    argv = ws.exec_argv("landscape-ws-x", config)
    assert argv[1:4] == ["exec", f"--user={spec.uid}:{spec.gid}", "--interactive"]
    assert "--tty" not in argv
    assert argv[4:4 + len(config["Env"])] == [f"--env={e}" for e in config["Env"]]
    assert argv[4 + len(config["Env"]):] == ["landscape-ws-x", *config["Cmd"]]
    tty = ws.exec_argv("c", ws.exec_config(spec, "0123456789abcdef", moved, True, True))
    assert tty[3:5] == ["--interactive", "--tty"]


def test_identity_is_the_image_user_and_storage_not_the_launch(example):
    a, b = _spec(example), _spec(example, SH030, ("-c", "print(1)"))
    assert a.environment != b.environment and a.argv != b.argv
    key = ws.identity(a, "/studio", "lighthouse", 1800)
    assert ws.identity(b, "/studio", "lighthouse", 1800) == key  # two shots, one workspace
    others = [replace(a, image="sha256:" + "cd" * 32), replace(a, uid=a.uid + 1),
              replace(a, binds=[*a.binds, ("/srv", "/srv", "ro")]),
              replace(a, cap_add=["SYS_PTRACE"]), replace(a, group_add=["27"])]
    assert len({ws.identity(o, "/studio", "lighthouse", 1800) for o in others} | {key}) == 6
    assert ws.identity(a, "/studio", "lighthouse", 60) != key
    assert ws.identity(a, "/other", "lighthouse", 1800) != key


@pytest.mark.parametrize("value, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200),
                                            ("1d", 86400), (45, 45), ("45", 45)])
def test_warm_idle_at_the_studio_root(studio, value, seconds):
    from landscape.cascade import build_cascade

    root = studio({"landscape.yaml": f"""
        root: true
        rez: {{packages_path: [packages]}}
        launch: {{warm_idle: {value!r}}}
    """})
    assert warm_idle(build_cascade(root).files[0].node) == seconds


def test_warm_idle_defaults_to_30_minutes(studio):
    from landscape.cascade import build_cascade

    assert warm_idle(build_cascade(studio({})).files[0].node) == 1800


@pytest.mark.parametrize("value", ["0", "0m", "10x", "-5", "1.5h", True])
def test_a_bad_warm_idle_is_refused_with_its_line(studio, cli, value):
    from landscape.cascade import build_cascade

    root = studio({"landscape.yaml": f"""
        root: true
        rez: {{packages_path: [packages]}}
        launch:
          warm_idle: {value!r}
    """})
    try:
        node = build_cascade(root).files[0].node
    except LandscapeError as e:  # the schema already refuses it
        assert "landscape.yaml:4" in str(e) and "warm_idle" in str(e)
        return
    with pytest.raises(ConfigError) as e:
        warm_idle(node)
    assert "landscape.yaml:4" in str(e.value) and "launch.warm_idle" in str(e.value)


def test_warm_idle_is_root_only(example, cli):
    write_tree(example, {f"{SH010}/landscape.yaml": "level: shot\nlaunch: {warm_idle: 99d}\n"})
    r = cli("check", example)
    assert r.code == 1
    assert "sh010/landscape.yaml:2" in r.err and \
        "launch may only be set in the studio root's landscape.yaml" in r.err, r


@pytest.mark.parametrize("args", [["stop"], ["stop", ".", "--all"], ["ps"]])
def test_stop_and_ps_need_their_target(cli, args):
    r = cli(*args)
    assert r.code == 2 and "Traceback" not in r.err, r


ANY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), ANY,
                           max_size=4), args=st.lists(ANY, max_size=4), launch_id=ANY)
def test_exec_argv_carries_every_value_as_one_argument(env, args, launch_id):
    spec = LaunchSpec(image=IMAGE, argv=[ENTRY, "/w", "0", *args], uid=1000, gid=1000,
                      group_add=[], environment=env, binds=[], home="/home/a", labels={})
    try:
        config = ws.exec_config(spec, launch_id, {}, tty=False, stdin=False)
    except LandscapeError:  # a NUL cannot be carried by an argv: refused, never cut
        assert any("\x00" in v for v in env.values())
        return
    argv = ws.exec_argv("landscape-ws-x", config)
    flags = argv[2:argv.index("landscape-ws-x")]
    assert flags == ["--user=1000:1000", *(f"--env={k}={v}" for k, v in sorted(env.items()))]
    assert argv[argv.index("landscape-ws-x") + 1:] == ["/bin/sh", "-c", ws.WRAPPER,
                                                        "landscape-warm", launch_id,
                                                        *spec.argv]


def test_sigterm_while_a_cold_launch_is_set_up_ends_it_with_its_cleanup():
    """Between the container's creation and the attach (whose handlers pass signals to the
    tool), SIGTERM and SIGHUP end the launch as ``SystemExit(128 + N)``, so its ``finally``
    removes the container and its files; the handlers before are back afterwards."""
    import signal

    from landscape.engine.launch import _signals_end_the_launch

    before = signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(SystemExit) as e, _signals_end_the_launch():
            os.kill(os.getpid(), sig)
        assert e.value.code == 128 + sig
    assert signal.getsignal(signal.SIGTERM) is before
