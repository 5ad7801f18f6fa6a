"""``landscape deploy PROJECT --swarm`` for real: the example's stack (workspaces, dailies,
postgresql) deployed to a one-node Swarm on this engine with images pushed to a loopback
registry — the services answer on 127.0.0.1, run their images by digest, keep the
hardening a Swarm holds; ``ps`` lists the tasks, ``down`` removes every service and network
of the stack. And the one-line refusals: no registry, a registry that refuses, a service
the Swarm cannot honour. Marked ``docker``: fails (never skips) without an engine.

The module's Swarm is this engine's when it is in one already (used, never left);
otherwise ``docker swarm init --advertise-addr 127.0.0.1`` makes one, left at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port, remove_image
from landscape.cascade import build_cascade
from landscape.engine.deploy import STACK_LABEL
from landscape.engine.images import find_image
from landscape.engine.stack import compose_project_name, feature_images, stack_dir
from test_features_docker import _pg_startup, _until

pytestmark = pytest.mark.docker


def _labelled(kind: str, stack: str) -> list[str]:
    """Ids of the ``kind`` objects (service, network) of ``stack``, by its label."""
    return subprocess.run(["docker", kind, "ls", "-q", "--filter",
                           f"label={STACK_LABEL}={stack}"], capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.fixture
def studio_setup(built):
    """``(studio, project, set_root)``: ``set_root(extra)`` rewrites the studio root file
    with ``extra`` (YAML text) added; the root and project files are restored afterwards,
    and any stack this test deployed removed (by its exact name)."""
    studio, _ = built
    root_file = studio / "landscape.yaml"
    project = studio / "projects/lighthouse"
    project_file = project / "landscape.yaml"
    originals = {root_file: root_file.read_text(), project_file: project_file.read_text()}
    stack = compose_project_name(studio, "lighthouse")

    def set_root(extra: str) -> None:
        root_file.write_text(originals[root_file].replace("\nimage:\n  labels:",
                                                          f"\n{extra}\nimage:\n  labels:"))

    yield studio, project, set_root
    if _labelled("service", stack):
        subprocess.run(["docker", "stack", "rm", stack], capture_output=True)
        deadline = time.monotonic() + 60
        while (_labelled("service", stack) or _labelled("network", stack)) and \
                time.monotonic() < deadline:
            time.sleep(0.5)
    for path, text in originals.items():
        path.write_text(text)
    (stack_dir(studio, "lighthouse") / "swarm.yaml").unlink(missing_ok=True)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def test_deploy_the_example_stack_to_the_swarm(studio_setup, swarm, registry, cli,
                                               docker_engine, capsys):
    studio, project, set_root = studio_setup
    root_text = (studio / "landscape.yaml").read_text()
    set_root("policy:\n  allowed_binds: [127.0.0.1, 0.0.0.0]")
    (studio / "landscape.yaml").write_text((studio / "landscape.yaml").read_text().replace(
        "\nimage:\n  labels:", f"\nimage:\n  registry: \"{registry}\"\n  labels:"))
    dailies, pg = free_port(), free_port()
    with (project / "landscape.yaml").open("a") as f:
        f.write(f"features:\n  dailies: {{port: {dailies}}}\n  postgresql: {{port: {pg}}}\n")
    cascade = build_cascade(project, ())
    specs = feature_images(cascade)
    before = {name: find_image(spec) for name, spec in specs.items()}
    stack = compose_project_name(cascade.root, "lighthouse")
    try:
        r = cli("deploy", project, "--swarm")
        assert r.code == 0, r
        assert "warning: no-new-privileges cannot be set on a Swarm service" in r.err
        assert "all running" in r.err
        with capsys.disabled():  # the figure (docs/commands.md quotes it)
            print("\n" + next(line for line in r.err.splitlines() if "all running" in line))
        # the services answer on 127.0.0.1 (published in host mode)
        status, body = _until(lambda: _get(f"http://127.0.0.1:{dailies}/"))
        assert status == 200 and b"seq010" in body
        assert _until(lambda: _pg_startup(pg)) == (b"R", 10)
        # every service runs its image by digest, with the hardening a Swarm holds
        services = docker_engine.services.list(filters={"label": f"{STACK_LABEL}={stack}"})
        names = {s.name.removeprefix(stack + "_") for s in services}
        assert {"dailies", "postgresql"} <= names and any(n.startswith("workspace-")
                                                         for n in names)
        for s in services:
            spec = s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
            assert f"{registry}/landscape/lighthouse@sha256:" in spec["Image"], s.name
            assert spec["CapabilityDrop"] == ["ALL"], s.name
            assert spec["User"], s.name
            assert s.attrs["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
            if s.name.endswith("_postgresql"):
                assert spec["ReadOnly"] is True
                tmpfs = {m["Target"] for m in spec["Mounts"] if m["Type"] == "tmpfs"}
                assert tmpfs == {"/tmp", "/run"}
        # ps lists the tasks
        ps = cli("ps", project, "--json")
        assert ps.code == 0, ps
        rows = json.loads(ps.out)
        assert {row["service"] for row in rows} >= {"dailies", "postgresql"}
        assert all(row["state"] == "running" and "@sha256:" in row["image"] for row in rows)
        assert set(rows[0]) == {"name", "service", "image", "state", "status"}
        # down removes every service and network of the stack
        down = cli("down", project)
        assert down.code == 0, down
        assert "Swarm stack" in down.err
        assert not _labelled("service", stack) and not _labelled("network", stack)
    finally:
        (studio / "landscape.yaml").write_text(root_text)
        shutil.rmtree(stack_dir(cascade.root, "lighthouse") / "state", ignore_errors=True)
        for name, spec in specs.items():
            made = find_image(spec)
            if made is not None and before[name] is None:
                remove_image(made.id)


def _one_line(r) -> str:
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert "Traceback" not in r.err
    return lines[-1]


def test_no_registry_is_one_line(studio_setup, swarm, cli):
    studio, project, set_root = studio_setup
    r = cli("deploy", project, "--swarm")
    assert r.code == 1, r
    assert "set image.registry in the studio's landscape.yaml" in _one_line(r)


def test_a_registry_that_refuses_is_one_line_naming_it(studio_setup, swarm, cli):
    studio, project, set_root = studio_setup
    root = studio / "landscape.yaml"
    root.write_text(root.read_text().replace("\nimage:\n  labels:",
                                             "\nimage:\n  registry: \"127.0.0.1:1\"\n  labels:"))
    r = cli("deploy", project, "--swarm")
    assert r.code == 1, r
    assert "registry 127.0.0.1:1 refused the image" in _one_line(r)
    assert not _labelled("service", compose_project_name(studio, "lighthouse"))


def test_a_service_the_swarm_cannot_honour_is_refused_before_deploying(studio_setup, swarm,
                                                                        registry, cli):
    studio, project, set_root = studio_setup
    set_root("policy:\n  allowed_devices: [/dev/null]")
    root = studio / "landscape.yaml"
    root.write_text(root.read_text().replace(
        "\nimage:\n  labels:", f"\nimage:\n  registry: \"{registry}\"\n  labels:"))
    with (project / "landscape.yaml").open("a") as f:
        f.write("services:\n  probe:\n    image: busybox@sha256:" + "0" * 64 +
                "\n    devices: [/dev/null]\n")
    r = cli("deploy", project, "--swarm")
    assert r.code == 1, r
    assert "service 'probe': devices maps host devices" in _one_line(r)
    assert "pushing" not in r.err
    assert not _labelled("service", compose_project_name(studio, "lighthouse"))
