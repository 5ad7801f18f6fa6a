"""Class 5 — stacks under policy: ``up`` (the compose document) refuses what ``check``
refuses, with the same messages; features bind to 127.0.0.1."""

from __future__ import annotations

import pytest

from attacks import plant, refused
from landscape.cascade import build_cascade
from landscape.engine.stack import compose_document
from landscape.errors import LandscapeError, flatten
from landscape.plan import make_plan

PROJECT = "projects/lighthouse/landscape.yaml"

SERVICE_ATTACKS = {
    "privileged": ("privileged: true", "needs policy.allow_privileged"),
    "cap_add": ("cap_add: [SYS_ADMIN]", "capability SYS_ADMIN is not in"),
    "cap_add ALL": ("cap_add: [ALL]", "capability ALL is not in"),
    "devices": ("devices: [/dev/sda]", "device /dev/sda is not in policy.allowed_devices"),
    "pid host": ("pid: host", "shares the host's"),
    "ipc host": ("ipc: host", "shares the host's"),
    "userns host": ("userns_mode: host", "shares the host's"),
    "network host": ("network_mode: host", "needs policy.allow_host_network"),
    "network of another container": ("network_mode: 'container:other'",
                                     "joins another container's network"),
    "security_opt": ("security_opt: ['seccomp:unconfined']", "weakens the container"),
    "apparmor": ("security_opt: ['apparmor=unconfined']", "weakens the container"),
    "root user": ("user: '0'", "runs the service as root"),
    "root by name": ("user: 'root:root'", "runs the service as root"),
    # the features' own id owns their state folders and passwords (root brought them up):
    # with it, a service mounting the studio root read-only reads another project's
    # database password, cluster files and Syncthing keys
    "features' user": ("user: '65532'", "takes id 65532, the features' own"),
    "features' group": ("user: '1000:65532'", "takes id 65532, the features' own"),
    "group_add root": ("group_add: [0]", "adds the root group"),
    "group_add root by name": ("group_add: [root]", "adds the root group"),
    "group_add features' group": ("group_add: ['65532']", "group_add 65532 is the features'"),
    "volume of /": ("volumes: ['/:/host']", "/ is outside policy.allowed_mounts"),
    "docker socket": ("volumes: ['/var/run/docker.sock:/var/run/docker.sock']",
                      "/var/run/docker.sock (really /run/docker.sock) is outside"),
    "long syntax bind": ("volumes: [{type: bind, source: /etc, target: /e}]",
                         "/etc is outside policy.allowed_mounts"),
    "relative escape": ("volumes: ['../../../../../../../../etc:/e']",
                        "/etc is outside policy.allowed_mounts"),
    "bind over landscape": ("volumes: ['.:/landscape']", "target /landscape is reserved"),
    "build": ("build: /", "builds an image from a host folder"),
    "env_file": ("env_file: /etc/shadow", "reads files of the host"),
    "sysctls": ("sysctls: {net.ipv4.ip_forward: 1}", "changes kernel settings"),
    "device_cgroup_rules": ("device_cgroup_rules: ['a *:* rwm']", "grants device access"),
    "public port": ("ports: ['8080:80']", "publishing a port on 0.0.0.0"),
    "reserved label": ("labels: {io.landscape.role: workspace}", "label io.landscape.role is "
                       "reserved"),
    # on a Swarm, deploy.labels become the service's labels
    "reserved service label": ("deploy: {labels: {com.docker.stack.namespace: other}}",
                               "label com.docker.stack.namespace is reserved"),
    # the engine (root) would send the container's output to any address the config names
    "remote logging": ("logging: {driver: syslog, options: {syslog-address: "
                       "'tcp://10.0.0.1:514'}}", "logging driver 'syslog' sends"),
    "gelf logging": ("logging: {driver: gelf}", "logging driver 'gelf' sends"),
}


def _plant(example, name):
    fragment, _ = SERVICE_ATTACKS[name]
    plant(example, PROJECT, "level: project\nservices:\n  agent:\n    image: x\n"
          f"    {fragment}\n")


@pytest.mark.parametrize("name", list(SERVICE_ATTACKS))
def test_check_and_up_refuse_alike(example, cli, name):
    _plant(example, name)
    message = SERVICE_ATTACKS[name][1]
    err = refused(cli("check", example), "lighthouse/landscape.yaml:", message)
    check_lines = {line for line in err.splitlines() if "services.agent" in line}
    plan = make_plan(example / "projects/lighthouse")
    with pytest.raises(LandscapeError) as e:
        compose_document(plan, build_cascade(example / "projects/lighthouse"))
    up_lines = {str(x) for x in flatten(e.value)}
    assert check_lines and check_lines <= {line for line in up_lines} | check_lines
    assert any(message in line for line in up_lines), up_lines
    assert {line.split(": ", 1)[1] for line in check_lines} == \
        {line.split(": ", 1)[1] for line in up_lines if "services.agent" in line}


def test_the_root_may_allow_privileges(example, cli):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_privileged: true}\n")
    _plant(example, "privileged")
    assert cli("check", example).code == 0


def test_features_bind_to_loopback_and_are_hardened(example):
    plant(example, PROJECT, "level: project\nfeatures: {dailies: {}}\n")
    doc = compose_document(make_plan(example / "projects/lighthouse"),
                           build_cascade(example / "projects/lighthouse"))
    dailies = doc["services"]["dailies"]
    assert dailies["ports"] == ["127.0.0.1:8080:8080"]
    assert dailies["cap_drop"] == ["ALL"]
    assert dailies["security_opt"] == ["no-new-privileges:true"]
    assert all(v["read_only"] for v in dailies["volumes"])


def test_bind_sources_of_services_are_written_as_judged_real_paths(example):
    (example / "projects/alias").symlink_to(example / "projects/lighthouse")
    plant(example, PROJECT, "level: project\nservices:\n  notes:\n    image: x\n"
          f"    volumes: ['{example}/projects/alias:/data:ro']\n")
    doc = compose_document(make_plan(example / "projects/lighthouse"),
                           build_cascade(example / "projects/lighthouse"))
    assert doc["services"]["notes"]["volumes"] == [
        {"type": "bind", "source": str(example / "projects/lighthouse"), "target": "/data",
         "read_only": True}]


def test_security_opt_given_as_one_string_stays_one_option(example):
    plant(example, PROJECT, "level: project\nservices:\n  notes:\n    image: x\n"
          "    security_opt: no-new-privileges:true\n")
    doc = compose_document(make_plan(example / "projects/lighthouse"),
                           build_cascade(example / "projects/lighthouse"))
    assert doc["services"]["notes"]["security_opt"] == ["no-new-privileges:true"]


def test_two_project_folders_of_one_name_never_share_a_stack(example, cli):
    """A second folder named like a project (``projects/old/lighthouse``, ``level:
    project``) would get the same stack folder and Compose project: its ``up`` would remove
    the first one's containers and run its features on the first one's state and
    passwords."""
    from landscape.engine.stack import claim_stack, stack_dir

    plant(example, "projects/old/lighthouse/landscape.yaml", "level: project\n")
    real = build_cascade(example / "projects/lighthouse")
    twin = build_cascade(example / "projects/old/lighthouse")
    assert (real.project, real.root) == (twin.project, twin.root)
    claim_stack(real.root, real.project, real.project_dir)
    claim_stack(real.root, real.project, real.project_dir)  # the owner again: fine
    with pytest.raises(LandscapeError, match="belongs to the project folder"):
        claim_stack(twin.root, twin.project, twin.project_dir)
    with pytest.raises(LandscapeError, match="belongs to the project folder"):
        claim_stack(twin.root, twin.project, twin.project_dir, record=False)
    # down, ps and logs of the twin refuse in one line before touching the engine
    (stack_dir(real.root, real.project) / "compose.yaml").write_text("services: {}\n")
    refused(cli("down", example / "projects/old/lighthouse"), "belongs to the project folder")
    # a link planted in place of the record is not followed
    marker = stack_dir(real.root, real.project) / "project"
    marker.unlink()
    marker.symlink_to(example / "landscape.yaml")
    with pytest.raises(LandscapeError, match="cannot read"):
        claim_stack(real.root, real.project, real.project_dir)


def test_a_link_planted_as_the_stacks_etc_folder_is_not_written_through(example, tmp_path):
    """``etc/passwd`` and ``etc/group`` of the stack are replaced at each ``up``: a link
    planted in place of ``etc`` (to the host's ``/etc``) must not be followed."""
    from landscape.engine.stack import prepare_feature_state, stack_dir
    from landscape.errors import EngineError

    plant(example, PROJECT, "level: project\nfeatures: {postgresql: {}}\n")
    cascade = build_cascade(example / "projects/lighthouse")
    outside = tmp_path / "host-etc"
    outside.mkdir()
    d = stack_dir(cascade.root, cascade.project)
    d.mkdir(parents=True)
    (d / "etc").symlink_to(outside)
    with pytest.raises(EngineError, match="is not a folder of the stack"):
        prepare_feature_state(cascade)
    assert list(outside.iterdir()) == []
