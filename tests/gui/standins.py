"""Stand-ins for the backend's plain modules (``browse.BrowseEntry``,
``gui.settings.LauncherSettings``) used by the window's tests only until the real ones are
there (tests/gui/conftest.py installs them when ``landscape.gui.settings`` is missing)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True)
class BrowseEntry:
    path: Path
    name: str
    level: str | None = None
    label: str | None = None
    icon: str | None = None
    has_children: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recent:
    context: str
    tool: str
    variant: str | None
    when: str
    exit_code: int | None


@dataclass(frozen=True)
class Favourite:
    context: str
    tool: str | None = None


@dataclass(frozen=True)
class Selection:
    context: str
    tool: str | None = None


class LauncherSettings:
    def __init__(self, folder: Path) -> None:
        self.file = Path(folder) / "launcher.json"
        self.message = None
        self.recents: list[Recent] = []
        self.favourites: list[Favourite] = []
        self.last_selection: Selection | None = None
        self.layout: dict[str, str] = {}
        if self.file.exists():
            data = json.loads(self.file.read_text())
            self.recents = [Recent(**r) for r in data.get("recents", [])]
            self.favourites = [Favourite(**f) for f in data.get("favourites", [])]
            if data.get("last_selection"):
                self.last_selection = Selection(**data["last_selection"])
            self.layout = data.get("layout", {})

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps({
            "recents": [asdict(r) for r in self.recents],
            "favourites": [asdict(f) for f in self.favourites],
            "last_selection": asdict(self.last_selection) if self.last_selection else None,
            "layout": self.layout}))

    def add_recent(self, context, tool, variant, exit_code) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        new = Recent(str(context), tool, variant, when, exit_code)
        self.recents = [new] + [r for r in self.recents
                                if (r.context, r.tool, r.variant) != (new.context, tool, variant)]
        del self.recents[50:]
        self.save()

    def is_favourite(self, context, tool=None) -> bool:
        return Favourite(str(context), tool) in self.favourites

    def toggle_favourite(self, context, tool=None) -> bool:
        f = Favourite(str(context), tool)
        if f in self.favourites:
            self.favourites.remove(f)
        else:
            self.favourites.append(f)
        self.save()
        return f in self.favourites

    def set_last_selection(self, context, tool) -> None:
        self.last_selection = Selection(str(context), tool)
        self.save()

    def set_layout(self, layout: dict[str, str]) -> None:
        self.layout = dict(layout)
        self.save()
