"""The launcher's backend: the only thing the window talks to (no Qt here).

It calls the same library as the command line: :mod:`landscape.browse` for the tree and
its index, :func:`landscape.context.resolve` (and ``to_json(explain=True)``, the data of
``resolve --explain``) for what the window shows of a context, :mod:`landscape.engine.images`
and :mod:`landscape.engine.delivery` for its image, and :mod:`landscape.engine.session` —
as ``landscape launch`` does — for launches. Every method may be called from a worker
thread; resolves are made one at a time. Config, solve and engine problems become messages
(``details.errors``, an image state's ``message``, a launch result's ``error``), never
exceptions the window has to know about — except :meth:`Backend.get_image`, which raises
:class:`~landscape.errors.LandscapeError` with a one-line message.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from ..browse import BrowseEntry, ContextIndex, children, studio_entry
from ..errors import EngineError, LandscapeError, flatten
from ..paths import absolute
from .model import (ContextDetails, ImageState, LaunchRequest, LaunchResult, PackageRow, Row,
                    ToolInfo)

#: a line of the engine's legacy builder that starts a Dockerfile step
_STEP = re.compile(r"Step (\d+)/(\d+)\b")
#: how long a stopped tool gets to end after SIGTERM before it is killed (seconds)
STOP_GRACE = 10.0


def error_lines(error: BaseException) -> list[str]:
    """``error`` as lines for ``details.errors``: each error of a
    :class:`~landscape.errors.LandscapeError` (an :class:`~landscape.errors.ErrorGroup`
    gives each of its own) in the project's ``file:line:col: key.path: message`` form;
    ``OSError`` as ``message: file``."""
    if isinstance(error, LandscapeError):
        out: list[str] = []
        for e in sorted(flatten(error), key=LandscapeError.sort_key):
            out.extend(line for line in str(e).splitlines() if line.strip())
        return list(dict.fromkeys(out))
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return [f"{error.strerror or error}{where}"]
    return [f"{type(error).__name__}: {error}"]


def value_text(value: Any) -> str:
    """A config value as shown in a table cell: strings as they are, ``true``/``false``,
    numbers, dates in ISO form, lists and maps as compact JSON, ``null`` for None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))


def metadata_rows(node: Any, prefix: str = "") -> list[Row]:
    """The rows of a merged ``metadata`` node (:class:`~landscape.nodes.Node`): one per
    leaf, nested keys joined with ``.`` (``render.engine``), each with the ``file:line``
    that set it (what ``resolve --explain`` shows)."""
    rows: list[Row] = []
    if node is None:
        return rows
    if node.is_map:
        for key, child in node.items():
            rows += metadata_rows(child, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [Row(prefix, value_text(node.plain()), node.loc.short)]


def _action_text(action: dict) -> str:
    where = str(action.get("from", ""))
    return f"{action.get('op', '')} from {where}" if where else str(action.get("op", ""))


def env_rows(explained: dict) -> list[Row]:
    """The rows of ``resolve --explain``'s ``env``: value, and where it came from — its
    actions joined with ``"; "`` (``set from file:line; prepend from package …``) or its
    origin (``image``, ``rez``, ``landscape``, a secret's declaration)."""
    rows = []
    for key, item in explained.items():
        if "actions" in item:
            source = "; ".join(_action_text(a) for a in item["actions"])
        else:
            source = str(item.get("from", ""))
        rows.append(Row(key, value_text(item.get("value")), source))
    return rows


def package_rows(explained: dict) -> list[PackageRow]:
    """The packages of ``resolve --explain`` with ``requested_by``: the ``file:line`` of
    the (last) request naming each package's family, ``""`` for a dependency nobody
    named."""
    from ..merge import request_name

    named: dict[str, str] = {}
    for req in explained.get("requests", []):
        text = str(req.get("value", "")).strip()
        if text.startswith(("!", "~")):
            continue  # a conflict or weak reference requests nothing
        named[request_name(text)] = str(req.get("from", ""))
    rows = []
    for p in explained.get("packages", []):
        version = str(p.get("version", ""))
        if p.get("variant") is not None:
            version += f"[{p['variant']}]"
        rows.append(PackageRow(str(p.get("name", "")), version, str(p.get("repository", "")),
                               named.get(str(p.get("name", "")), "")))
    return rows


def storage_rows(explained: dict) -> list[Row]:
    """The storage of ``resolve --explain``: ``key`` the host source, ``value`` the
    container target and mode (``/mnt/projects (rw)``), ``source`` the ``file:line``."""
    rows = []
    for item in explained.get("storage", []):
        m = item.get("value", {})
        rows.append(Row(str(m.get("source", "")),
                        f"{m.get('target', '')} ({m.get('mode', 'rw')})",
                        str(item.get("from", ""))))
    return rows


def _tool_infos(tools: dict) -> list[ToolInfo]:
    """:class:`ToolInfo` of each top-level tool of ``tools`` (``resolve --json``'s shape,
    or a cascade's plain ``tools``): the default variant ``""`` first."""
    out = []
    for name, entry in tools.items():
        if not isinstance(entry, dict):
            continue
        variants = entry.get("variants") or []
        if isinstance(variants, dict):
            variants = sorted(variants)
        label = entry.get("label")
        category = entry.get("category")
        out.append(ToolInfo(str(name), label if isinstance(label, str) else str(name),
                            ("",) + tuple(str(v) for v in variants),
                            entry.get("gui") is True, entry.get("gpu") is True,
                            category if isinstance(category, str) else ""))
    return out


def _blocking(errors: list[LandscapeError]) -> str:
    return "; ".join(line for e in errors for line in error_lines(e))


@dataclass
class _Resolved:
    """A cached resolve: the details made from it, its resolved context (``None`` when it
    failed) and the stamp of the files it was made from."""

    details: ContextDetails
    rc: Any
    stamp: tuple


class Backend:
    """The real backend over the studio root ``root`` (an absolute path; it need not exist:
    :meth:`studio` then says so). ``problem``: why no studio root was found (``landscape
    gui`` outside a studio); :meth:`studio` then raises it. See the module doc."""

    def __init__(self, root: Path, problem: str | None = None) -> None:
        self.root = absolute(root)
        self.problem = problem
        self._resolve_lock = threading.Lock()
        self._cache: dict[tuple, _Resolved] = {}
        self._cache_lock = threading.Lock()

    # -- the tree ---------------------------------------------------------------------------

    def studio(self) -> BrowseEntry:
        """The studio root's entry (:func:`landscape.browse.studio_entry`). Raises
        :class:`LandscapeError` with :attr:`problem` when no studio root was found."""
        if self.problem:
            raise LandscapeError(self.problem)
        return studio_entry(self.root)

    def children(self, folder: Path,
                 batch: Callable[[list[BrowseEntry]], None] | None = None,
                 update: Callable[[list[BrowseEntry]], None] | None = None
                 ) -> list[BrowseEntry]:
        """The context folders below ``folder`` (:func:`landscape.browse.children`; with
        ``batch``, also handed over in batches while they are read, in
        :func:`landscape.browse.folder_order`; with ``update`` too, every row first as an
        outline, then the finished entries)."""
        return children(Path(folder), self.root, batch, update)

    def index(self) -> ContextIndex:
        """A new, unbuilt index of the studio's context paths (the caller builds it, off
        the UI thread: :meth:`~landscape.browse.ContextIndex.build`)."""
        return ContextIndex(self.root)

    def clear_caches(self) -> None:
        """Forget every cached resolve (F5: files, and package repositories, re-read)."""
        with self._cache_lock:
            self._cache.clear()

    # -- a context ----------------------------------------------------------------------------

    def _stamp(self, context: Path, variants: tuple[str, ...], files: list[str]) -> tuple:
        """What a cached resolve depends on that can change on disk: each folder of the
        walk (a config file added or removed changes its modification time) and each applied
        file (modification time, size)."""
        from ..cascade import walked_folders

        out: list[tuple] = []
        try:
            for folder in walked_folders(context, self.root):
                out.append((str(folder), os.stat(folder).st_mtime_ns))
        except (LandscapeError, OSError):
            return ("unstable", time.monotonic())
        for f in files:
            try:
                st = os.stat(f)
                out.append((f, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append((f, None))
        return tuple(out)

    def details(self, context: Path, tool: str | None,
                variants: tuple[str, ...]) -> ContextDetails:
        """What the window shows of ``context`` with ``tool`` (``T`` or ``T/V``; ``None``:
        the context alone) and context ``variants``: levels, files, metadata rows, packages
        (with the request that named each), environment (with its actions), storage, image
        key and tag, tools, the policy's verdict on launching ``tool`` and every error.

        Never raises for config, policy or solve problems: they are ``errors`` lines
        (``file:line:col: message``). A context that does not resolve still shows what its
        cascade says (levels, files, metadata, tools). Kept until a file on its walk changes
        (or :meth:`clear_caches`)."""
        context = absolute(context)
        variants = tuple(variants)
        tool = "/".join(p for p in (tool or "").split("/") if p) or None
        key = (str(context), tool, variants)
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit.stamp == self._stamp(context, variants,
                                                        hit.details.files):
            return replace(hit.details)
        with self._resolve_lock:
            details, rc = self._details(context, tool, variants)
        stamp = self._stamp(context, variants, details.files)
        if stamp[:1] != ("unstable",):
            with self._cache_lock:
                self._cache[key] = _Resolved(details, rc, stamp)
        return replace(details)

    def _details(self, context: Path, tool: str | None, variants: tuple[str, ...]
                 ) -> tuple[ContextDetails, Any]:
        from ..cascade import build_cascade, variant_names
        from ..context import resolve

        d = ContextDetails(context=context, tool=tool, variants=variants)
        try:  # the landscape.<v>.yaml files on the walk (none when the walk fails)
            d.available_variants = variant_names(context, self.root)
        except (LandscapeError, OSError):
            d.available_variants = []
        try:
            cascade = build_cascade(context, variants, self.root)
        except (LandscapeError, OSError) as e:
            d.errors = error_lines(e)
            return d, None
        d.levels = dict(cascade.level_values)
        d.level_folders = {str(lv.directory): lv.level for lv in cascade.levels}
        d.files = [str(f.path) for f in cascade.files]
        d.metadata = metadata_rows(cascade.node("metadata"))
        tools = cascade.plain("tools", {}) or {}
        d.tools = _tool_infos(tools if isinstance(tools, dict) else {})
        try:
            rc = resolve(context, tool=tool, variants=variants, root=self.root,
                         cascade=cascade, enforce_policy=False)
            explained = rc.to_json(explain=True)
        except (LandscapeError, OSError) as e:
            d.errors = error_lines(e)
            return d, None
        d.packages = package_rows(explained)
        d.env = env_rows(explained.get("env", {}))
        d.storage = storage_rows(explained)
        d.workdir = rc.workdir or ""
        d.image_key, d.image_tag = rc.image.key, rc.image.tag
        order = {t.name: i for i, t in enumerate(d.tools)}  # the files' order, whatever tool
        d.tools = sorted(_tool_infos(rc.tools_json()),        # is selected
                         key=lambda t: (order.get(t.name, len(order)), t.name))
        self._judge(d, rc)
        return d, rc

    def _judge(self, d: ContextDetails, rc: Any) -> None:
        """The policy's verdict, as ``launch`` and ``check`` reach it: without a tool, the
        context's own refusals (storage, what is not about a tool); with one, everything
        :func:`landscape.engine.launch.check_launchable` refuses for it."""
        from ..engine.launch import check_launchable

        if rc.tool is None:
            refused = [e for e in rc.policy_errors if e.key_path[:1] != ("tools",)]
            if refused:
                d.policy_ok, d.policy_message = False, _blocking(refused)
            return
        try:
            check_launchable(rc.launch_inputs())
        except LandscapeError as e:
            d.policy_ok, d.policy_message = False, _blocking([e])

    def _resolved(self, details: ContextDetails) -> Any:
        """The resolved context ``details`` were made from (resolved again when they are no
        longer cached); raises :class:`LandscapeError` naming why there is none."""
        key = (str(absolute(details.context)), details.tool, tuple(details.variants))
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is None or hit.rc is None:
            self.details(details.context, details.tool, tuple(details.variants))
            with self._cache_lock:
                hit = self._cache.get(key)
        if hit is None or hit.rc is None:
            errors = hit.details.errors if hit is not None else details.errors
            raise LandscapeError("the context does not resolve" +
                                 (f": {errors[0]}" if errors else ""))
        return hit.rc

    # -- its image ---------------------------------------------------------------------------

    def image_state(self, details: ContextDetails) -> ImageState:
        """Whether the engine holds the image of ``details`` (with every label it must
        carry: :func:`landscape.engine.images.image_id`): ``ready``, ``missing``, or
        ``unknown`` with the reason (the engine does not answer, the context does not
        resolve). Never raises."""
        from ..engine.images import image_id

        try:
            rc = self._resolved(details)
            found = image_id(rc.image)
        except (LandscapeError, OSError) as e:   # an EngineError names the engine and why
            return ImageState("unknown", _one(e))
        return ImageState("ready" if found is not None else "missing")

    def get_image(self, details: ContextDetails, *, pull_only: bool,
                  progress: Callable[[int, int, str], None]) -> None:
        """Get the image of ``details``: pulled from the studio registry (checked against
        the lock), else — unless ``pull_only`` — built, as ``landscape launch`` gets it
        (:func:`landscape.engine.delivery.ensure_context_image`). ``progress(step, steps,
        line)`` gets each line of the build or pull (``step``/``steps`` from the builder's
        ``Step N/M`` lines; ``0, 0`` when unknown). Raises :class:`LandscapeError` with a
        one-line message when the image cannot be had."""
        from ..engine.delivery import ensure_context_image
        from ..engine.images import image_id

        rc = self._resolved(details)
        state = {"step": 0, "steps": 0}

        def log(line: str) -> None:
            m = _STEP.search(line)
            if m is not None:
                state["step"], state["steps"] = int(m.group(1)), int(m.group(2))
            progress(state["step"], state["steps"], line)

        try:
            settings = rc.cascade.studio_image()
            ensure_context_image(rc.image, rc.cascade.project_dir, settings.get("registry"),
                                 log=log, root=rc.cascade.root, settings=settings,
                                 build=not pull_only)
            if image_id(rc.image) is None:
                raise EngineError(f"image {rc.image.tag} is not in the engine after getting it")
        except (LandscapeError, OSError) as e:
            raise LandscapeError(_one(e)) from None
        if state["steps"]:
            progress(state["steps"], state["steps"], f"{rc.image.tag} is ready")

    # -- launches ----------------------------------------------------------------------------

    def command_line(self, request: LaunchRequest) -> str:
        """The ``landscape launch …`` command that makes ``request``'s launch
        (:func:`landscape.engine.session.equivalent_command`)."""
        from ..engine.session import equivalent_command

        return equivalent_command(request.context, request.tool, request.variant,
                                  request.variants, request.args, request.root)

    def launch(self, request: LaunchRequest, output: Callable[[str, str], None],
               stop: threading.Event) -> LaunchResult:
        """Launch ``request`` in a fresh container and wait for it (blocking: call it from
        a worker thread), as ``landscape launch`` does (:mod:`landscape.engine.session`:
        the resolve cache, the image got first when missing, the audit record). The tool's
        output goes to ``output("stdout"|"stderr", text)`` (UTF-8, undecodable bytes
        replaced), as do the build's lines and warnings (on ``stderr``). Setting ``stop``
        sends the tool SIGTERM (SIGKILL after :data:`STOP_GRACE` seconds). Never raises: a
        launch that cannot start gives ``LaunchResult(None, seconds, error)``, ``error`` one
        line naming the cause (a broken config at ``file:line:col``, a policy refusal, no
        display for a ``gui`` tool, an engine that does not answer)."""
        started_at = time.monotonic()
        done = threading.Event()
        container: list[str] = []
        decoders = {name: codecs.getincrementaldecoder("utf-8")(errors="replace")
                    for name in ("stdout", "stderr")}

        def emit(stream: str, data: bytes, final: bool = False) -> None:
            text = decoders[stream].decode(data, final)
            if text:
                output(stream, text)

        def started(cid: str) -> None:
            container.append(cid)

        watcher = threading.Thread(target=self._watch, args=(stop, done, container),
                                   name="landscape-stop", daemon=True)
        watcher.start()
        try:
            code = self._launch(request, emit, started, stop)
        except (LandscapeError, OSError) as e:
            return LaunchResult(None, round(time.monotonic() - started_at, 2), _one(e))
        except Exception as e:  # noqa: BLE001 - the window must get a result, never a crash
            return LaunchResult(None, round(time.monotonic() - started_at, 2),
                                f"{type(e).__name__}: {_one(e)}")
        finally:
            done.set()
            for stream in decoders:
                try:
                    emit(stream, b"", final=True)
                except Exception:  # noqa: BLE001 - a window gone away
                    pass
        if code is None:
            return LaunchResult(None, round(time.monotonic() - started_at, 2),
                                "stopped before it started")
        return LaunchResult(code, round(time.monotonic() - started_at, 2))

    def _launch(self, request: LaunchRequest, emit: Callable[..., None],
                started: Callable[[str], None], stop: threading.Event) -> int | None:
        from ..engine.launch import launch_spec
        from ..engine import session

        tool = request.tool + (f"/{request.variant}" if request.variant else "")
        root = request.root if request.root is not None else self.root
        context = absolute(request.context)

        def line(text: str) -> None:
            emit("stderr", (text.rstrip("\n") + "\n").encode("utf-8", "replace"))

        inputs = session.launch_inputs("launch", context, tool, list(request.variants), root)
        # as `landscape launch`: what the machine must offer (a display…) before the image
        spec = launch_spec(inputs, list(request.args))
        image = session.launch_image_id(inputs)
        if image is None:
            line(f"getting {inputs.image.tag}")
            got = session.ensure_launch_image(
                inputs, lambda: session.fresh_resolve(context, tool, request.variants, root),
                line)
            image = got.id if got is not None else session.launch_image_id(inputs)
            if got is not None:
                line(f"{got.tag} {got.source} in {got.seconds} s")
        if image is None:
            raise EngineError(f"image {inputs.image.tag} is not in the engine")
        spec.image = image
        if stop.is_set():
            return None
        return session.run_launch(
            inputs, spec, False, tty=False, stdin=False,
            out=lambda data: emit("stdout", data), err=lambda data: emit("stderr", data),
            started=started, warn=lambda text: line(f"warning: {text}"))

    @staticmethod
    def _watch(stop: threading.Event, done: threading.Event, container: list[str]) -> None:
        """Until ``done``: once ``stop`` is set, send the launch's container SIGTERM (again
        until it is running: a container that is created but not started cannot be
        signalled), then SIGKILL after :data:`STOP_GRACE` seconds."""
        from ..engine.launch import kill

        while not done.is_set():
            if stop.wait(0.1):
                break
        signalled_at = None
        while not done.is_set():
            if container:
                now = time.monotonic()
                try:
                    if signalled_at is None:
                        if kill(container[0], "SIGTERM"):
                            signalled_at = now
                    elif now - signalled_at > STOP_GRACE:
                        kill(container[0], "SIGKILL")
                        signalled_at = now
                except LandscapeError:  # the engine went away: the launch ends with it
                    pass
            done.wait(0.2)


def _one(error: BaseException) -> str:
    """``error`` in one line (:func:`landscape.engine.session.one_line`)."""
    from ..engine.session import one_line

    return one_line(error)
