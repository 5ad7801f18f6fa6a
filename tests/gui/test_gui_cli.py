"""``landscape gui``: the core CLI never imports Qt; without the gui extra or a display it
says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import EXAMPLE


def run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=120)


def test_help_does_not_import_qt():
    code = ("import sys\nfrom landscape.cli import run\n"
            "for args in (['--help'], ['gui', '--help']):\n"
            "    try:\n        run(args)\n    except SystemExit:\n        pass\n"
            "print('PySide6' in sys.modules)")
    proc = run(code)
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stderr
    assert "landscape gui" in proc.stdout or "gui" in proc.stdout


def test_without_the_gui_extra_the_install_hint():
    code = ("import sys\nsys.modules['PySide6'] = None\n"
            f"from landscape.cli import run\nrun(['gui', {str(EXAMPLE)!r}])")
    proc = run(code)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: the launcher needs the gui extra: "
                                   "pip install 'studio-landscape[gui]'")


def test_without_a_display_one_line():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = run(f"from landscape.cli import run\nrun(['gui', {str(EXAMPLE)!r}])", env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the launcher needs a display")


def test_a_display_qt_cannot_use_is_one_line_not_an_abort(tmp_path):
    """A DISPLAY where no X server answers (or an X11 plugin whose libraries are missing):
    Qt would abort the process; the launcher asks a child first and says why."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(DISPLAY=":987", XDG_CONFIG_HOME=str(tmp_path))
    proc = run(f"from landscape.cli import run\nrun(['gui', {str(EXAMPLE)!r}])", env)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Qt cannot open the display: ")
    assert "could not connect to display :987" in lines[0] or "missing lib" in lines[0]


def test_the_missing_library_is_named():
    from landscape.gui.app import _MISSING

    line = ('qt.core.library: "/x/libqxcb.so" cannot load: Cannot load library /x/libqxcb.so:'
            ' libxcb-icccm.so.4: cannot open shared object file: No such file or directory')
    assert _MISSING.search(line).group(1) == "libxcb-icccm.so.4"


def test_main_opens_the_window_and_returns_when_it_closes(qapp, example, monkeypatch,
                                                          tmp_path):
    """``landscape gui``'s main: the real Backend, the context and tool selected, settings
    in ``$XDG_CONFIG_HOME/landscape``; exit code 0 once the window is closed."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from landscape.gui import app as gui_app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    shot = example / "projects/lighthouse/seq010/sh020"
    seen = []

    def close_when_shown():
        for w in QApplication.topLevelWidgets():
            if w.objectName() == "launcherWindow" and w.isVisible():
                d = w._details
                if d is not None and d.context == shot and d.tool == "blender" \
                        and not w._resolving:
                    seen.append(w.windowTitle())
                    w.close()
                    return
        QTimer.singleShot(20, close_when_shown)

    QTimer.singleShot(0, close_when_shown)
    hook = sys.excepthook
    assert gui_app.main(shot, "blender", None) == 0
    assert seen == ["Landscape — Example Studio"]
    assert sys.excepthook is hook
    saved = (tmp_path / "config/landscape/launcher.json").read_text()
    assert str(shot) in saved          # the last selection, for the next start


def test_main_outside_any_studio_says_so_once_and_keeps_the_last_selection(
        qtbot, example, tmp_path, monkeypatch):
    """``landscape gui PATH`` where no studio root lies above PATH: one message naming PATH
    (no ``--root`` that was never given), no context resolved, and the last selection of
    the studio the artist used before is neither opened nor replaced."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from landscape.gui import app as gui_app
    from landscape.gui.settings import LauncherSettings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    shot = example / "projects/lighthouse/seq010/sh020"
    LauncherSettings(tmp_path / "config/landscape").set_last_selection(shot, "blender")
    nowhere = tmp_path / "nowhere/x"
    seen = []

    def close_when_told():
        for w in QApplication.topLevelWidgets():
            if w.objectName() == "launcherWindow" and w.isVisible() and w.messages:
                seen.append((list(w.messages), w._context, w._details,
                             w.errorPanel.isVisible()))
                w.close()
                return
        QTimer.singleShot(20, close_when_told)

    QTimer.singleShot(0, close_when_told)
    assert gui_app.main(nowhere, None, None) == 0
    [(messages, context, details, error_panel)] = seen
    assert len(messages) == 1 and str(nowhere) in messages[0]
    assert "no studio root" in messages[0] and "--root" not in messages[0]
    assert context is None and details is None and not error_panel
    saved = (tmp_path / "config/landscape/launcher.json").read_text()
    assert str(shot) in saved and str(nowhere) not in saved


def test_main_without_path_opens_the_last_selection_of_this_studio(
        qtbot, example, tmp_path, monkeypatch):
    """``landscape gui`` without PATH, in the studio: the last selection when it lies in
    this studio (and it is kept at close); else the working directory's context."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from landscape.gui import app as gui_app
    from landscape.gui.settings import LauncherSettings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    seq = example / "projects/lighthouse/seq010"
    shot = seq / "sh020"
    monkeypatch.chdir(seq)

    def opened_on():
        seen = []

        def close_when_shown():
            for w in QApplication.topLevelWidgets():
                if w.objectName() == "launcherWindow" and w.isVisible() \
                        and w._details is not None and not w._resolving:
                    seen.append(w._details.context)
                    w.close()
                    return
            QTimer.singleShot(20, close_when_shown)

        QTimer.singleShot(0, close_when_shown)
        assert gui_app.main(None, None, None) == 0
        return seen[0]

    settings = LauncherSettings(tmp_path / "config/landscape")
    settings.set_last_selection(shot, "python")
    assert opened_on() == shot
    assert str(shot) in (tmp_path / "config/landscape/launcher.json").read_text()
    settings.set_last_selection(tmp_path / "elsewhere/sh1", None)   # another studio's
    assert opened_on() == seq
