"""Qt tests run headless: the offscreen platform is chosen before Qt is imported."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import pytest  # noqa: E402

pytest.importorskip("PySide6", reason="the launcher's tests need the gui extra")

from .fakes import FakeBackend, example_backend  # noqa: E402


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    """A per-test settings folder (``launcher.json`` goes there)."""
    d = tmp_path / "settings"
    d.mkdir()
    return d


@pytest.fixture
def fake() -> FakeBackend:
    """A recording fake shaped like the example studio."""
    return example_backend()


#: milliseconds a test waits for the window (pytest-qt's default, 5 s, is short on a
#: loaded 2-core CI machine building images beside it); a passing wait returns at once
PATIENCE = 60_000


@pytest.fixture(autouse=True)
def _patient_waits(request, monkeypatch):
    """``qtbot.waitUntil`` without a timeout of its own waits :data:`PATIENCE` ms."""
    if "qtbot" not in request.fixturenames:
        return
    qtbot = request.getfixturevalue("qtbot")
    original = qtbot.waitUntil

    def wait_until(callback, *, timeout: int = PATIENCE):
        return original(callback, timeout=timeout)

    monkeypatch.setattr(qtbot, "waitUntil", wait_until)


@pytest.fixture
def open_window(qtbot, settings_dir):
    """``open_window(backend, select=None, tool=None, root=None, settings=None)``: a shown
    launcher window, closed at the end of the test."""
    from landscape.gui.window import make_window

    made = []

    def make(backend, select=None, tool=None, root=None, settings=None):
        win = make_window(root if root is not None else backend.root, backend,
                          settings or settings_dir, select=select, tool=tool)
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()


@pytest.fixture(autouse=True)
def _patient_waits(monkeypatch):
    """``qtbot.waitUntil`` waits up to 30 s unless told otherwise (a loaded machine starts a
    process or lists a folder slower; waiting longer costs nothing when all is well)."""
    from pytestqt.qtbot import QtBot

    original = QtBot.waitUntil

    def wait_until(self, callback, *, timeout=30_000):
        return original(self, callback, timeout=timeout)

    monkeypatch.setattr(QtBot, "waitUntil", wait_until)


@pytest.fixture(scope="module")
def python_studio(base_image, tmp_path_factory):
    """``(studio, shot)``: a copy of the example studio with only its python tool and an
    image label of this run (so its image is built here, not found from another run), and
    one shot. One per test module; its images go with the session's cleanup (the studio
    lies below the session's temporary folder)."""
    from conftest import EXAMPLE

    dest = tmp_path_factory.mktemp("gui-docker") / "studio"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("projects", ".landscape"))
    root = dest / "landscape.yaml"
    text = root.read_text()
    text = text[:text.index("  blender:\n")] + text[text.index("  python:\n"):]
    text = text.replace("labels: {org.opencontainers.image.vendor: Example Studio}",
                        "labels: {org.opencontainers.image.vendor: Example Studio, "
                        f"org.example.test-run: {uuid.uuid4().hex}}}")
    root.write_text(text)
    shot = dest / "projects/film/seq/sh1"
    shot.mkdir(parents=True)
    (dest / "projects/film/landscape.yaml").write_text("level: project\n")
    (dest / "projects/film/seq/landscape.yaml").write_text("level: sequence\n")
    (shot / "landscape.yaml").write_text("level: shot\nmetadata: {fps: 24}\n")
    return dest, shot
