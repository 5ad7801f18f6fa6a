"""``landscape deploy --swarm`` without Docker: the pure transform of a stack's compose
document into what ``docker stack deploy`` honours (:func:`swarm_document`) on the example's
document and on hostile declared services, every refusal and warning, the Compose
Specification schema and Compose v1 accepting the result, task progress from recorded
Engine API answers, and the CLI's one-line preconditions."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from landscape.cascade import build_cascade
from landscape.engine.deploy import (GPU_RESOURCE, NO_NEW_PRIVILEGES_LOST, REFUSED,
                                     stack_progress, swarm_document, swarm_service)
from landscape.engine.stack import compose_document
from landscape.errors import LandscapeError
from landscape.plan import make_plan

PROJECT = "schema: landscape/v1\nlevel: project\npackages: [studio_pipeline-1.1]\n"
FEATURES = ("features:\n  postgresql: {port: 15432}\n"
            "  syncthing: {gui_port: 18384, sync_port: 22900}\n  dailies: {port: 18080}\n")
REG = "127.0.0.1:5000"
DIGEST = "sha256:" + "ab" * 32


@dataclasses.dataclass
class Policy:
    allowed_binds: tuple[str, ...] = ("127.0.0.1",)


WIDE = Policy(("127.0.0.1", "0.0.0.0"))


def _digests(doc: dict) -> dict[str, str]:
    return {svc["image"]: f"{REG}/landscape/lighthouse@{DIGEST}"
            for svc in doc["services"].values() if svc["image"].startswith("landscape/")}


@pytest.fixture
def example_doc(example):
    proj = example / "projects/lighthouse"
    (proj / "landscape.yaml").write_text(PROJECT + FEATURES)
    cascade = build_cascade(proj, ())
    return compose_document(make_plan(proj, workers=1), cascade)


def test_the_example_stack_becomes_a_swarm_stack(example_doc):
    doc, warnings = swarm_document(example_doc, _digests(example_doc), WIDE)
    services = doc["services"]
    assert set(services) == set(example_doc["services"])
    for name, svc in services.items():
        assert svc["image"] == f"{REG}/landscape/lighthouse@{DIGEST}", name
        assert "security_opt" not in svc and "restart" not in svc and "tmpfs" not in svc
        assert svc["deploy"]["restart_policy"] == {"condition": "any"}
        assert svc["cap_drop"] == ["ALL"] and svc["user"] and svc["init"] is True
        for port in svc.get("ports", []):
            assert port["mode"] == "host" and port["protocol"] == "tcp"
    pg = services["postgresql"]
    assert pg["read_only"] is True
    assert pg["ports"] == [{"target": 5432, "published": 15432, "protocol": "tcp",
                            "mode": "host"}]
    assert [v["target"] for v in pg["volumes"] if v["type"] == "tmpfs"] == ["/tmp", "/run"]
    assert services["syncthing"]["ports"][1]["published"] == 22900
    # the environment and labels are untouched (the workspace keeps its local tag's name)
    ws = next(s for n, s in services.items() if n.startswith("workspace-"))
    assert ws["environment"]["LANDSCAPE_IMAGE"].startswith("landscape/lighthouse:")
    assert ws["labels"]["io.landscape.role"] == "workspace"
    assert warnings.count(NO_NEW_PRIVILEGES_LOST) == 1
    assert sum("published on every address" in w for w in warnings) == 4
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc
    # the compose document itself is unchanged (pure)
    assert "security_opt" in example_doc["services"]["dailies"]


def test_a_loopback_port_is_refused_unless_policy_allows_every_address(example_doc):
    with pytest.raises(LandscapeError, match=r"service 'postgresql': ports 15432 is published "
                       r"on 127\.0\.0\.1.*allowed_binds does not allow 0\.0\.0\.0"):
        swarm_document(example_doc, _digests(example_doc), Policy())


def test_an_ipv6_any_port_is_not_widened_to_ipv4_by_a_swarm(example_doc):
    """A root that allows ``::`` but not ``0.0.0.0``: a host-mode port would take every
    IPv4 address too, so it is refused."""
    doc = {"version": "3.8", "services": {"web": {
        "image": "x@" + DIGEST, "ports": ["[::]:8080:80"]}}}
    with pytest.raises(LandscapeError, match="allowed_binds does not allow 0.0.0.0"):
        swarm_document(doc, {}, Policy(("127.0.0.1", "::")))


def _check_jsonschema() -> str:
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.fail("check-jsonschema (test extra) is not installed", pytrace=False)
    return exe


def test_swarm_and_compose_files_validate_against_the_compose_spec(example_doc, tmp_path):
    doc, _ = swarm_document(example_doc, _digests(example_doc), WIDE)
    files = [tmp_path / "swarm.yaml", tmp_path / "compose.yaml"]
    files[0].write_text(yaml.safe_dump(doc, sort_keys=False))
    files[1].write_text(yaml.safe_dump(example_doc, sort_keys=False))
    r = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.compose-spec",
                        *map(str, files)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose (v1) is not installed", pytrace=False)
    for f in files:
        r = subprocess.run(["docker-compose", "-f", str(f), "config", "-q"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode == 0, (f.name, r.stderr)


def _svc(**extra) -> dict:
    return {"image": "landscape/lighthouse:abc", **extra}


DIGESTS = {"landscape/lighthouse:abc": f"{REG}/landscape/lighthouse@{DIGEST}"}


def _one(svc: dict, policy=WIDE) -> tuple[dict, list[str]]:
    doc, warnings = swarm_document({"version": "3.8", "services": {"svc": svc}}, DIGESTS,
                                   policy)
    return doc["services"]["svc"], warnings


@pytest.mark.parametrize("key,value", [
    ("devices", ["/dev/null:/dev/null"]), ("privileged", True), ("network_mode", "host"),
    ("userns_mode", "host"), ("pid", "host"), ("ipc", "host"), ("build", "."),
    ("pids_limit", 100), ("cgroup_parent", "x"), ("container_name", "db"),
    ("links", ["a"]), ("external_links", ["b"]), ("security_opt", ["seccomp=unconfined"]),
    ("security_opt", ["no-new-privileges:true", "apparmor=unconfined"]),
    ("volumes_from", ["x"]), ("mem_limit", "1g"), ("platform", "linux/arm64"),
    ("tmpfs", ["/tmp:mode=1777"]), ("tmpfs", ["relative"]), ("tmpfs", 5),
    ("restart", "sometimes"), ("shm_size", "lots"), ("ports", ["1:2:3:4"]),
    ("ports", ["80-90:80"]), ("ports", [{"target": "x"}]), ("deploy", {"bogus": 1}),
    ("deploy", {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"],
                                                             "count": "all"}]}}}),
    ("deploy", {"resources": {"reservations": {"devices": [{"capabilities": ["tpu"]}]}}}),
])
def test_what_a_swarm_cannot_honour_is_refused_naming_service_and_key(key, value):
    with pytest.raises(LandscapeError) as e:
        _one(_svc(**{key: value}))
    assert e.value.message.startswith("deploy --swarm: service 'svc': ")
    assert key in e.value.message
    assert "\n" not in e.value.message


def test_every_refused_key_is_refused():
    for key in REFUSED:
        with pytest.raises(LandscapeError, match=f"service 'svc': {key} "):
            _one(_svc(**{key: "host" if key != "privileged" else True}))


def test_images_must_be_landscape_s_or_pinned_by_digest():
    with pytest.raises(LandscapeError, match="neither a Landscape image nor pinned by digest"):
        _one({"image": "postgres:16"})
    with pytest.raises(LandscapeError, match="image is missing"):
        _one({"command": ["x"]})
    pinned = f"docker.io/library/postgres@{DIGEST}"
    assert _one({"image": pinned})[0]["image"] == pinned
    with pytest.raises(LandscapeError, match="neither"):
        _one({"image": f"postgres:16@{DIGEST[:-1]}"})


@pytest.mark.parametrize("restart,policy", [
    ("no", {"condition": "none"}), ("always", {"condition": "any"}),
    ("unless-stopped", {"condition": "any"}), ("on-failure", {"condition": "on-failure"}),
    ("on-failure:3", {"condition": "on-failure", "max_attempts": 3}),
])
def test_restart_becomes_a_restart_policy(restart, policy):
    svc, _ = _one(_svc(restart=restart))
    assert svc["deploy"]["restart_policy"] == policy
    # a restart_policy the service gives itself wins
    svc, _ = _one(_svc(restart=restart, deploy={"restart_policy": {"condition": "none"}}))
    assert svc["deploy"]["restart_policy"] == {"condition": "none"}


def test_tmpfs_and_shm_size_become_tmpfs_volumes():
    svc, _ = _one(_svc(tmpfs=["/tmp", "/cache:size=64m"], shm_size="1gb",
                       volumes=[{"type": "bind", "source": "/a", "target": "/a"}]))
    assert svc["volumes"] == [
        {"type": "bind", "source": "/a", "target": "/a"},
        {"type": "tmpfs", "target": "/tmp"},
        {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": 64 << 20}},
        {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 1 << 30}}]
    assert _one(_svc(tmpfs="/run", shm_size=1024))[0]["volumes"] == [
        {"type": "tmpfs", "target": "/run"},
        {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 1024}}]


def test_ports_become_long_syntax_in_host_mode():
    svc, warnings = _one(_svc(ports=["0.0.0.0:8000-8001:80-81/udp", "9000",
                                     {"target": 53, "published": 5353, "protocol": "udp"}]),
                         Policy())
    assert svc["ports"] == [
        {"target": 80, "published": 8000, "protocol": "udp", "mode": "host"},
        {"target": 81, "published": 8001, "protocol": "udp", "mode": "host"},
        {"target": 9000, "protocol": "tcp", "mode": "host"},
        {"target": 53, "published": 5353, "protocol": "udp", "mode": "host"}]
    assert warnings == []  # every address was asked for: nothing is lost
    # IPv6's every address is not IPv4's: it widens, so it needs 0.0.0.0 and is reported
    svc, warnings = _one(_svc(ports=["[::]:7000:70"]), WIDE)
    assert svc["ports"] == [{"target": 70, "published": 7000, "protocol": "tcp", "mode": "host"}]
    assert any("was on ::" in w for w in warnings)
    with pytest.raises(LandscapeError, match="published on 10.0.0.5"):
        _one(_svc(ports=[{"target": 80, "published": 80, "host_ip": "10.0.0.5"}]), Policy())


def test_gpu_reservations_become_generic_resources():
    svc, _ = _one(_svc(deploy={"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "count": 2, "capabilities": ["gpu"]}]}}}))
    assert svc["deploy"]["resources"]["reservations"] == {
        "generic_resources": [{"discrete_resource_spec": {"kind": GPU_RESOURCE, "value": 2}}]}


def test_losses_are_warnings():
    svc, warnings = _one(_svc(security_opt=["no-new-privileges"], depends_on=["db"],
                              expose=["80"], privileged=False))
    assert set(svc) == {"image"}
    assert warnings == [NO_NEW_PRIVILEGES_LOST,
                        "service 'svc': depends_on is dropped (Swarm starts a stack's "
                        "services in no order)",
                        "service 'svc': expose is dropped (services on the stack's network "
                        "reach every port of each other)"]


def test_bad_names_and_top_level_keys_are_refused():
    with pytest.raises(LandscapeError, match="service name"):
        swarm_service("a b", _svc(), DIGESTS, (), [])
    with pytest.raises(LandscapeError, match="service name"):
        swarm_service("-x", _svc(), DIGESTS, (), [])
    with pytest.raises(LandscapeError, match="top-level key 'include'"):
        swarm_document({"services": {}, "include": ["x"]}, {}, WIDE)
    with pytest.raises(LandscapeError, match="no services"):
        swarm_document({"version": "3.8"}, {}, WIDE)


_text = st.text(max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_text, labels=st.dictionaries(_text, _text, max_size=3),
       env=st.dictionaries(_text, _text, max_size=3), path=_text, port=_text, tmpfs=_text,
       restart=_text, shm=_text)
def test_hypothesis_any_strings_give_plain_data_or_one_line_refusals(
        name, labels, env, path, port, tmpfs, restart, shm):
    svc = _svc(labels=labels, environment=env, ports=[port], tmpfs=[tmpfs], restart=restart,
               shm_size=shm, volumes=[{"type": "bind", "source": path, "target": path}],
               working_dir=path)
    try:
        doc, warnings = swarm_document({"version": "3.8", "services": {name: svc}}, DIGESTS,
                                       WIDE)
    except LandscapeError as e:
        assert e.message and "\n" not in e.message.replace("\\n", "")
        return
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc
    assert all(isinstance(w, str) for w in warnings)


# -- task progress from recorded Engine API answers ---------------------------------------

STACK = "landscape-lighthouse-0123456789"


def _service(sid: str, name: str, replicas: int = 1) -> dict:
    return {"ID": sid, "Spec": {"Name": f"{STACK}_{name}",
                                "Mode": {"Replicated": {"Replicas": replicas}}}}


def _task(sid: str, state: str, desired: str = "running", err: str = "",
          created: str = "2026-12-07T17:00:05.123456789Z") -> dict:
    return {"ServiceID": sid, "DesiredState": desired, "CreatedAt": created,
            "Status": {"State": state, "Err": err, "Message": state}}


SINCE = 1796662800.0  # 2026-12-07T17:00:00Z


def test_progress_counts_running_tasks():
    services = [_service("a", "dailies"), _service("b", "postgresql", 2)]
    tasks = [_task("a", "running"), _task("b", "running"), _task("b", "preparing"),
             _task("b", "shutdown", desired="shutdown")]
    progress, error = stack_progress(services, tasks, STACK, SINCE + 10, SINCE)
    assert progress == {"dailies": (1, 1), "postgresql": (1, 2)} and error is None


def test_progress_reports_rejected_failed_and_unplaced_tasks():
    services = [_service("a", "dailies")]
    _, error = stack_progress(services, [_task("a", "rejected", err="invalid mount config")],
                              STACK, SINCE + 10, SINCE)
    assert error == "service dailies: the Swarm rejected its task: invalid mount config"
    failed = [_task("a", "failed", "shutdown", "task: non-zero exit (1)")] * 2
    assert stack_progress(services, failed, STACK, SINCE + 10, SINCE)[1] == \
        "service dailies: its task failed: task: non-zero exit (1)"
    assert stack_progress(services, failed[:1], STACK, SINCE + 10, SINCE)[1] is None
    pending = [_task("a", "pending", err="no suitable node (insufficient resources on 1 node)")]
    assert stack_progress(services, pending, STACK, SINCE + 6, SINCE)[1] is None
    assert "no node can run it: no suitable node" in \
        stack_progress(services, pending, STACK, SINCE + 60, SINCE)[1]
    # tasks of an earlier deploy do not count
    old = [_task("a", "rejected", "shutdown", "x", created="2026-12-07T16:00:00Z")]
    assert stack_progress(services, old, STACK, SINCE + 10, SINCE)[1] is None


# -- the CLI ---------------------------------------------------------------------------------

def test_deploy_without_swarm_is_a_usage_error(example, cli):
    r = cli("deploy", example / "projects/lighthouse")
    assert r.code == 2
    assert "landscape up` brings a stack up on this machine" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_deploy_with_no_engine_is_one_line(example, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    r = cli("deploy", example / "projects/lighthouse", "--swarm")
    assert r.code == 1, r
    assert len([line for line in r.err.splitlines() if line.strip()]) <= 2, r.err
    assert "Traceback" not in r.err
    assert not (Path(example) / ".landscape/stacks/lighthouse/swarm.yaml").exists()


def test_declared_services_of_a_project_file(example):
    """Declared services come from a hostile project file: judged by the policy as for
    ``up``, then converted or refused by the transform."""
    proj = example / "projects/lighthouse"
    pinned = f"docker.io/library/redis@{DIGEST}"
    (proj / "landscape.yaml").write_text(PROJECT + (
        "services:\n"
        "  cache:\n"
        f"    image: {pinned}\n"
        "    ports: ['127.0.0.1:16379:6379']\n"
        "    tmpfs: ['/data:size=32m']\n"
        "    shm_size: 256m\n"
        "    restart: on-failure:2\n"
        "    environment: {EVIL: \"$HOME\\nx: y\", NAME: \"a\\u2028b\"}\n"
        "    labels: {note: \"}\\n{\"}\n"))
    cascade = build_cascade(proj, ())
    doc = compose_document(make_plan(proj, workers=1), cascade)
    out, warnings = swarm_document(doc, _digests(doc), WIDE)
    cache = out["services"]["cache"]
    assert cache["image"] == pinned
    assert cache["environment"]["EVIL"] == "$$HOME\nx: y"  # data, escaped as for up
    assert cache["deploy"]["restart_policy"] == {"condition": "on-failure", "max_attempts": 2}
    assert {"type": "tmpfs", "target": "/data", "tmpfs": {"size": 32 << 20}} in cache["volumes"]
    assert {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 256 << 20}} in \
        cache["volumes"]
    assert cache["ports"] == [{"target": 6379, "published": 16379, "protocol": "tcp",
                               "mode": "host"}]
    assert yaml.safe_load(yaml.safe_dump(out)) == out
    with pytest.raises(LandscapeError, match="service 'cache': ports 16379"):
        swarm_document(doc, _digests(doc), cascade.policy)  # default: 127.0.0.1 only
    (proj / "landscape.yaml").write_text(PROJECT + "services:\n  db:\n    image: postgres:16\n")
    doc = compose_document(make_plan(proj, workers=1), build_cascade(proj, ()))
    with pytest.raises(LandscapeError, match="service 'db': image 'postgres:16' is neither"):
        swarm_document(doc, _digests(doc), WIDE)


def test_a_stack_deploy_that_drops_options_is_removed_and_fails(monkeypatch):
    from landscape.engine import deploy as dep
    from landscape.errors import EngineError

    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        out = "Ignoring unsupported options: restart\nCreating service x_y\n" \
            if cmd[2] == "deploy" else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(dep.subprocess, "run", run)
    with pytest.raises(EngineError, match="dropped options .*Ignoring unsupported options: "
                       "restart.*bug of Landscape's Swarm transform"):
        dep.deploy_stack("/s/swarm.yaml", STACK)
    assert calls == [["docker", "stack", "deploy", "--with-registry-auth", "-c",
                      "/s/swarm.yaml", STACK], ["docker", "stack", "rm", STACK]]
