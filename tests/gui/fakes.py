"""A recording fake of :class:`landscape.gui.backend.Backend` for the window's tests.

It has the Backend's methods and returns the launcher's model objects, over an in-memory
studio (:class:`Folder` per context path). Its launches run a real local process (the
test's Python), streaming its output, so the window's threads, queued output and exit codes
are exercised without Docker; the Docker-marked tests use the real Backend.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from landscape.browse import BrowseEntry, folder_order
from landscape.errors import LandscapeError
from landscape.gui.model import (ContextDetails, ImageState, LaunchRequest, LaunchResult,
                                 PackageRow, Row, ToolInfo)

ROOT = Path("/fake/studio")
TOOLS = [ToolInfo("blender", "Blender", ("", "render"), gui=True, category="3D"),
         ToolInfo("python", "Python", ("",), category="Pipeline")]


@dataclass
class Folder:
    """One context folder of the fake studio (``rel`` to the root, ``""`` for the root):
    its own ``metadata`` (key → value text), ``packages`` (requests), ``errors`` and a
    ``variants`` dict (variant → metadata it overrides)."""

    rel: str
    name: str | None = None
    level: str | None = None
    label: str | None = None
    icon: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    policy: str = ""


class FakeBackend:
    """The Backend's methods over :attr:`folders`; every call is appended to :attr:`calls`
    as ``(method, argument)``. Knobs: :attr:`engine_down` (image state unknown, builds fail),
    :attr:`image` (``"missing"``/``"ready"``), :attr:`build_gate` (a build waits for it),
    :attr:`details_delay` (seconds a resolve of a path containing ``slow`` takes),
    :attr:`hold_listing` (``(folder, event)``: listing that folder waits for the event),
    :attr:`batch_size` (listings hand entries to their ``batch`` callback that many at a
    time before returning them all)."""

    def __init__(self, folders: list[Folder], root: Path = ROOT) -> None:
        self.root = root
        self.folders = {f.rel: f for f in folders}
        self._kids: dict[str, list[str]] = {}
        for rel in sorted(self.folders):
            if rel:
                parent = rel.rpartition("/")[0]
                self._kids.setdefault(parent, []).append(rel)
        self.calls: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.engine_down = False
        self.image = "missing"
        self.build_gate: threading.Event | None = None
        self.details_delay = 0.0
        self.missing_root = False
        self.hold_listing: tuple[Path, threading.Event] | None = None
        self.batch_size = 0  # > 0: listings hand their entries over in batches first

    def _record(self, method: str, arg: object) -> None:
        with self.lock:
            self.calls.append((method, arg))

    def called(self, method: str) -> list[object]:
        with self.lock:
            return [a for m, a in self.calls if m == method]

    def _rel(self, path: Path) -> str:
        rel = Path(path).relative_to(self.root).as_posix()
        return "" if rel == "." else rel

    def _entry(self, rel: str) -> BrowseEntry:
        f = self.folders[rel]
        path = self.root / rel if rel else self.root
        return BrowseEntry(path=path, name=f.name or path.name, level=f.level, label=f.label,
                           icon=f.icon, has_children=bool(self._kids.get(rel)),
                           errors=f.errors)

    # -- the Backend's methods ------------------------------------------------------------

    def studio(self) -> BrowseEntry:
        self._record("studio", None)
        if self.missing_root:
            raise LandscapeError(f"{self.root}: the studio root does not exist")
        return self._entry("")

    def children(self, folder: Path, batch=None, update=None) -> list[BrowseEntry]:
        self._record("children", folder)
        if self.hold_listing is not None and Path(folder) == self.hold_listing[0]:
            self.hold_listing[1].wait(30)
        entries = [self._entry(r) for r in self._kids.get(self._rel(folder), [])]
        if batch is not None and self.batch_size:
            ordered = sorted(entries, key=lambda e: folder_order(e.path.name))
            for i in range(0, len(ordered), self.batch_size):
                batch(ordered[i:i + self.batch_size])
        return entries

    def index(self) -> "FakeIndex":
        self._record("index", None)
        return FakeIndex(sorted(r for r in self.folders if r))

    def details(self, context: Path, tool: str | None, variants: tuple[str, ...]
                ) -> ContextDetails:
        self._record("details", (context, tool, variants))
        if self.details_delay and "slow" in str(context):
            time.sleep(self.details_delay)
        rel = self._rel(context)
        chain = [""] + ["/".join(rel.split("/")[:i + 1]) for i in range(len(rel.split("/")))
                        ] if rel else [""]
        meta: dict[str, Row] = {}
        pkgs: dict[str, PackageRow] = {"python": PackageRow("python", "3.11", "packages")}
        errors: list[str] = []
        levels: dict[str, str] = {}
        available: list[str] = []
        policy = ""
        for r in chain:
            f = self.folders.get(r)
            if f is None:
                continue
            src = f"{r + '/' if r else ''}landscape.yaml"
            if f.level:
                levels[f.level] = (self.root / r).name if r else self.root.name
            for k, v in f.metadata.items():
                meta[k] = Row(k, v, f"{src}:{5 + len(meta)}")
            for k, v in f.packages.items():
                pkgs[k] = PackageRow(k, v, "packages", f"{src}:4")
            errors += list(f.errors)
            for v, over in f.variants.items():
                available.append(v)
                if v in variants:
                    for k, val in over.items():
                        meta[k] = Row(k, val, f"{r + '/' if r else ''}landscape.{v}.yaml:3")
            policy = f.policy or policy
        if tool == "blender":
            pkgs["blender"] = PackageRow("blender", "3.4.1", "packages", "landscape.yaml:40")
        key = "sha256:" + format(abs(hash((rel, tool, variants, tuple(pkgs)))), "x")
        return ContextDetails(
            context=Path(context), tool=tool, variants=tuple(variants),
            available_variants=sorted(set(available)), levels=levels,
            files=[c + "/landscape.yaml" for c in chain], metadata=list(meta.values()),
            packages=sorted(pkgs.values(), key=lambda p: p.name),
            env=[Row("STUDIO", "example", "landscape.yaml:25 (set)")],
            storage=[Row(str(self.root / "projects"), str(self.root / "projects"),
                         "landscape.yaml:20")],
            image_key=key, image_tag=f"landscape/{rel.replace('/', '-') or 'studio'}:{key[7:15]}",
            tools=list(TOOLS), policy_ok=not policy, policy_message=policy, errors=errors)

    def image_state(self, details: ContextDetails) -> ImageState:
        self._record("image_state", details.context)
        if self.engine_down:
            return ImageState("unknown", "the Docker engine is not answering")
        return ImageState(self.image)

    def get_image(self, details: ContextDetails, *, pull_only: bool, progress) -> None:
        self._record("get_image", (details.context, pull_only))
        if self.engine_down:
            raise LandscapeError("the Docker engine is not answering")
        for step in range(1, 4):
            progress(step, 3, f"Step {step}/3 : RUN something {step}")
            if self.build_gate is not None and step == 2:
                self.build_gate.wait(30)
        self.image = "ready"

    def launch(self, request: LaunchRequest, output, stop: threading.Event) -> LaunchResult:
        """Run ``python ARGS…`` locally (whatever the tool), streaming its output."""
        self._record("launch", request)
        start = time.monotonic()
        if self.engine_down:
            return LaunchResult(None, 0.0, "the Docker engine is not answering")
        try:
            proc = subprocess.Popen([sys.executable, *request.args], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except OSError as e:
            return LaunchResult(None, time.monotonic() - start, str(e))

        def pump(stream, name: str) -> None:
            for line in iter(stream.readline, b""):
                output(name, line.decode(errors="replace"))

        threads = [threading.Thread(target=pump, args=(proc.stdout, "stdout")),
                   threading.Thread(target=pump, args=(proc.stderr, "stderr"))]
        for t in threads:
            t.start()
        while proc.poll() is None:
            if stop.wait(0.02):
                proc.terminate()
                break
        code = proc.wait()
        for t in threads:
            t.join()
        return LaunchResult(code, time.monotonic() - start)

    def command_line(self, request: LaunchRequest) -> str:
        self._record("command_line", request)
        tool = request.tool + (f"/{request.variant}" if request.variant else "")
        argv = ["landscape", "launch", str(request.context), "--tool", tool]
        for v in request.variants:
            argv += ["--variant", v]
        if request.args:
            argv += ["--", *request.args]
        return shlex.join(argv)


class FakeIndex:
    """ContextIndex's search over a fixed list of relative paths."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def build(self, cancel: threading.Event | None = None) -> list[str]:
        return self.paths

    def search(self, query: str, limit: int = 500) -> list[str]:
        terms = query.lower().split()
        return [p for p in self.paths if all(t in p.lower() for t in terms)][:limit]


def example_backend() -> FakeBackend:
    """The example studio's shape: lighthouse/seq010/sh010, sh020 (older pipeline, smaller
    resolution), seq020/sh030, sh040, assets/lamp; a lighting variant."""
    L = "projects/lighthouse"
    return FakeBackend([
        Folder("", name="Example Studio", metadata={"fps": "24", "resolution": "960 × 540"},
               packages={"studio_pipeline": "1.1.0"}),
        Folder("projects"),
        Folder(L, name="Lighthouse", level="project", metadata={"fps": "25",
               "frames": "1001–1024"}, packages={"studio_pipeline": "1.1.0"},
               variants={"lighting": {"render": "samples: 32"}}),
        Folder(f"{L}/assets"),
        Folder(f"{L}/assets/lamp", name="Lighthouse lamp", level="asset"),
        Folder(f"{L}/seq010", name="Arrival", level="sequence"),
        Folder(f"{L}/seq010/sh010", level="shot", metadata={"frames": "1001–1012"}),
        Folder(f"{L}/seq010/sh020", level="shot", metadata={"resolution": "640 × 272"},
               packages={"studio_pipeline": "1.0.0"}),
        Folder(f"{L}/seq020", name="Storm", level="sequence"),
        Folder(f"{L}/seq020/sh030", level="shot"),
        Folder(f"{L}/seq020/sh040", level="shot", metadata={"frames": "1001–1096"}),
    ])


def many_shots_backend(count: int = 10_000) -> FakeBackend:
    """A project with one sequence of ``count`` shots."""
    folders = [Folder("", name="Big Studio"), Folder("big", level="project"),
               Folder("big/seq", level="sequence")]
    folders += [Folder(f"big/seq/sh{i:05d}", level="shot") for i in range(count)]
    return FakeBackend(folders)


__all__ = ["FakeBackend", "FakeIndex", "Folder", "example_backend", "many_shots_backend"]
