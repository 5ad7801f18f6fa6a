"""Shared fixtures: temporary studio trees, real rez package repositories, the CLI, Docker.

Tests marked ``docker`` need a Docker engine and **fail** (never skip) when none answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "studio"

# No test starts a launch agent behind its back (a background process per cache folder);
# tests/test_agent.py starts its own, in a folder of its own, and stops them.
os.environ["LANDSCAPE_NO_AGENT"] = "1"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                    ) -> None:
    """Validation markers and build contexts go to a per-session cache, persistent homes to
    a per-session data folder; wheels stay shared."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(cache))
    # persistent homes of launches (launch.home) go to the session's folder too
    monkeypatch.setenv("LANDSCAPE_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
    wheels = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "landscape" / "wheels"
    if wheels.is_dir() and not (cache / "wheels").exists():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "wheels").symlink_to(wheels)


def write_tree(base: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → text, dedented) below ``base``; return ``base``."""
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    return base


def package(repo: Path, name: str, version: str, *, requires: tuple[str, ...] = (),
            commands: str = "", timestamp: int | None = None, extra: str = "",
            yaml: bool = False, override: bool = False) -> Path:
    """Write a real rez package ``repo/name/version/package.py`` (or, with ``yaml``, a
    declarative ``package.yaml`` — what repositories below the studio root may hold);
    return its folder. ``version=""`` writes an unversioned package."""
    d = repo / name / version if version else repo / name
    d.mkdir(parents=True, exist_ok=True)
    if yaml:
        import yaml as _yaml

        data: dict = {"name": name}
        if version:
            data["version"] = version
        if requires:
            data["requires"] = list(requires)
        if timestamp is not None:
            data["timestamp"] = timestamp
        if override:
            data["override"] = True
        if commands:
            data["commands"] = textwrap.dedent(commands).strip() + "\n"
        (d / "package.yaml").write_text(_yaml.safe_dump(data, sort_keys=False))
        return d
    body = [f'name = "{name}"'] + ([f'version = "{version}"'] if version else [])
    if requires:
        body.append(f"requires = {list(requires)!r}")
    if timestamp is not None:
        body.append(f"timestamp = {timestamp}")
    if override:
        body.append("override = True")
    if extra:
        body.append(textwrap.dedent(extra))
    if commands:
        body.append("def commands():\n" + textwrap.indent(textwrap.dedent(commands), "    "))
    (d / "package.py").write_text("\n".join(body) + "\n")
    return d


@pytest.fixture
def studio(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Factory: ``studio({"landscape.yaml": "...", ...})`` writes a tree in a fresh folder.

    A studio root file is added when the files do not provide one, with a rez repository
    ``packages`` holding python-3.11 and python-3.10.
    """

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "studio"
        if "landscape.yaml" not in files:
            files = {"landscape.yaml": """
                root: true
                rez: {packages_path: [packages]}
            """, **files}
        write_tree(root, files)
        repo = root / "packages"
        repo.mkdir(exist_ok=True)
        package(repo, "python", "3.10")
        package(repo, "python", "3.11")
        return root

    return make


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of ``examples/studio`` (so tests may break files and write renders)."""
    dest = tmp_path / "studio"
    shutil.copytree(EXAMPLE, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".landscape", "work"))
    return dest


class CLIResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CLIResult(code={self.code}, out={self.out[-800:]!r}, err={self.err[-800:]!r})"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., CLIResult]:
    """Run ``landscape ARGS…`` in-process through the real entry point; returns code/out/err."""
    from landscape.cli import main

    def run(*args: str) -> CLIResult:
        capsys.readouterr()
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return CLIResult(code, captured.out, captured.err)

    return run


#: Studio ids (label ``io.landscape.studio``) of the studios this session made outside its
#: temporary folder (the ``built`` fixture's); the rest are found below the folder.
SESSION_STUDIOS: set[str] = set()
#: Whether the ``base_image`` fixture bootstrapped the base (then the session removes it).
BASE_MADE: list[str] = []


def _studio_ids(top: Path) -> set[str]:
    """The ``io.landscape.studio`` id of every folder below ``top`` holding a config file
    (what :func:`landscape.engine.buildcontext.studio_id` labels an image with)."""
    import hashlib

    ids = set()
    for dirpath, _dirnames, filenames in os.walk(top):
        if "landscape.yaml" in filenames:
            ids.add(hashlib.sha256(os.path.realpath(dirpath).encode()).hexdigest()[:16])
    return ids


def remove_image(image_id: str) -> None:
    """Remove the image ``image_id`` that a test built (by its exact id, with its tags);
    nothing when it is gone already."""
    import docker

    try:
        docker.from_env().images.remove(image_id, force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory):
    """The Docker SDK client. Fails the test (never skips) when no engine answers.

    At the end of the session, every image this session built is removed, by exact id:
    images that were not there when it started and whose ``io.landscape.studio`` label names
    a studio this session made (below its temporary folder, or :data:`SESSION_STUDIOS`), and
    the base when this session bootstrapped it. Nothing else is touched — not an image
    another session or the user built meanwhile on the same engine. Set
    ``LANDSCAPE_TEST_KEEP_IMAGES=1`` to keep them for the next run.
    """
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means no usable engine
        pytest.fail(f"these tests need a running Docker engine: {e}", pytrace=False)
    before = {im.id for im in client.images.list(all=True)}
    yield client
    if os.environ.get("LANDSCAPE_TEST_KEEP_IMAGES"):
        return
    ours = _studio_ids(tmp_path_factory.getbasetemp()) | SESSION_STUDIOS
    made = [im for im in client.images.list() if im.id not in before and (
        (im.labels or {}).get("io.landscape.studio") in ours or im.id in BASE_MADE)]
    for im in sorted(made, key=lambda i: "landscape/base:" in " ".join(i.tags)):
        try:  # the base last: the others are built on it
            client.images.remove(im.id, force=True)
        except docker.errors.APIError:
            pass


@pytest.fixture(scope="session")
def base_image(docker_engine):
    """The base image (bootstrapped once per session when missing; then removed at the end
    of the session with this session's other images)."""
    from landscape.engine.base import build_base

    result = build_base(log=lambda line: None)
    if result.get("built"):
        BASE_MADE.append(result["id"])
    return result


@pytest.fixture(scope="session")
def built(base_image):
    """A copy of the example studio (world-readable, for the non-root test) with its images
    built. Returns ``(studio, build results)``."""
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="landscape-e2e-"))
    top.chmod(0o755)
    studio = top / "studio"
    shutil.copytree(EXAMPLE, studio, symlinks=True,
                    ignore=shutil.ignore_patterns(".landscape", "work"))
    from landscape.engine.buildcontext import studio_id
    from landscape.engine.images import build_image

    SESSION_STUDIOS.add(studio_id(studio))
    from landscape.plan import make_plan

    plan = make_plan(studio / "projects/lighthouse")
    assert not plan.failed
    results = [build_image(im.spec, log=lambda line: None) for im in plan.images.values()]
    yield studio, results
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def warm(built, docker_engine):
    """The built example studio for warm launches; its workspaces are removed afterwards (by
    label ``io.landscape.root``), with their host folders and secrets folders."""
    studio, _ = built
    yield studio
    from landscape.engine.workspace import host_folder, secrets_folder

    for c in docker_engine.containers.list(all=True, filters={"label": [
            "io.landscape.role=workspace", f"io.landscape.root={studio.resolve()}"]}):
        c.remove(force=True)
        shutil.rmtree(host_folder(c.name), ignore_errors=True)
        shutil.rmtree(secrets_folder(c.name) or host_folder(c.name), ignore_errors=True)


def landscape_exe() -> list[str]:
    """The command that runs the installed CLI in a subprocess."""
    exe = Path(sys.executable).with_name("landscape")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "landscape"]


# -- a registry on the loopback (docker-registry) -----------------------------------------

def free_port() -> int:
    """A TCP port nothing listens on at the moment of asking (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_registry(tmp_path_factory: pytest.TempPathFactory, htpasswd: str | None = None):
    """Run ``docker-registry serve`` on 127.0.0.1 (a free port) with filesystem storage in a
    temporary folder — and, with ``htpasswd`` (``user:bcrypt-hash``), basic auth — until the
    block ends; yields ``"127.0.0.1:PORT"`` once ``/v2/`` answers. Stops the process and
    deletes its storage afterwards."""
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.fail("these tests need docker-registry (Debian package docker-registry)",
                    pytrace=False)
    storage = tmp_path_factory.mktemp("registry-storage")
    etc = tmp_path_factory.mktemp("registry-etc")
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)},
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    if htpasswd:
        (etc / "htpasswd").write_text(htpasswd + "\n")
        config["auth"] = {"htpasswd": {"realm": "landscape-test", "path": str(etc / "htpasswd")}}
    (etc / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (etc / "registry.log").open("w")
    proc = subprocess.Popen([exe, "serve", str(etc / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except urllib.error.HTTPError as e:  # answering: 401 with auth
                if e.code == 401 and htpasswd:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("docker-registry did not start: " +
                            (etc / "registry.log").read_text()[-2000:], pytrace=False)
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(storage, ignore_errors=True)
        shutil.rmtree(etc, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """``"127.0.0.1:PORT"`` of a registry for this module (:func:`serve_registry`)."""
    with serve_registry(tmp_path_factory) as address:
        yield address


def swarm_state() -> str:
    """This engine's ``Swarm.LocalNodeState`` (``active``, ``inactive``, …)."""
    return subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def swarm(docker_engine):
    """This engine as a one-node Swarm manager: ``docker swarm init --advertise-addr
    127.0.0.1`` when it is in none (and ``docker swarm leave --force`` afterwards, only
    then); an existing Swarm is used and left as it is."""
    made = swarm_state() != "active"
    if made:
        subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"],
                       check=True, capture_output=True)
    yield
    if made:
        subprocess.run(["docker", "swarm", "leave", "--force"], check=True, capture_output=True)


from renderfarm import farm  # noqa: E402,F401 - a fixture of the render tests, local and Swarm


# -- engines that do not answer -------------------------------------------------------

def _server(monkeypatch, talk):
    """A TCP server on 127.0.0.1 whose every connection is handed to ``talk(conn, done)``
    in its own thread; DOCKER_HOST names it. Returns what :func:`engine` closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    done = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not done.is_set():
            try:
                conn = server.accept()[0]
            except OSError:
                continue
            held.append(conn)
            threading.Thread(target=talk, args=(conn, done), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("LANDSCAPE_ENGINE_TIMEOUT", "1")
    from landscape.engine import docker as dk

    monkeypatch.setattr(dk, "_client", None)
    return server, done, thread, held


@pytest.fixture
def engine(monkeypatch):
    """``engine(talk)``: an engine address (DOCKER_HOST) served by ``talk`` (:func:`silent`,
    :func:`trickling`), with LANDSCAPE_ENGINE_TIMEOUT 1 s; closed at the end."""
    made = []

    def start(talk):
        made.append(_server(monkeypatch, talk))

    yield start
    for server, done, thread, held in made:
        done.set()
        thread.join()
        for c in held:
            c.close()
        server.close()


def silent(conn, done):
    done.wait()


def trickling(conn, done, length: bytes = b"Content-Length: 1000000\r\n"):
    """An answer that never ends: its headers, then a byte every 0.2 s."""
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + length
                     + b"\r\n")
        while not done.wait(0.2):
            conn.sendall(b" ")
    except OSError:
        pass


def trickling_to_close(conn, done):
    """The same without a length: the answer ends when the engine closes the connection."""
    trickling(conn, done, b"Connection: close\r\n")
