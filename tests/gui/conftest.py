"""Qt tests run headless: the offscreen platform is chosen before Qt is imported."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import pytest  # noqa: E402

pytest.importorskip("PySide6", reason="the launcher's tests need the gui extra")

try:  # the real settings module comes with the backend; until then a test stand-in
    import landscape.gui.settings  # noqa: F401
except ImportError:  # pragma: no cover - only before the backend is merged
    from . import standins

    sys.modules["landscape.gui.settings"] = standins

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
