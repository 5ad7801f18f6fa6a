"""The user's state at launch with a real Docker engine (marked ``docker``): a home that
persists from one launch to the next, cold and warm; planted secrets found only where they
are meant to be (the container's environment, the secret file) and nowhere else — not the
image, a label, ``context.json``, ``resolve --json``, the compose file, the resolve cache,
the audit trail, a workspace, the host's process table; audit records of real launches."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import landscape_exe
from test_userstate import add_to_root, tool_secrets

pytestmark = pytest.mark.docker

SH010 = "projects/lighthouse/seq010/sh010"
SH040 = "projects/lighthouse/seq020/sh040"
ENV_SECRET = "env-s3cr3t-7c1b9e2f4a"
FILE_SECRET = "file-s3cr3t-d41d8cd98f"


@contextmanager
def root_config(studio: Path, text: str, python_secrets: str = ""):
    """The studio root's file with ``text`` appended (and the python tool's ``secrets``),
    restored afterwards: the built studio is shared by the session."""
    root = studio / "landscape.yaml"
    before = root.read_text()
    add_to_root(studio, text)
    if python_secrets:
        tool_secrets(studio, python_secrets)
    try:
        yield
    finally:
        root.write_text(before)


def _launch(studio: Path, shot: str, code: str, *extra: str, env=None, **kw):
    """``landscape launch [--warm] SHOT --tool python -- -c CODE [ARG]``: ``extra`` holds
    the flags (``--…``) and then the tool's one argument."""
    flags = [e for e in extra if e.startswith("--")]
    rest = [e for e in extra if not e.startswith("--")]
    return subprocess.run([*landscape_exe(), "launch", *flags, str(studio / shot), "--tool",
                           "python", "--", "-c", code, *rest], capture_output=True, text=True,
                          timeout=300, env=env, **kw)


PREFS = ("import os, sys; p = os.path.expanduser('~/.config/tool/prefs.txt'); "
         "os.makedirs(os.path.dirname(p), exist_ok=True); "
         "old = open(p).read() if os.path.exists(p) else ''; "
         "open(p, 'w').write(old + sys.argv[1]); print(os.environ['HOME'], old or '-')")
#: cold, then warm, then cold again, across two shots of one project
SEQUENCE = ((SH010, ()), (SH040, ()), (SH010, ("--warm",)), (SH040, ("--warm",)), (SH010, ()))


def test_a_preference_written_in_one_launch_is_read_in_the_next(warm):
    from landscape.engine.home import persistent_folder
    from landscape.identity import user_name
    from landscape.userstate import UserState

    from landscape.context import resolve
    from landscape.engine.launch import project_key

    project = project_key(resolve(warm / SH010, tool="python").launch_inputs())
    folder = persistent_folder(UserState(), user_name(), project, "python")
    prefs = folder / ".config/tool/prefs.txt"
    prefs.unlink(missing_ok=True)
    for i, (shot, extra) in enumerate(SEQUENCE):
        r = _launch(warm, shot, PREFS, *extra, "abcde"[i], stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        home, old = r.stdout.split()
        assert home == ("/root" if os.getuid() == 0 else f"/home/{user_name()}")
        assert old == ("abcde"[:i] or "-"), (i, extra)  # each launch sees all before it
    assert prefs.read_text() == "abcde" and prefs.stat().st_uid == os.getuid()
    assert (folder.stat().st_mode & 0o777) == 0o700


def test_an_ephemeral_home_forgets(built):
    studio, _ = built
    with root_config(studio, "launch: {home: ephemeral}\n"):
        for letter in "ab":
            r = _launch(studio, SH010, PREFS, letter, stdin=subprocess.DEVNULL)
            assert r.returncode == 0, r.stderr
            assert r.stdout.split()[1] == "-"


def _contains(data: bytes, *needles: str) -> list[str]:
    return [n for n in needles if n.encode() in data]


def _scan_image(image: str) -> list[str]:
    """The planted values found in ``docker save`` of ``image`` (read as a stream)."""
    found: set[str] = set()
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    tail = b""
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
        found.update(_contains(tail + chunk, ENV_SECRET, FILE_SECRET))
        tail = chunk[-64:]
    assert proc.wait() == 0
    return sorted(found)


PROBE = ("import hashlib, json, os, sys\n"
         "ctx = open('/landscape/context.json').read() if os.path.exists("
         "'/landscape/context.json') else open(os.environ['LANDSCAPE_CONTEXT_FILE']).read()\n"
         "path = os.environ['TOKEN']\n"
         "digest = lambda b: hashlib.sha256(b).hexdigest()\n"
         "print(json.dumps({'env': digest(os.environ['RLM_LICENSE'].encode()) == sys.argv[1], "
         "'file': digest(open(path, 'rb').read()) == sys.argv[2], 'path': path, "
         "'mode': oct(os.stat(path).st_mode & 0o777), 'owner': os.stat(path).st_uid, "
         "'ctx': ctx}), flush=True)\n"
         "sys.stdin.readline()\n")
#: the tool is given digests of the secrets (its argv is in the container's configuration)
DIGESTS = [hashlib.sha256(s.encode()).hexdigest() for s in (ENV_SECRET, FILE_SECRET)]


def _running(docker_engine, studio):
    for _ in range(300):
        found = docker_engine.containers.list(filters={"label": [
            f"io.landscape.context={studio / SH010}", "io.landscape.role=launch"]})
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no launch container")


def _host_processes() -> str:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
    return "\n".join(out)


def test_planted_secrets_reach_only_the_container(warm, docker_engine, tmp_path, cli):
    import yaml

    from landscape.cascade import build_cascade
    from landscape.engine.stack import compose_document
    from landscape.engine.workspace import host_folder
    from landscape.plan import make_plan

    studio = warm
    home = tmp_path / "home"
    (home / ".config/studio").mkdir(parents=True)
    (home / ".config/studio/token").write_text(FILE_SECRET)
    log = tmp_path / "audit"
    log.mkdir()
    env = dict(os.environ, HOME=str(home), LS_TEST_LICENSE=ENV_SECRET)
    with root_config(studio, f"launch: {{audit: {log}}}\n"
                     "secrets: {RLM_LICENSE: {from_env: LS_TEST_LICENSE}}\n",
                     "      TOKEN: {from_file: ~/.config/studio/token, as: file}\n"):
        args = DIGESTS
        # a cold launch, inspected while it runs
        proc = subprocess.Popen([*landscape_exe(), "launch", str(studio / SH010), "--tool",
                                 "python", "--", "-c", PROBE, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        cold = json.loads(proc.stdout.readline())
        container = _running(docker_engine, studio)
        attrs = container.attrs
        source = next(m["Source"] for m in attrs["Mounts"] if m["Destination"] ==
                      "/run/secrets")
        assert f"RLM_LICENSE={ENV_SECRET}" in attrs["Config"]["Env"]  # where it is meant to be
        assert not _contains(json.dumps(attrs["Config"]["Labels"]).encode(), ENV_SECRET,
                             FILE_SECRET)
        assert not _contains(json.dumps(attrs).encode(), FILE_SECRET)
        assert ENV_SECRET not in _host_processes()
        proc.communicate("\n", timeout=60)
        assert proc.returncode == 0, proc.stderr
        ctx = cold.pop("ctx")
        assert cold == {"env": True, "file": True, "path": "/run/secrets/TOKEN",
                        "mode": "0o400", "owner": os.getuid()}
        assert not _contains(ctx.encode(), ENV_SECRET, FILE_SECRET)
        assert json.loads(ctx)["env"]["RLM_LICENSE"] == "<secret from env LS_TEST_LICENSE>"
        assert not os.path.exists(source)  # the tmpfs folder went with the launch

        # a warm launch: the exec is made from data; the CLI's argv names the variable only
        proc = subprocess.Popen([*landscape_exe(), "launch", "--warm", str(studio / SH010),
                                 "--tool", "python", "--", "-c", PROBE, *args],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        hot = json.loads(proc.stdout.readline())
        processes = _host_processes()
        assert "--env=RLM_LICENSE\x00" in processes and ENV_SECRET not in processes
        proc.communicate("\n", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert hot["env"] and hot["file"] and hot["mode"] == "0o400"
        assert not _contains(hot["ctx"].encode(), ENV_SECRET, FILE_SECRET)
        assert hot["path"].startswith("/run/secrets/") and hot["path"].endswith("/TOKEN")
        (workspace,) = docker_engine.containers.list(filters={"label": [
            "io.landscape.role=workspace", f"io.landscape.root={studio.resolve()}"]})
        assert not _contains(json.dumps(workspace.attrs).encode(), ENV_SECRET, FILE_SECRET)
        for f in host_folder(workspace.name).rglob("*"):
            if f.is_file():
                assert not _contains(f.read_bytes(), ENV_SECRET, FILE_SECRET), f

        # everything Landscape wrote or prints
        r = subprocess.run([*landscape_exe(), "resolve", str(studio / SH010), "--tool",
                            "python", "--json"], capture_output=True, env=env, timeout=300)
        assert r.returncode == 0 and not _contains(r.stdout + r.stderr, ENV_SECRET,
                                                   FILE_SECRET)
        assert b"<secret from file ~/.config/studio/token, as file>" in r.stdout
        cache = Path(os.environ["LANDSCAPE_CACHE_DIR"])
        for f in (cache / "resolve").glob("*.json"):
            assert not _contains(f.read_bytes(), ENV_SECRET, FILE_SECRET), f
        for f in log.iterdir():
            text = f.read_bytes()
            assert not _contains(text, ENV_SECRET, FILE_SECRET)
            assert [json.loads(line)["mode"] for line in text.splitlines()] == ["cold", "warm"]
        plan = make_plan(studio / "projects/lighthouse")
        doc = yaml.safe_dump(compose_document(plan, build_cascade(
            studio / "projects/lighthouse")))
        assert not _contains(doc.encode(), ENV_SECRET, FILE_SECRET)
        image = attrs["Image"]
        assert not _contains(json.dumps(docker_engine.images.get(image).attrs).encode(),
                             ENV_SECRET, FILE_SECRET)
        assert _scan_image(image) == []


def test_a_secret_that_is_not_set_stops_the_launch_without_a_value(built):
    studio, _ = built
    with root_config(studio, "secrets: {RLM_LICENSE: {from_env: LS_TEST_UNSET}}\n"):
        env = {k: v for k, v in os.environ.items() if k != "LS_TEST_UNSET"}
        r = _launch(studio, SH010, "print('ran')", env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "ran" not in r.stdout
    line = next(x for x in r.stderr.splitlines() if "LS_TEST_UNSET" in x)
    assert line.endswith("secrets.RLM_LICENSE: secret RLM_LICENSE is not set: the environment "
                         "variable LS_TEST_UNSET is not set")
    assert "landscape.yaml:" in line and "Traceback" not in r.stderr
