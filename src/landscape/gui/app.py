"""``landscape gui``: the launcher application (QApplication, the real Backend, the window).

Imported lazily by the CLI (the core command line never imports Qt). Importing this module
raises ``ModuleNotFoundError`` (name ``PySide6…``) when the ``gui`` extra is missing.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from ..errors import LandscapeError


def has_display(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> bool:
    """True when Qt has somewhere to draw: an X11 ``DISPLAY``, a ``WAYLAND_DISPLAY``, or a
    ``QT_QPA_PLATFORM`` chosen by the user (``offscreen``, ``vnc``, …)."""
    return any(environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


#: what the probe of :func:`platform_problem` runs: Qt's platform plugin set up, nothing shown
_PROBE = "from PySide6.QtGui import QGuiApplication; QGuiApplication(['landscape-probe'])"


#: a shared library the dynamic loader did not find, as ``QT_DEBUG_PLUGINS`` reports it
_MISSING = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def platform_problem(timeout: float = 20.0) -> str | None:
    """Why Qt cannot start on this display, or ``None`` when it can: a child Python process
    sets up Qt's platform plugin (the one ``QT_QPA_PLATFORM`` names, else Qt's choice for
    ``DISPLAY``/``WAYLAND_DISPLAY``). Qt ends a process whose plugin cannot load or whose
    display does not answer with an abort (``qFatal``), so this is asked in a child and the
    launcher reports the child's first lines of complaint instead of aborting. Costs one
    Python start with Qt (~0.3 s)."""
    import subprocess

    env = dict(os.environ, QT_DEBUG_PLUGINS="1")  # names a shared library that is missing
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                           errors="replace", timeout=timeout, stdin=subprocess.DEVNULL,
                           env=env)
    except subprocess.TimeoutExpired:
        return f"Qt did not open the display within {timeout:.0f} s"
    except OSError as e:
        return f"cannot start Python to check the display: {e.strerror or e}"
    if r.returncode == 0:
        return None
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    missing = sorted({m.group(1) for ln in lines
                      for m in [_MISSING.search(ln)] if m is not None})
    if missing:
        return ("Qt's platform plugin cannot load: missing " + ", ".join(missing[:6])
                + (" and more" if len(missing) > 6 else ""))
    useful = [ln.removeprefix("qt.qpa.xcb: ") for ln in lines
              if ln.startswith(("qt.qpa.xcb: could not connect", "could not connect"))]
    useful = useful or [ln.removeprefix("qt.qpa.plugin: ") for ln in lines
                        if ln.startswith("qt.qpa.")]  # Qt's own words, when nothing better
    why = "; ".join(dict.fromkeys(useful[:2])) or (lines[0] if lines else
                                                   f"exit status {r.returncode}")
    return why[:400]


def settings_folder() -> Path:
    """Where the launcher keeps its per-user file: ``$XDG_CONFIG_HOME/landscape``, else
    ``~/.config/landscape``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "landscape"


def main(path: Path | None, tool: str | None, root: Path | None) -> int:
    """Open the launcher on ``path`` (a context folder; ``None``: the last selection in
    this studio, else the working directory's context, else the studio root) with ``tool``
    selected, under the studio root ``root`` (default: found above ``path`` or the working
    directory); run Qt's event loop and return its exit code.

    Raises :class:`LandscapeError` when there is no display, or when Qt cannot set up its
    platform plugin on it (:func:`platform_problem`; before Qt is started here, so no Qt
    abort). A missing root or a broken config does not raise: the window shows it."""
    if not has_display():
        raise LandscapeError("the launcher needs a display: no DISPLAY or WAYLAND_DISPLAY is "
                             "set (run it in a desktop session, or set QT_QPA_PLATFORM)")
    if not QApplication.instance():
        problem = platform_problem()
        if problem is not None:
            raise LandscapeError(f"Qt cannot open the display: {problem}",
                                 hint="see 'What it needs' in docs/gui.md for the X11 "
                                 "libraries Qt needs (Debian: libxcb-cursor0, "
                                 "libxcb-icccm4, …); or set QT_QPA_PLATFORM (wayland, vnc…)")
    from ..cascade import find_studio_root
    from ..paths import absolute, context_path
    from ..policy import under
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
    # PATH given: open on it. Else the last selection (when it lies in this studio), else
    # the working directory's context (when it lies in the studio), else the studio root.
    given = path is not None and problem is None
    here = start if problem is None and under(str(start), str(studio)) else None
    window = make_window(root, Backend(studio, problem), settings_folder(),
                         select=start if given else None, tool=tool, fallback=here)
    previous = sys.excepthook

    def excepthook(kind, value, tb):  # the last guard: an exception Qt would print
        if isinstance(value, Exception):
            window.report(value, where="Qt")
        else:
            previous(kind, value, tb)

    sys.excepthook = excepthook
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = previous
