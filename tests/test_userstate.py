"""The user's state at launch, without Docker: ``launch.home`` (the container configuration
of each mode, the folder made per user, project and tool), secrets (declared, masked, read
only at launch, never stored), the audit trail (atomic appends, ``history``), and
``launch --host`` with the example's python tool run on this machine. The attacks on them
are in tests/security/test_userstate_attacks.py."""

from __future__ import annotations

import json
from dataclasses import replace
import os
import signal
import subprocess
import sys
from multiprocessing import Process
from pathlib import Path

import pytest

from conftest import landscape_exe
from landscape import grammar
from landscape.context import resolve
from landscape.engine import audit, home as homes, secrets as sec
from landscape.engine import workspace as ws
from landscape.engine.launch import container_config, launch_spec
from landscape.errors import LandscapeError
from landscape.launchinputs import LaunchInputs
from landscape.userstate import SecretSpec, UserState

SH010 = "projects/lighthouse/seq010/sh010"
SH020 = "projects/lighthouse/seq010/sh020"
PLANTED = "s3cr3t-PLANTED-c0ffee"


def add_to_root(studio: Path, text: str) -> None:
    root = studio / "landscape.yaml"
    root.write_text(root.read_text() + text)


def tool_secrets(studio: Path, text: str) -> None:
    """Give the root's python tool ``secrets:`` (``text``: its indented YAML lines)."""
    root = studio / "landscape.yaml"
    root.write_text(root.read_text().replace("    dirs: [scripts]\n",
                                             "    dirs: [scripts]\n    secrets:\n" + text))


def refused(result, *needles: str) -> str:
    assert result.code == 1 and "Traceback" not in result.err, result
    for n in needles:
        assert n in result.err, (n, result.err)
    return result.err


def secret(path=None, env=None, as_file=False, name="S") -> SecretSpec:
    """A secret declared at ``/studio/landscape.yaml:7:9`` in the python tool."""
    return SecretSpec(name, "env" if env else "file", env or path, None if env else path,
                      as_file, "/studio/landscape.yaml", 7, 9,
                      ("tools", "python", "secrets", name))


# -- config --------------------------------------------------------------------------------------

def test_check_and_schema_know_the_new_keys(example, cli):
    add_to_root(example, "launch: {home: ephemeral, home_root: homes, audit: syslog, "
                "audit_required: true}\nsecrets: {RLM_LICENSE: {from_env: RLM_LICENSE}}\n")
    tool_secrets(example, "      TOKEN: {from_file: ~/.config/studio/t, as: file}\n")
    assert cli("check", example).code == 0
    schema = json.loads(cli("schema").out)
    assert set(schema["properties"]["launch"]["properties"]) >= {
        "home", "home_root", "audit", "audit_required"}
    assert "secrets" in schema["properties"] and "secrets" in schema["$defs"]["tool"][
        "properties"]
    add_to_root(example, "")
    (example / "landscape.yaml").write_text((example / "landscape.yaml").read_text().replace(
        "home: ephemeral", "home: roaming"))
    refused(cli("check", example), "launch.home: must be one of 'persistent', 'ephemeral', "
            "'host'")


def test_resolve_json_and_context_file_show_secrets_masked(example, cli, monkeypatch):
    monkeypatch.setenv("RLM_LICENSE", PLANTED)
    add_to_root(example, "secrets: {RLM_LICENSE: {from_env: RLM_LICENSE}}\n")
    tool_secrets(example, "      TOKEN: {from_file: ~/.config/studio/t, as: file}\n")
    r = cli("resolve", example / SH010, "--tool", "python", "--json")
    assert r.code == 0, r
    env = json.loads(r.out)["env"]
    assert env["RLM_LICENSE"] == "<secret from env RLM_LICENSE>"
    assert env["TOKEN"] == "<secret from file ~/.config/studio/t, as file>"
    explained = json.loads(cli("resolve", example / SH010, "--tool", "python", "--json",
                               "--explain").out)["env"]["RLM_LICENSE"]
    assert explained["from"].endswith("landscape.yaml:" + str(
        (example / "landscape.yaml").read_text().splitlines().index(
            "secrets: {RLM_LICENSE: {from_env: RLM_LICENSE}}") + 1))
    text = cli("resolve", example / SH010, "--tool", "python", "--explain")
    assert "RLM_LICENSE=<secret from env RLM_LICENSE>  secret @ " in text.out
    assert PLANTED not in text.out
    rc = resolve(example / SH010, tool="python")
    inputs = rc.launch_inputs()
    assert "RLM_LICENSE" not in inputs.env  # values are read at launch, not resolved
    assert inputs.context_json["env"]["RLM_LICENSE"] == "<secret from env RLM_LICENSE>"
    record = json.dumps(inputs.to_record())
    assert PLANTED not in record and PLANTED not in r.out
    assert LaunchInputs.from_record(json.loads(record)).user_state == inputs.user_state
    cache = Path(os.environ["LANDSCAPE_CACHE_DIR"]) / "resolve"
    assert list(cache.glob("*.json"))
    for f in cache.glob("*.json"):
        assert PLANTED not in f.read_text()


# -- homes ------------------------------------------------------------------------------------

def test_a_missing_home_root_is_an_error_and_the_default_is_made(tmp_path, monkeypatch):
    state = UserState(home_root=str(tmp_path / "nowhere"))
    with pytest.raises(LandscapeError, match="does not exist"):
        homes.prepare_home(state, str(homes.persistent_folder(state, "a", "p", "t")), "a",
                           "p", "t")
    monkeypatch.setenv("LANDSCAPE_DATA_DIR", str(tmp_path / "data"))
    folder = homes.persistent_folder(UserState(), "a", "p", "t/variant")
    assert folder == tmp_path / "data" / "homes" / "a" / "p" / "t"
    homes.prepare_home(UserState(), str(folder), "a", "p", "t/variant")
    assert folder.is_dir() and (folder.stat().st_mode & 0o777) == 0o700


def _spec(example, home_text=None, tool="python"):
    if home_text:
        add_to_root(example, home_text)
    return launch_spec(resolve(example / SH010, tool=tool), [])


def test_a_folder_calling_itself_by_another_projects_name_gets_another_home(example):
    """A folder below project ``lighthouse`` that says ``level: project`` and is named
    like another project is that project by name only: homes and warm workspaces go by the
    project's folder and studio root too, so it never shares their state."""
    project = example / "projects/lighthouse/seq010/lighthouse"
    other = project / "sh010"
    other.mkdir(parents=True)
    (project / "landscape.yaml").write_text("level: project\n")
    (other / "landscape.yaml").write_text("level: shot\n")
    a, b = _spec(example), launch_spec(resolve(other, tool="python"), [])
    assert a.labels["io.landscape.project"] == b.labels["io.landscape.project"] == "lighthouse"
    assert a.home_source != b.home_source
    from landscape.engine.workspace import identity

    assert identity(replace(a, image="sha256:x", home_source=None), "/r", "lighthouse", 60) \
        != identity(replace(b, image="sha256:x", home_source=None), "/r", "lighthouse", 60)


def test_home_modes_in_the_container_configuration(example):
    spec = _spec(example)  # persistent, the default
    host = container_config(spec, [])["HostConfig"]
    assert spec.home not in host["Tmpfs"]
    assert {"Type": "bind", "Source": spec.home_source, "Target": spec.home,
            "ReadOnly": False} in host["Mounts"]
    assert spec.home_source.endswith("/homes/" + "/".join(
        (grammar.folder_name(spec.home_names[0]), spec.home_names[1], "python")))
    spec = _spec(example, "launch: {home: ephemeral}\n")
    host = container_config(spec, [])["HostConfig"]
    assert spec.home_source is None and host["Tmpfs"][spec.home].endswith("mode=0700")
    assert all(m["Target"] != spec.home for m in host["Mounts"])


def test_a_host_home_is_mounted_at_its_own_path(example, monkeypatch, tmp_path):
    import pwd

    real = pwd.getpwuid(os.getuid()).pw_dir
    spec = _spec(example, "launch: {home: host}\n")
    assert spec.home == spec.home_source == os.path.realpath(real)
    assert f":{spec.home}:" in spec.files["/etc/passwd"]
    assert spec.environment["HOME"] == spec.home
    with pytest.raises(LandscapeError, match="cannot mount"):
        monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError()))
        monkeypatch.setenv("HOME", "/etc")
        homes.host_home(os.getuid())


def test_another_home_is_another_workspace(example):
    spec = _spec(example)
    spec.image = "sha256:" + "ab" * 32
    other = _spec(example, "launch: {home: ephemeral}\n")
    other.image = spec.image
    assert ws.identity(spec, "/s", "p", 60) != ws.identity(other, "/s", "p", 60)
    blender = _spec(example, "", tool="blender")  # ephemeral now: the same home
    blender.image = spec.image
    assert blender.home_source is None


# -- secrets ----------------------------------------------------------------------------------

def test_a_secret_is_read_at_launch_and_errors_name_where_it_was_declared(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "t").write_text(PLANTED + "\n")
    values = sec.read_secrets([secret("~/t"), secret("~/t", as_file=True, name="F"),
                               secret(env="MY_VAR", name="E")], {"MY_VAR": "v"})
    assert values.env == {"S": PLANTED, "E": "v"} and values.files == {"F": (PLANTED + "\n")
                                                                          .encode()}
    with pytest.raises(LandscapeError) as e:
        sec.read_secrets([secret(env="MISSING"), secret("~/none", name="N")], {})
    text = str(e.value)
    assert "landscape.yaml:7:9: tools.python.secrets.S: secret S is not set: the environment " \
           "variable MISSING is not set" in text
    assert "secret N cannot be read from ~/none: No such file or directory" in text
    with pytest.raises(LandscapeError, match="is empty"):
        sec.read_secrets([secret(env="E")], {"E": ""})


def test_secret_files_are_private_on_a_tmpfs_and_removed(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    folder = sec.write_secret_files({"A": PLANTED.encode()})
    try:
        assert str(folder).startswith(f"/dev/shm/landscape-{os.getuid()}/secrets/")
        assert (folder.stat().st_mode & 0o777) == 0o700
        assert ((folder / "A").stat().st_mode & 0o777) == 0o400
        assert (folder / "A").read_bytes() == PLANTED.encode()
    finally:
        sec.remove_folder(folder)
    assert not folder.exists()


def test_secrets_reach_the_container_config_only_as_intended(example, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RLM_LICENSE", PLANTED)
    (tmp_path / "t").write_text(PLANTED + "-file")
    add_to_root(example, "secrets: {RLM_LICENSE: {from_env: RLM_LICENSE}}\n")
    tool_secrets(example, "      TOKEN: {from_file: ~/t, as: file}\n")
    spec = launch_spec(resolve(example / SH010, tool="python"), [])
    spec.image = "sha256:" + "ab" * 32
    assert spec.environment["RLM_LICENSE"] == PLANTED
    assert spec.environment["TOKEN"] == "/run/secrets/TOKEN"
    assert spec.secret_files == {"TOKEN": (PLANTED + "-file").encode()}
    config = container_config(spec, [], secrets="/dev/shm/x")
    assert f"RLM_LICENSE={PLANTED}" in config["Env"]
    assert PLANTED not in json.dumps(config["Labels"]) + json.dumps(config["HostConfig"])
    assert {"Type": "bind", "Source": "/dev/shm/x", "Target": "/run/secrets",
            "ReadOnly": True} in config["HostConfig"]["Mounts"]
    assert PLANTED not in ws.identity(spec, "/s", "p", 60)
    folder = tmp_path / "wsfolder"
    folder.mkdir()
    body = ws.workspace_config(spec, folder, "/s", "p", 60, "d" * 64, None)
    assert PLANTED not in json.dumps(body)
    for f in folder.iterdir():
        assert PLANTED not in f.read_text()
    exec_body = ws.exec_config(spec, "0" * 16, {}, tty=False, stdin=True)
    assert f"RLM_LICENSE={PLANTED}" in exec_body["Env"]  # over the socket, as data
    argv = ws.exec_argv("landscape-ws-x", exec_body, spec.secret_env)
    assert "--env=RLM_LICENSE" in argv and PLANTED not in " ".join(argv)


# -- audit ------------------------------------------------------------------------------------

def _inputs(example, text="", tool="python", shot=SH010):
    add_to_root(example, text)
    return resolve(example / shot, tool=tool).launch_inputs()


def _append(folder, n):
    from types import SimpleNamespace

    inputs = SimpleNamespace(
        user_state=UserState(audit=folder), tool="blender/render", root="/s",
        project="p", context="/s/p/" + "x" * 900, image=SimpleNamespace(key="sha256:k"),
        project_dir="/nonexistent")
    for i in range(n):
        with audit.audited(inputs, "cold", "launch", None) as record:
            record.exit = i


def test_concurrent_launches_append_whole_records(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    procs = [Process(target=_append, args=(str(folder), 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    files = list(folder.iterdir())
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o644
    lines = files[0].read_bytes().splitlines()
    assert len(lines) == 200
    records = [json.loads(line) for line in lines]
    assert all(r["tool"] == "blender" and r["variant"] == "render" for r in records)
    assert sorted(r["exit"] for r in records) == sorted(list(range(50)) * 4)
    assert all(len(line) < audit.MAX_RECORD for line in lines)


def test_a_record_names_the_launch_and_never_its_environment(example, tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_LICENSE", PLANTED)
    (tmp_path / "log").mkdir()
    inputs = _inputs(example, f"launch: {{audit: {tmp_path / 'log'}}}\n"
                     "secrets: {RLM_LICENSE: {from_env: RLM_LICENSE}}\n")
    with audit.audited(inputs, "warm", "shell", "sha256:" + "cd" * 32) as record:
        record.exit = 3
    (f,) = (tmp_path / "log").iterdir()
    assert f.name.endswith(".jsonl") and "_" in f.name and "@" in f.name
    data = json.loads(f.read_text())
    assert data["context"] == str(example / SH010) and data["tool"] == "python"
    assert data["variant"] is None and data["mode"] == "warm" and data["command"] == "shell"
    assert data["exit"] == 3 and data["image"] == "sha256:" + "cd" * 32
    assert data["lock"].startswith("sha256:")  # the example project has a landscape.lock
    assert data["start"].endswith("Z") and data["end"] >= data["start"]
    assert data["image_key"] == inputs.image.key and data["project"] == "lighthouse"
    assert PLANTED not in f.read_text() and "env" not in data


def test_an_audit_that_cannot_be_written_warns_or_refuses(example, tmp_path, capsys):
    inputs = _inputs(example, f"launch: {{audit: {tmp_path / 'missing'}}}\n")
    with audit.audited(inputs, "cold", "launch", None) as record:
        record.exit = 0
    assert capsys.readouterr().err.count("warning: no audit record for this launch: the "
                                         "audit folder") == 1
    root = example / "landscape.yaml"
    root.write_text(root.read_text().replace("missing}", "missing, audit_required: true}"))
    inputs = resolve(example / SH010, tool="python").launch_inputs()
    assert inputs.user_state.audit_required
    with pytest.raises(LandscapeError, match="not launched: its audit record cannot be "
                       "written"):
        audit.audited(inputs, "cold", "launch", None)


def test_history_filters_by_context_and_user(example, tmp_path, cli):
    """Records of two users (each in a file the user owns), filtered by context and user; a
    record naming another user than its file's owner is a forgery and never shown."""
    import pwd

    if os.getuid() != 0:
        pytest.skip("needs root to write another user's audit file")
    me = pwd.getpwuid(os.getuid()).pw_name
    log = tmp_path / "log"
    log.mkdir()
    add_to_root(example, "launch: {audit: %s}\n" % log)
    for user, ctx in ((me, SH010), ("nobody", SH020), (me, "projects/lighthouse/seq020/sh030"),
                      (me, SH020)):
        forged = user == me and ctx == SH020  # written into nobody's file under my name
        owner = "nobody" if forged else user
        line = {"user": user, "context": str(example / ctx), "start": f"2026-01-0{len(ctx) % 9}T"
                f"00:00:00.000Z", "tool": "python", "mode": "cold", "exit": 0}
        f = log / f"2026-01_{owner}@h.jsonl"
        with open(f, "a") as out:
            out.write(json.dumps(line) + "\n")
        os.chown(f, pwd.getpwnam(owner).pw_uid, 0)
    (log / "2026-01_nobody@h.jsonl").open("a").write("not json\n" + "[" * 100000 + "\n")
    r = cli("history", example / "projects/lighthouse/seq010", "--json")
    assert r.code == 0, r
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert sorted(r["user"] for r in rows) == sorted([me, "nobody"])
    rows = [json.loads(line) for line in cli("history", "--root", example, "--user", me,
                                             "--json").out.splitlines()]
    assert sorted(r["context"] for r in rows) == sorted([
        str(example / SH010), str(example / "projects/lighthouse/seq020/sh030")])
    r = cli("history", example / SH020, "--json")
    assert r.code == 0 and [json.loads(x)["user"] for x in r.out.splitlines()] == ["nobody"]
    (example / "landscape.yaml").write_text((example / "landscape.yaml").read_text().replace(
        f"audit: {log}", "audit: syslog"))
    refused(cli("history", example), "recorded in syslog")


# -- launch --host ----------------------------------------------------------------------------

HOST_PROBE = ("import json, os, sys, studio_pipeline as sp; "
              "ctx = json.load(open(os.environ['LANDSCAPE_CONTEXT_FILE'])); "
              "print(json.dumps({'cwd': os.getcwd(), 'exe': os.path.realpath(sys.executable), "
              "'pythonpath': os.environ['PYTHONPATH'], 'home': os.environ['HOME'], "
              "'shot': os.environ['LANDSCAPE_SHOT'], 'version': sp.__version__, "
              "'res': ctx['metadata']['resolution'], 'token': os.environ.get('TOKEN'), "
              "'secret': open(os.environ['FILE_TOKEN']).read()})); sys.exit(7)")


def test_host_launch_runs_the_python_tool_of_the_example_on_this_machine(example, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    add_to_root(example, f"launch: {{audit: {log}}}\n"
                "secrets: {TOKEN: {from_env: MY_TOKEN}}\n")
    tool_secrets(example, "      FILE_TOKEN: {from_file: ~/t, as: file}\n")
    (tmp_path / "t").write_text("file-secret")
    env = dict(os.environ, MY_TOKEN="env-secret", HOME=str(tmp_path))
    for _ in range(2):  # a fresh resolve, then the fast path from the resolve cache
        r = subprocess.run([*landscape_exe(), "launch", "--host", str(example / SH020),
                            "--tool", "python", "--", "-c", HOST_PROBE], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 7, r.stderr
        assert r.stderr.startswith("note: --host runs the tool on this machine, not in a "
                                   "container")
        data = json.loads(r.stdout.strip().splitlines()[-1])
        assert data == {"cwd": str(example / SH020 / "work/python"),
                        "exe": os.path.realpath("/usr/bin/python3"),
                        "pythonpath": str(example / "packages/studio_pipeline/1.0.0/python"),
                        "home": str(tmp_path), "shot": "sh020", "version": "1.0.0",
                        "res": [640, 272], "token": "env-secret", "secret": "file-secret"}
        assert (example / SH020 / "work/python/scripts").is_dir()
    records = [json.loads(line) for f in log.iterdir() for line in f.read_text().splitlines()]
    assert [(r["mode"], r["exit"], r["image"]) for r in records] == [("host", 7, None)] * 2


def test_host_launch_passes_signals_to_the_tool(example):
    proc = subprocess.Popen(
        [*landscape_exe(), "launch", "--host", str(example / SH010), "--tool", "python", "--",
         "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM, proc.stderr.read()


def test_shell_on_the_host_runs_piped_commands_in_the_contexts_environment(example):
    r = subprocess.run([*landscape_exe(), "shell", "--host", str(example / SH020), "--tool",
                        "python"], input='echo "$LANDSCAPE_SHOT $(pwd)"; exit 3\n',
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == f"sh020 {example / SH020 / 'work/python'}"
    assert r.stderr.startswith("note: --host runs the tool on this machine")


def test_host_launch_refuses_what_every_launch_refuses(example, cli):
    (example / SH010 / "landscape.yaml").write_text(
        "level: shot\ntools: {python: {capabilities: [SYS_PTRACE]}}\n")
    refused(cli("launch", "--host", example / SH010, "--tool", "python"),
            "policy.allowed_capabilities does not allow")
    r = cli("launch", "--host", "--warm", example / SH010, "--tool", "python")
    assert r.code == 2 and "exclude each other" in r.err


def test_image_folders_map_back_to_the_repositories(example):
    from landscape.engine.hostlaunch import to_host

    inputs = resolve(example / SH010, tool="python").launch_inputs()
    py = next(p for p in inputs.image.packages if p.name == "python")
    assert to_host(inputs, f"{py.image_base}/bin:/usr/bin") == f"{py.base}/bin:/usr/bin"
    assert to_host(inputs, f"{py.image_base}1/bin") == f"{py.image_base}1/bin"  # not 3.111
    assert sys.executable  # the test runs where the example's python is the host's


def test_syslog_gets_the_same_record(example, monkeypatch):
    import syslog

    sent = []
    monkeypatch.setattr(syslog, "openlog", lambda *a: sent.append(("open", a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: sent.append(("log", a)))
    inputs = _inputs(example, "launch: {audit: syslog}\n")
    with audit.audited(inputs, "cold", "launch", None) as record:
        record.exit = 0
    assert sent[0] == ("open", ("landscape", syslog.LOG_PID, syslog.LOG_USER))
    kind, (priority, text) = sent[1]
    assert priority == syslog.LOG_INFO and json.loads(text)["context"] == str(example / SH010)


def test_the_secret_folder_in_the_runtime_folder_keeps_the_agents_folder_private(
        tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert sec.secret_base() == runtime / "landscape" / "secrets"
    for folder in (runtime / "landscape", runtime / "landscape" / "secrets"):
        assert (folder.stat().st_mode & 0o777) == 0o700  # the launch agent's folder too
    (runtime / "landscape").chmod(0o755)  # not private: not used, and warm launches go on
    with pytest.raises(LandscapeError, match="not a private folder"):
        sec.secret_base()
    assert ws.secrets_folder("landscape-ws-x") is None
