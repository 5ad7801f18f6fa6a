"""The launcher window over the real Backend and Docker engine: the image built from the
window with its progress to ready, then python launches in real containers showing their
output with exit codes 0 and 3. Images go with the session's cleanup (their studio lies
below the session's temporary folder); launch containers remove themselves and are checked
here by label."""

from __future__ import annotations

import shlex
import shutil
import uuid

import pytest
from PySide6.QtCore import Qt

from conftest import EXAMPLE

from .test_window import wait_details

pytestmark = pytest.mark.docker

SLOW = 900_000   # ms: a first build installs rez into the image


@pytest.fixture(scope="module")
def python_studio(base_image, tmp_path_factory):
    """A copy of the example studio with only its python tool, an image label of this run
    (its image is built here), and one shot."""
    dest = tmp_path_factory.mktemp("gui-window-docker") / "studio"
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


def test_python_launches_in_real_containers(qtbot, python_studio, docker_engine,
                                            open_window):
    from landscape.gui.backend import Backend

    studio, shot = python_studio
    win = open_window(Backend(studio), select=shot, tool="python", root=studio)
    wait_details(qtbot, win, shot, "python")
    assert win.launchButton.isEnabled(), win.errorPanel.toPlainText()
    qtbot.waitUntil(lambda: win.imageStatus.property("state") in ("missing", "ready"),
                    timeout=120_000)
    if win.imageStatus.property("state") == "missing":
        qtbot.mouseClick(win.buildButton, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: win.imageStatus.property("state") in ("ready", "failed"),
                        timeout=SLOW)
    assert win.imageStatus.property("state") == "ready", win.messages

    win.argsEdit.setText(shlex.join(["-c", "import os; print('hello from', "
                                           "os.environ['LANDSCAPE_SHOT'])"]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith(("exit code", "did not")),
                    timeout=SLOW)
    assert win.exitCodeLabel.text().startswith("exit code 0 "), win.messages
    assert "hello from sh1" in win.logPanel.currentWidget().toPlainText()

    win.argsEdit.setText(shlex.join(["-c", "import sys; print('oops', file=sys.stderr); "
                                           "sys.exit(3)"]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.logPanel.count() == 2 and win.exitCodeLabel.text()
                    .startswith(("exit code", "did not")), timeout=SLOW)
    assert win.exitCodeLabel.text().startswith("exit code 3 ")
    assert "oops" in win.logPanel.currentWidget().toPlainText()
    assert "exit 3" in win.recentList.item(0).text()
    assert docker_engine.containers.list(all=True, filters={"label": [
        f"io.landscape.context={shot}", "io.landscape.role=launch"]}) == []
