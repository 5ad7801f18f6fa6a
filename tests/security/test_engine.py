"""Attacks and hardening against a real Docker engine (marked ``docker``): the launched
container's confinement, refused mounts and services never reaching the engine, images
reused only when every label matches, concurrent launches and builds, stack identity."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from attacks import plant

pytestmark = pytest.mark.docker

SH010 = "projects/lighthouse/seq010/sh010"
PROBE = ("import json, os; s = dict(l.split(':\\t', 1) for l in open('/proc/self/status')"
         ".read().splitlines() if ':\\t' in l); "
         "w = {}\n"
         "for p in ('/landscape/probe', '/usr/probe', '/tmp/probe', os.environ['HOME'] + '/p'):\n"
         "    try:\n        open(p, 'w').write('x'); w[p] = True\n"
         "    except OSError:\n        w[p] = False\n"
         "print(json.dumps({'nnp': s['NoNewPrivs'].strip(), 'capeff': s['CapEff'].strip(), "
         "'capprm': s['CapPrm'].strip(), 'writes': w, "
         "'pids': open('/sys/fs/cgroup/pids.max').read().strip() if os.path.exists("
         "'/sys/fs/cgroup/pids.max') else open('/sys/fs/cgroup/pids/pids.max').read().strip()}))")


def _launch_containers(client, studio):
    return client.containers.list(all=True, filters={
        "label": [f"io.landscape.context={studio / SH010}", "io.landscape.role=launch"]})


def test_a_launch_is_confined(built, cli):
    studio, _ = built
    r = cli("launch", studio / SH010, "--tool", "python", "--", "-c", PROBE)
    assert r.code == 0, r
    probe = json.loads(r.out.strip().splitlines()[-1])
    assert probe["nnp"] == "1"
    assert int(probe["capeff"], 16) == 0 and int(probe["capprm"], 16) == 0
    assert probe["writes"]["/landscape/probe"] is False  # the image's files are read-only
    assert probe["writes"]["/usr/probe"] is False
    assert probe["writes"]["/tmp/probe"] is True  # tmpfs
    assert list(probe["writes"].values())[3] is True  # the private home
    assert probe["pids"] == "4096"


def test_a_warm_launch_is_confined_like_a_cold_one(built, cli):
    studio, _ = built
    try:
        r = cli("launch", "--warm", studio / SH010, "--tool", "python", "--", "-c", PROBE)
        assert r.code == 0, r
        probe = json.loads(r.out.strip().splitlines()[-1])
        assert probe["nnp"] == "1"  # an exec'd process keeps the workspace's hardening
        assert int(probe["capeff"], 16) == 0 and int(probe["capprm"], 16) == 0
        assert probe["writes"]["/landscape/probe"] is False
        assert probe["writes"]["/usr/probe"] is False
        assert probe["writes"]["/tmp/probe"] is True
        assert list(probe["writes"].values())[3] is True
        assert probe["pids"] == "4096"
    finally:
        assert cli("stop", studio / SH010).code == 0


def test_a_symlinked_mount_never_reaches_the_engine(built, cli, docker_engine, tmp_path):
    studio, _ = built
    (studio / "projects/escape").symlink_to("/")
    try:
        plant(studio, f"{SH010}/landscape.yaml",
              f"level: shot\nstorage: [{{source: {studio}/projects/escape, target: /host}}]\n")
        r = cli("launch", studio / SH010, "--tool", "python", "--", "-c", "print('ran')")
        assert r.code == 1 and "really /" in r.err and "ran" not in r.out, r
        assert _launch_containers(docker_engine, studio) == []
    finally:
        (studio / "projects/escape").unlink()
        (studio / SH010 / "landscape.yaml").write_text("level: shot\n")


def test_up_refuses_a_privileged_service(built, cli, docker_engine):
    studio, _ = built
    project = studio / "projects/lighthouse"
    original = (project / "landscape.yaml").read_text()
    plant(studio, "projects/lighthouse/landscape.yaml", original +
          "services: {agent: {image: landscape/base:bookworm, privileged: true, "
          "volumes: ['/:/host'], command: [sleep, infinity]}}\n")
    try:
        r = cli("up", project)
        assert r.code == 1, r
        assert "services.agent.privileged" in r.err and "services.agent.volumes[0]" in r.err
        from landscape.engine.stack import compose_project_name

        name = compose_project_name(studio, "lighthouse")
        assert docker_engine.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={name}"}) == []
    finally:
        (project / "landscape.yaml").write_text(original)


def test_images_are_reused_only_when_every_label_matches(built, docker_engine):
    from landscape.context import resolve
    from landscape.engine.images import find_image

    studio, _ = built
    spec = resolve(studio / SH010).image
    good = find_image(spec)
    assert good is not None
    impostor_tag = f"landscape/impostor:{uuid.uuid4().hex[:8]}"
    base = docker_engine.images.get("landscape/base:bookworm")
    base.tag(impostor_tag)  # a planted image under the tag the spec would use
    repo, _, tag = spec.tag.rpartition(":")
    try:
        docker_engine.images.get(impostor_tag).tag(repo, tag)
        found = find_image(spec)  # the impostor's labels do not match: it is not taken;
        assert found.id == good.id != base.id  # the real image (found by its labels) is
        assert docker_engine.images.get(spec.tag).id == good.id  # and gets its tag back
    finally:
        good.tag(repo, tag)
        docker_engine.images.remove(impostor_tag)


def test_parallel_short_launches_never_hang_or_leave_containers(built, docker_engine):
    from conftest import landscape_exe

    studio, _ = built
    cmd = [*landscape_exe(), "launch", str(studio / SH010), "--tool", "python", "--", "-c",
           "import sys; print('hi'); sys.exit(7)"]
    for _round in range(3):
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: subprocess.run(
                cmd, capture_output=True, text=True, timeout=180), range(6)))
        for r in results:
            assert r.returncode == 7 and "hi" in r.stdout, r.stderr
    assert _launch_containers(docker_engine, studio) == []


def test_ctrl_c_twice_ends_a_stubborn_tool_and_leaves_nothing(built, docker_engine):
    import signal

    from conftest import landscape_exe

    studio, _ = built
    proc = subprocess.Popen(
        [*landscape_exe(), "launch", str(studio / SH010), "--tool", "python", "--", "-c",
         "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None  # the tool ignores the first
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    assert code in (130, 137), proc.stderr.read()
    assert _launch_containers(docker_engine, studio) == []


def test_concurrent_builds_of_one_new_key_make_one_image(built, docker_engine, tmp_path):
    from landscape.context import resolve
    from landscape.engine.images import build_image

    studio, _ = built
    copy = tmp_path / "studio"
    shutil.copytree(studio, copy, symlinks=True, ignore=shutil.ignore_patterns(".landscape"))
    marker = uuid.uuid4().hex[:12]
    root = copy / "landscape.yaml"
    root.write_text(root.read_text().replace(
        "org.opencontainers.image.vendor: Example Studio",
        f"org.opencontainers.image.vendor: Example Studio, com.example.run: '{marker}'"))
    spec = resolve(copy / SH010).image
    assert docker_engine.images.list(filters={"label": f"io.landscape.key={spec.key}"}) == []
    results, errors = [], []

    def one():
        try:
            results.append(build_image(spec, log=lambda line: None))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    try:
        assert not errors, errors
        assert sorted(r.built for r in results) == [False, False, True]
        images = docker_engine.images.list(filters={"label": f"io.landscape.key={spec.key}"})
        assert len(images) == 1
    finally:
        for im in docker_engine.images.list(filters={"label": f"io.landscape.key={spec.key}"}):
            docker_engine.images.remove(im.id, force=True)


def test_two_studios_with_one_project_name_keep_two_stacks(built, cli, docker_engine, tmp_path):
    from landscape.engine.stack import compose_project_name

    studio, _ = built
    other = tmp_path / "other" / "studio"
    shutil.copytree(studio, other, symlinks=True, ignore=shutil.ignore_patterns(".landscape"))
    a, b = studio / "projects/lighthouse", other / "projects/lighthouse"
    try:
        assert cli("up", a).code == 0
        assert cli("up", b).code == 0
        names = [compose_project_name(s, "lighthouse") for s in (studio, other)]
        assert names[0] != names[1]
        for name in names:
            running = docker_engine.containers.list(
                filters={"label": f"com.docker.compose.project={name}"})
            assert len(running) == 2
    finally:
        cli("down", a)
        cli("down", b)


def test_an_image_with_only_the_key_label_is_not_taken(built, docker_engine, tmp_path):
    """An image planted with ``io.landscape.key`` (as a project once could, through
    ``image.labels``) but without Landscape's other labels is never reused."""
    from landscape.context import resolve
    from landscape.engine.images import find_image

    studio, _ = built
    copy = tmp_path / "studio"
    shutil.copytree(studio, copy, symlinks=True, ignore=shutil.ignore_patterns(".landscape"))
    root = copy / "landscape.yaml"
    marker = uuid.uuid4().hex[:12]
    root.write_text(root.read_text().replace(
        "org.opencontainers.image.vendor: Example Studio",
        f"org.opencontainers.image.vendor: Example Studio, com.example.run: '{marker}'"))
    spec = resolve(copy / SH010).image
    context = tmp_path / "planted"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM landscape/base:bookworm\n")
    tag = f"landscape/planted:{marker}"
    list(docker_engine.api.build(path=str(context), tag=tag, rm=True, forcerm=True, labels={
        "io.landscape.key": spec.key, "io.landscape.project": "lighthouse"}, decode=True))
    try:
        assert find_image(spec) is None
    finally:
        docker_engine.images.remove(tag, force=True)
