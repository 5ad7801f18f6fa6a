"""``landscape gui``: the launcher application (QApplication, the real Backend, the window).

Imported lazily by the CLI (the core command line never imports Qt). Importing this module
raises ``ModuleNotFoundError`` (name ``PySide6…``) when the ``gui`` extra is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from ..errors import LandscapeError


def has_display(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> bool:
    """True when Qt has somewhere to draw: an X11 ``DISPLAY``, a ``WAYLAND_DISPLAY``, or a
    ``QT_QPA_PLATFORM`` chosen by the user (``offscreen``, ``vnc``, …)."""
    return any(environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def settings_folder() -> Path:
    """Where the launcher keeps its per-user file: ``$XDG_CONFIG_HOME/landscape``, else
    ``~/.config/landscape``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "landscape"


def main(path: Path | None, tool: str | None, root: Path | None) -> int:
    """Open the launcher on ``path`` (a context folder; default the working directory) with
    ``tool`` selected, under the studio root ``root`` (default: found above ``path``); run
    Qt's event loop and return its exit code.

    Raises :class:`LandscapeError` when there is no display (before Qt is started, so no
    Qt abort). A missing root or a broken config does not raise: the window shows it."""
    if not has_display():
        raise LandscapeError("the launcher needs a display: no DISPLAY or WAYLAND_DISPLAY is "
                             "set (run it in a desktop session, or set QT_QPA_PLATFORM)")
    from ..cascade import find_studio_root
    from ..paths import absolute, context_path
    from .backend import Backend
    from .window import make_window

    start = context_path(path if path is not None else Path("."), root)
    problem = None
    try:
        studio = find_studio_root(start, root)
    except LandscapeError as e:
        studio = absolute(root) if root is not None else start
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Landscape")
    app.setOrganizationName("Landscape")
    window = make_window(root, Backend(studio), settings_folder(),
                         select=start if problem is None else None, tool=tool)
    previous = sys.excepthook

    def excepthook(kind, value, tb):  # the last guard: an exception Qt would print
        if isinstance(value, Exception):
            window.report(value, where="Qt")
        else:
            previous(kind, value, tb)

    sys.excepthook = excepthook
    if problem:
        window.show_message(problem)
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = previous
