"""The feature catalog for real: ``landscape up`` with ``postgresql``, ``syncthing`` and
``dailies`` enabled builds the features' own images from the base (no registry), starts
them hardened, and each answers on 127.0.0.1 — PostgreSQL asks for its password (SCRAM)
and takes the generated one, Syncthing's GUI refuses anonymous requests and serves the
generated login, dailies serves the project. Marked ``docker``: fails (never skips) without
an engine."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, remove_image
from landscape.cascade import build_cascade
from landscape.engine.images import find_image
from landscape.engine.stack import compose_project_name, feature_images, state_dir

pytestmark = pytest.mark.docker


def _until(check, seconds: float = 90):
    """``check()``'s value once it returns without raising (polling), else its last error."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except (OSError, urllib.error.URLError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _pg_startup(port: int) -> tuple[bytes, int]:
    """Send a PostgreSQL StartupMessage (protocol 3.0) to 127.0.0.1:``port``; the server's
    first reply: its type byte and, for an authentication request, its code (10: SASL)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        body = b"user\0pipeline\0database\0pipeline\0\0"
        s.sendall(struct.pack(">II", 8 + len(body), 196608) + body)
        reply = s.recv(64)
    assert reply, "no reply"
    return reply[:1], struct.unpack(">I", reply[5:9])[0]


def _get(url: str, password: str | None = None) -> tuple[int, bytes]:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"landscape:{password}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_postgresql_syncthing_and_dailies_start_and_answer(built, cli, docker_engine):
    studio, _ = built
    project = studio / "projects/lighthouse"
    project_file = project / "landscape.yaml"
    original = project_file.read_text()
    pg, gui, sync, dailies = free_port(), free_port(), free_port(), free_port()
    project_file.write_text(original + (
        f"features:\n  postgresql: {{port: {pg}}}\n"
        f"  syncthing: {{gui_port: {gui}, sync_port: {sync}}}\n"
        f"  dailies: {{port: {dailies}}}\n"))
    cascade = build_cascade(project, ())
    specs = feature_images(cascade)
    before = {name: find_image(spec) for name, spec in specs.items()}
    try:
        r = cli("up", project)
        assert r.code == 0, r
        assert "for the feature(s) postgresql" in r.err or all(before.values())
        # PostgreSQL: answers on 127.0.0.1 and asks for a password (SASL: SCRAM-SHA-256)
        assert _until(lambda: _pg_startup(pg)) == (b"R", 10)
        name = compose_project_name(cascade.root, "lighthouse") + "_postgresql_1"
        query = ["sh", "-c", 'PGPASSWORD="$(cat /state/password)" psql -h 127.0.0.1 '
                 '-U pipeline -d pipeline -tAc "select current_user, current_database()"']
        out = _until(lambda: subprocess.run(["docker", "exec", name, *query], check=True,
                                            capture_output=True, text=True).stdout)
        assert out.strip() == "pipeline|pipeline"
        wrong = subprocess.run(["docker", "exec", name, "sh", "-c",
                                "PGPASSWORD=wrong psql -h 127.0.0.1 -U pipeline -tAc 'select 1'"],
                               capture_output=True, text=True)
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        inspect = docker_engine.api.inspect_container(name)["HostConfig"]
        assert inspect["ReadonlyRootfs"] and inspect["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in inspect["SecurityOpt"]
        # Syncthing: its GUI refuses anonymous requests and takes the generated login
        password = (state_dir(cascade.root, "lighthouse", "syncthing") / "password").read_text()
        assert _until(lambda: _get(f"http://127.0.0.1:{gui}/")[0] == 401 or None)
        status, body = _get(f"http://127.0.0.1:{gui}/", password)
        assert status == 200 and b"Syncthing" in body
        # dailies: the project, read-only over HTTP
        status, body = _until(lambda: _get(f"http://127.0.0.1:{dailies}/"))
        assert status == 200 and b"seq010" in body
        # the features' images are this studio's (labelled) and prune keeps them
        for spec in specs.values():
            assert find_image(spec).labels.get("io.landscape.studio")
        pruned = cli("prune", project, "--dry-run", "--json")
        assert pruned.code == 0, pruned
        assert not {s.tag for s in specs.values()} & set(json.loads(pruned.out)["removed"])
    finally:
        down = cli("down", project, "--volumes")
        project_file.write_text(original)
        shutil.rmtree(state_dir(cascade.root, "lighthouse", "postgresql").parent,
                      ignore_errors=True)
        for name, spec in specs.items():
            made = find_image(spec)
            if made is not None and before[name] is None:
                remove_image(made.id)
    assert down.code == 0, down
