"""The launcher window over a recording fake backend (no Docker): browse, filter, details,
launches, images, recents/favourites, errors shown as messages, plain text."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableWidget

from .fakes import ROOT

L = ROOT / "projects/lighthouse"
SH010 = L / "seq010/sh010"
SH020 = L / "seq010/sh020"


def wait_details(qtbot, win, path: Path, tool: str | None = None) -> None:
    """Wait until the details of ``path`` (and ``tool``) are shown."""
    def shown() -> bool:
        d = win._details
        return (d is not None and d.context == path and not win._resolving
                and (tool is None or d.tool == tool))
    qtbot.waitUntil(shown, timeout=10_000)


def table(win, name: str) -> list[list[str]]:
    t = win.findChild(QTableWidget, name)
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def test_opens_on_selection(qtbot, fake, open_window):
    win = open_window(fake, select=SH020)
    wait_details(qtbot, win, SH020, "blender")
    rows = {r[0]: r for r in table(win, "metadataPanel")}
    assert rows["resolution"][1] == "640 × 272"
