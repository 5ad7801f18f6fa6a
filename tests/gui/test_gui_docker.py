"""The launcher window over the real Backend and Docker engine: the image built from the
window with its progress to ready, then python launches in real containers showing their
output with exit codes 0 and 3. Images go with the session's cleanup (their studio lies
below the session's temporary folder); launch containers remove themselves and are checked
here by label."""

from __future__ import annotations

import shlex

import pytest
from PySide6.QtCore import Qt

from landscape.gui.backend import Backend

from .test_window import wait_details

pytestmark = pytest.mark.docker

SLOW = 900_000   # ms: a first build installs rez into the image


def test_python_launches_in_real_containers(qtbot, python_studio, docker_engine,
                                            open_window):
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
