"""PySide6 6.12.0 on Python 3.11 aborts ("Fatal Python error: none_dealloc: deallocating
None") after enough Qt calls that return None; the gui extra pins below 6.12 there. This
makes such calls in a loop, in a child process (an abort would take pytest with it)."""

from __future__ import annotations

import os
import subprocess
import sys

import PySide6

LOOP = """
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
for i in range(250_000):
    label.setText("frame %d" % i)
print("done")
"""


def test_the_installed_pyside6_is_not_the_broken_one():
    if sys.version_info < (3, 12):
        assert not PySide6.__version__.startswith("6.12.0")


def test_many_calls_returning_none_do_not_abort(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"
