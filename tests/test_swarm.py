"""``render --swarm`` without an engine: the service spec built from a launch spec (hostile
values serialised as data), what Swarm refuses and what it gives less of, task states, and
the runner against a recorded engine."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.engine.launch import LaunchSpec
from landscape.engine.swarm import (GPU_RESOURCE, NOT_A_MANAGER, NOT_A_SWARM,
                                    Attached, Outcome, SwarmRunner, check_swarm_info, losses,
                                    object_body, object_name, ready_cpus, refusals,
                                    secret_file, service_spec, task_outcome)
from landscape.errors import EngineError, LandscapeError
from landscape.frames import Chunk

DIGEST = "127.0.0.1:5000/landscape/lighthouse@sha256:" + "a" * 64
HOSTILE = ["$(touch /tmp/pwned)", "`id`", "a b\nc", "--privileged", "x;rm -rf /",
           "-v=/:/host", "'\"", "\u202e", "%s{}", "\\x00"]


def launch(**kw) -> LaunchSpec:
    base = dict(image=DIGEST, argv=["/landscape/bin/landscape-enter", "/p/work", "0", "python"],
                uid=1000, gid=1000, group_add=["27", "44"],
                environment={"PATH": "/usr/bin", "EVIL": "$(id); `x`\n--rm"},
                binds=[("/studio/projects", "/studio/projects", "rw"),
                       ("/pkgs/$(x)", "/opt/pkg,ro", "ro")],
                home="/home/artist", labels={"io.landscape.context": "/p/$(x)\nsh010"},
                files={"/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
                       "/landscape/context.json": "{}"},
                file_modes={"/tmp/.X-auth": 0o600}, cap_add=["SYS_NICE"], pids_limit=512)
    base.update(kw)
    return LaunchSpec(**base)


# -- the service spec ------------------------------------------------------------------------

def test_the_service_spec_carries_the_launch_as_data():
    spec = launch()
    configs = [Attached("cid0", "landscape-render-ab-1-f0", "/etc/passwd", 0o644)]
    secrets = [Attached("sid0", "landscape-render-ab-1-s0", "token", 0o400)]
    body = service_spec(spec, "landscape-render-ab-1", {"k": "v;$(x)"}, configs, secrets)
    assert body["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    task = body["TaskTemplate"]
    assert task["RestartPolicy"] == {"Condition": "none"}
    assert task["Resources"] == {"Limits": {"Pids": 512}}
    c = task["ContainerSpec"]
    assert c["Image"] == DIGEST
    assert c["Command"] == spec.argv  # a list: never a shell line
    assert "Args" not in c
    assert c["Env"] == ["EVIL=$(id); `x`\n--rm", "PATH=/usr/bin"]
    assert c["User"] == "1000:1000" and c["Groups"] == ["27", "44"]
    assert c["Init"] is True and c["ReadOnly"] is True
    assert c["CapabilityDrop"] == ["ALL"] and c["CapabilityAdd"] == ["SYS_NICE"]
    assert c["Labels"] == body["Labels"] == {"k": "v;$(x)"}
    mounts = {m["Target"]: m for m in c["Mounts"]}
    assert mounts["/studio/projects"] == {"Type": "bind", "Source": "/studio/projects",
                                          "Target": "/studio/projects", "ReadOnly": False}
    assert mounts["/opt/pkg,ro"] == {"Type": "bind", "Source": "/pkgs/$(x)",
                                     "Target": "/opt/pkg,ro", "ReadOnly": True}
    for target in ("/tmp", "/var/tmp", "/run", "/dev/shm", "/home/artist"):
        assert mounts[target]["Type"] == "tmpfs"
        assert mounts[target]["TmpfsOptions"]["Mode"] == 0o1777
    assert mounts["/dev/shm"]["TmpfsOptions"]["SizeBytes"] == 1 << 30
    assert c["Configs"] == [{"File": {"Name": "/etc/passwd", "UID": "1000", "GID": "1000",
                                      "Mode": 0o644},
                             "ConfigID": "cid0", "ConfigName": "landscape-render-ab-1-f0"}]
    assert c["Secrets"] == [{"File": {"Name": "token", "UID": "1000", "GID": "1000",
                                      "Mode": 0o400},
                             "SecretID": "sid0", "SecretName": "landscape-render-ab-1-s0"}]
    assert "Privileges" not in c  # no-new-privileges has no field at API 1.41: a warning
    json.dumps(body)  # plain JSON data


def test_a_persistent_home_is_a_bind_and_gpus_reserve_a_generic_resource():
    body = service_spec(launch(home_source="/var/lib/landscape/homes/u", gpus=True), "n", {})
    mounts = {m["Target"]: m for m in body["TaskTemplate"]["ContainerSpec"]["Mounts"]}
    assert mounts["/home/artist"] == {"Type": "bind", "Source": "/var/lib/landscape/homes/u",
                                      "Target": "/home/artist", "ReadOnly": False}
    assert body["TaskTemplate"]["Resources"]["Reservations"] == {"GenericResources": [
        {"DiscreteResourceSpec": {"Kind": GPU_RESOURCE, "Value": 1}}]}


@settings(max_examples=200, deadline=None)
@given(args=st.lists(st.text()), env=st.dictionaries(
    st.text(min_size=1).filter(lambda k: "=" not in k and "\0" not in k), st.text()),
       label=st.text())
def test_arbitrary_strings_reach_the_body_verbatim_or_are_refused(args, env, label):
    spec = launch(argv=["/landscape/bin/landscape-enter", *args], environment=env)
    try:
        body = service_spec(spec, "n", {"io.landscape.context": label})
    except LandscapeError as e:
        assert any("\0" in v for v in env.values()), e
        return
    c = body["TaskTemplate"]["ContainerSpec"]
    assert c["Command"][1:] == args
    assert sorted(c["Env"]) == sorted(f"{k}={v}" for k, v in env.items())
    assert c["Labels"]["io.landscape.context"] == label
    assert json.loads(json.dumps(body)) == body


@settings(max_examples=100, deadline=None)
@given(name=st.text(), content=st.one_of(st.text(), st.binary()))
def test_config_bodies_and_secret_names(name, content):
    import base64

    body = object_body("landscape-render-ab-1-f0", content, {"x": name})
    raw = content if isinstance(content, bytes) else content.encode()
    assert base64.b64decode(body["Data"]) == raw and body["Labels"] == {"x": name}
    try:
        assert secret_file(name) == name
    except LandscapeError:
        return
    assert "/" not in name and not name.startswith(".") and "\n" not in name


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "x\n", "a b"])
def test_hostile_secret_file_names_are_refused(name):
    with pytest.raises(LandscapeError):
        secret_file(name)


def test_object_names_are_swarm_names():
    assert object_name("0123abcd0123abcd", 3) == "landscape-render-0123abcd0123abcd-3"
    assert object_name("0123abcd0123abcd", 3, "s1").endswith("-3-s1")
    with pytest.raises(LandscapeError):
        object_name("$(x)", 1)


# -- what holds ------------------------------------------------------------------------------

def test_devices_are_refused_before_anything_starts():
    with pytest.raises(LandscapeError, match="cannot map devices.*/dev/dri/renderD128"):
        refusals(launch(devices=["/dev/dri/renderD128:/dev/dri/renderD128:rwm"]))
    refusals(launch())


def test_each_loss_of_hardening_is_one_warning_line():
    lines = losses(launch())
    assert len(lines) == 3
    assert "no-new-privileges" in lines[0] and "take no owner" in lines[1]
    assert "noexec" in lines[2]
    assert all("\n" not in line for line in lines)
    assert len(losses(launch(home_source="/h"))) == 2
    assert GPU_RESOURCE in losses(launch(home_source="/h", gpus=True))[-1]


def test_preconditions_are_one_line():
    with pytest.raises(LandscapeError) as e:
        check_swarm_info({"Swarm": {"LocalNodeState": "inactive"}})
    assert e.value.message == NOT_A_SWARM
    with pytest.raises(LandscapeError) as e:
        check_swarm_info({})
    assert e.value.message == NOT_A_SWARM
    with pytest.raises(LandscapeError) as e:
        check_swarm_info({"Swarm": {"LocalNodeState": "active", "ControlAvailable": False}})
    assert e.value.message == NOT_A_MANAGER
    check_swarm_info({"Swarm": {"LocalNodeState": "active", "ControlAvailable": True}})
    assert "\n" not in NOT_A_SWARM + NOT_A_MANAGER


def test_the_registry_comes_from_the_studio_root():
    from landscape.engine.render import studio_registry

    class Inputs:
        registry, registry_error = None, None

    why = "--swarm runs the image from the studio registry"
    with pytest.raises(LandscapeError) as e:
        studio_registry(Inputs(), why)
    assert e.value.message.startswith(why + ": set image.registry")
    Inputs.registry_error = "image.registry 'x y' is not a registry location"
    with pytest.raises(LandscapeError, match="not a registry location"):
        studio_registry(Inputs(), why)
    Inputs.registry, Inputs.registry_error = "127.0.0.1:5000", None
    assert studio_registry(Inputs(), why) == "127.0.0.1:5000"


def test_parallel_defaults_to_the_cpus_of_ready_active_nodes():
    node = lambda state, avail, cpus: {  # noqa: E731
        "Status": {"State": state}, "Spec": {"Availability": avail},
        "Description": {"Resources": {"NanoCPUs": cpus * 10**9}}}
    assert ready_cpus([node("ready", "active", 2), node("ready", "active", 8),
                       node("down", "active", 16), node("ready", "drain", 4),
                       node("ready", "pause", 4)]) == 10
    assert ready_cpus([]) == 1
    assert ready_cpus([{"Status": {"State": "ready"}}]) == 1


# -- task states -----------------------------------------------------------------------------

DATA = Path(__file__).parent / "data" / "swarm"


def task(state: str, **status) -> list[dict]:
    return [{"ID": "t1", "NodeID": "n1", "CreatedAt": "2024-01-01T00:00:00Z",
             "Status": {"State": state, "Message": state, **status}}]


@pytest.mark.parametrize("tasks, outcome", [
    ([], Outcome("wait")),
    (task("new"), Outcome("wait")),
    (task("pending"), Outcome("wait")),
    (task("assigned"), Outcome("wait")),
    (task("preparing"), Outcome("wait")),
    (task("running", ContainerStatus={"ContainerID": "c", "PID": 9, "ExitCode": 0}),
     Outcome("wait")),
    (task("complete", ContainerStatus={"ContainerID": "c", "ExitCode": 0}), Outcome("exit", 0)),
    (task("failed", Err="task: non-zero exit (3)",
          ContainerStatus={"ContainerID": "c", "ExitCode": 3}),
     Outcome("exit", 3, "task: non-zero exit (3)")),
])
def test_task_states_map_to_outcomes(tasks, outcome):
    assert task_outcome(tasks) == outcome


def test_recorded_tasks_map_to_outcomes():
    """Task JSON recorded from Engine 20.10 (``GET /tasks``), ids shortened."""
    got = {p.stem: task_outcome(json.loads(p.read_text())) for p in sorted(DATA.glob("*.json"))}
    assert got["complete"] == Outcome("exit", 0)
    assert got["failed-exit-4"].kind == "exit" and got["failed-exit-4"].code == 4
    assert got["rejected-no-image"].kind == "refused"
    assert "No such image" in got["rejected-no-image"].message
    assert got["pending-no-node"].kind == "unplaced"
    assert "no suitable node" in got["pending-no-node"].message
    assert got["running"] == Outcome("wait")


def test_a_rejected_task_is_refused_in_one_line():
    out = task_outcome(task("rejected", Err="No such image:\n x@sha256:00"))
    assert out.kind == "refused" and "\n" not in out.message and "No such image" in out.message
    out = task_outcome(task("failed", Err="starting container failed: no such file"))
    assert out.kind == "refused"  # no container ran: not the tool's exit
    out = task_outcome(task("pending", Err="no suitable node (insufficient resources on 1 node)"))
    assert out.kind == "unplaced"


# -- the runner against a recorded engine ----------------------------------------------------

class FakeEngine:
    """``landscape.engine.docker.api`` for a runner: objects created get ids, the service's
    task goes through ``states`` (one per look), deletions are recorded."""

    def __init__(self, states: list[list[dict]]) -> None:
        self.states, self.objects, self.deleted, self.bodies = list(states), {}, [], []
        self.looks, self.swept = 0, []

    def __call__(self, method, path, query=None, body=None, timeout=600):
        from landscape.engine.docker import APIError

        if method == "POST" and path.endswith("/create"):
            kind = path.split("/")[1]
            oid = f"{kind}-{len(self.objects)}"
            self.objects[oid] = body
            self.bodies.append((kind, body))
            return {"ID": oid}
        if method == "GET" and path == "/tasks":
            self.looks += 1
            return self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if method == "GET" and path == "/containers/json":
            self.swept.append(json.loads(query["filters"])["label"][0])
            return []
        if method == "GET" and path.startswith("/nodes/"):
            return {"Description": {"Hostname": "farm-01\x1b[31m"}}
        if method == "DELETE":
            oid = path.split("/")[-1]
            if oid not in self.objects:
                raise APIError(404, "not found")
            del self.objects[oid]
            self.deleted.append(path)
            return None
        raise AssertionError((method, path))


@pytest.fixture
def engine(monkeypatch):
    from landscape.engine import swarm

    def make(states):
        fake = FakeEngine(states)
        monkeypatch.setattr(swarm.dk, "api", fake)
        monkeypatch.setattr(swarm.SwarmRunner, "_copy_logs",
                            lambda self, service, log, code: log.write_bytes(b"rendering\n"))
        return fake
    return make


def runner(stop=None, **kw) -> SwarmRunner:
    spec = launch(binds=[], secret_files={"token": b"s3cret"})
    return SwarmRunner(spec, "0123abcd0123abcd", stop or threading.Event(), poll=0.001, **kw)


def test_an_attempt_is_one_service_and_everything_it_made_is_removed(engine, tmp_path):
    fake = engine([task("pending"), task("running"),
                   task("failed", ContainerStatus={"ContainerID": "c", "ExitCode": 4})])
    lines = []
    r = runner(log=lines.append)
    code = r(Chunk(1, 2), 1, ["-c", "x", "1,2"], tmp_path / "1-2.1.log")
    assert code == 4
    kinds = [k for k, _ in fake.bodies]
    assert kinds == ["configs", "configs", "secrets", "services"]
    service = fake.bodies[-1][1]
    assert service["TaskTemplate"]["ContainerSpec"]["Command"][-3:] == ["-c", "x", "1,2"]
    labels = service["Labels"]
    assert labels["io.landscape.role"] == "render"
    assert labels["io.landscape.render.id"] == "0123abcd0123abcd"
    assert labels["io.landscape.render.chunk"] == "1-2"
    assert all(body["Labels"] == labels for _, body in fake.bodies)
    assert fake.objects == {}  # service, configs and secret removed
    assert fake.deleted[0].startswith("/services/")
    # Engine 20.10 leaves a removed job's task container: removed by its service's label
    assert fake.swept == [f"com.docker.swarm.service.id={fake.deleted[0].split('/')[-1]}"]
    assert lines == ["service landscape-render-0123abcd0123abcd-1 on node farm-01[31m"]
    assert (tmp_path / "1-2.1.log").read_bytes() == b"rendering\n"


def test_a_task_that_cannot_run_raises_an_engine_error(engine, tmp_path):
    fake = engine([task("rejected", Err="No such image: x@sha256:0")])
    with pytest.raises(EngineError, match="could not run service .*No such image"):
        runner()(Chunk(1, 1), 1, [], tmp_path / "1.1.log")
    assert fake.objects == {}


def test_a_task_no_node_can_take_raises_after_the_grace(engine, tmp_path):
    fake = engine([task("pending", Err="no suitable node (1 node not available)")])
    with pytest.raises(EngineError, match="could not place service"):
        runner(grace=0.05)(Chunk(1, 1), 1, [], tmp_path / "1.1.log")
    assert fake.objects == {} and fake.looks > 2


def test_a_timeout_removes_the_service_and_fails_the_attempt(engine, tmp_path):
    fake = engine([task("running")])
    log = tmp_path / "1.1.log"
    assert runner(timeout=0.05)(Chunk(1, 1), 1, [], log) == 137
    assert fake.objects == {}


def test_stop_all_removes_what_a_running_attempt_made(engine, tmp_path):
    fake = engine([task("running")])
    stop = threading.Event()
    r = runner(stop)
    codes = []
    t = threading.Thread(target=lambda: codes.append(r(Chunk(1, 1), 1, [], tmp_path / "l")))
    t.start()
    while fake.looks < 3:
        pass
    r.stop_all()
    assert fake.objects == {}
    stop.set()
    t.join(5)
    assert codes == [130] and fake.objects == {}
    assert "io.landscape.render.id=0123abcd0123abcd" in fake.swept


def test_nothing_is_created_once_the_render_stops(engine, tmp_path):
    from landscape.engine.render import Interrupted

    fake = engine([task("running")])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        runner(stop)(Chunk(1, 1), 1, [], tmp_path / "l")
    assert fake.objects == {}
