"""``landscape render``: a frame list rendered in chunks, each in the context's image with
exactly the launch's user, storage, environment and working directory (docs/commands.md,
render).

Two parts:

- :func:`render` — the scheduler, engine-free: chunks (:mod:`landscape.frames`) run on at
  most ``parallel`` worker threads through a *chunk runner* (a function that runs one
  attempt of one chunk with its arguments and returns the tool's exit code), each attempt's
  frames checked on disk (:func:`landscape.renderspec.verify_frame`), failed attempts
  retried up to ``retries`` times with their logs kept, and ``stop`` ending everything;
- :class:`ContainerRunner` — the chunk runner of a local render: one fresh container per
  attempt, the launch's own configuration (:func:`landscape.engine.launch.launch_spec`, run
  by :func:`landscape.engine.session.run_launch`) with the chunk's arguments appended and
  labels naming the chunk; :meth:`ContainerRunner.stop_all` removes every container it
  started.

Attempt-private outputs: when the tool's ``frames`` use ``{output}``, attempt *n* of chunk
*c* renders into ``<outputs folder>/.landscape-attempt-<c>-<n>/`` and only its verified
frames are moved into place (:func:`os.replace`, atomic on one file system) **after its
container has ended and been removed**; attempts of one chunk run one after the other, and
the folder of an attempt is deleted before the next starts, so no older attempt can write
over a newer one's frames. When the tool writes to a path of its own (no ``{output}``), the
frames land in place and a frame counts only when the attempt rewrote it (its inode, size or
modification time changed): a frame left by an earlier run is never taken for new work.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ..errors import EngineError, LandscapeError
from ..frames import Chunk
from ..renderspec import (RenderSpec, attempt_folder, attempt_pattern, chunk_values,
                          frame_name, substitute, verify_frame)

if TYPE_CHECKING:
    from ..launchinputs import LaunchInputs
    from .launch import LaunchSpec

#: ``runner(chunk, attempt, args, log)`` → the tool's exit code; ``log`` is the file the
#: attempt's output goes to
ChunkRunner = Callable[[Chunk, int, list[str], Path], int]
Log = Callable[[str], None]
#: the folder (inside the outputs' folder) that keeps the logs of failed attempts
LOGS = ".landscape-logs"
#: lines of a failed chunk's log shown in its report
LOG_TAIL = 5


class Interrupted(Exception):
    """The render was asked to stop (Ctrl-C, SIGTERM) while an attempt was starting."""


@dataclass
class RenderJob:
    """One render: ``chunks`` of the tool's ``spec``, whose outputs pattern lives in the
    host folder ``workdir`` (the working directory as seen from the host) with its frames in
    ``outdir`` (the pattern's folder, real path), checked against ``resolution``
    (``[width, height]``, for ``verify: resolution``); each chunk gets ``retries`` more
    attempts after a failed one, each attempt at most ``timeout`` seconds (``None``: no
    limit); at most ``parallel`` chunks run at once."""

    chunks: list[Chunk]
    spec: RenderSpec
    workdir: Path
    outdir: Path
    resolution: list[int] | None = None
    retries: int = 2
    parallel: int = 1
    timeout: float | None = None
    #: ``(st_dev, st_ino)`` of ``outdir`` when the job was made: the host writes into that
    #: folder only through a descriptor of exactly it (:func:`open_outdir`), so a container
    #: that swaps a folder on the way for a symlink cannot steer the host's writes
    outdir_id: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.outdir_id is None:
            try:
                st = os.stat(self.outdir)
            except OSError:
                return
            self.outdir_id = (st.st_dev, st.st_ino)

    @property
    def logs(self) -> Path:
        """Where the logs of failed attempts are kept."""
        return self.outdir / LOGS


class FolderReplaced(LandscapeError):
    """The outputs folder is no longer the folder the render started with (a container
    replaced it, or a folder on the way, with a symlink or another folder)."""


def open_outdir(job: RenderJob) -> int:
    """A descriptor of ``job.outdir`` (a directory, close it after use), checked to be the
    very folder the job was made for. Raises :class:`FolderReplaced` otherwise: every
    container of the render may write in the working directory, so the host never follows
    a path there that a container could have swapped for a symlink out of it."""
    try:
        fd = os.open(job.outdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise FolderReplaced(f"the output folder {job.outdir} cannot be opened: "
                             f"{e.strerror or e}") from None
    st = os.fstat(fd)
    if job.outdir_id is not None and (st.st_dev, st.st_ino) != job.outdir_id:
        os.close(fd)
        raise FolderReplaced(f"the output folder {job.outdir} was replaced during the "
                             "render (by a symlink or another folder): nothing more is "
                             "written there")
    return fd


def _subfolder(parent: int, name: str) -> int:
    """A descriptor of the real folder ``name`` in the folder ``parent`` (made when
    missing); a symlink or any other file there is refused (``OSError``)."""
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                   dir_fd=parent)


def keep_log(job: RenderJob, source: Path, name: str) -> Path | None:
    """Copy the host-private log ``source`` to ``<outputs folder>/.landscape-logs/name``
    without following a symlink a container put on the way (a log path that is a symlink
    to the artist's ``~/.bashrc`` must not overwrite it); whatever file holds ``name`` is
    replaced by a new one. Returns the kept log's path, or ``None`` when it could not be
    kept there (the outputs folder was replaced, a non-folder holds ``.landscape-logs``)."""
    try:
        out = open_outdir(job)
    except FolderReplaced:
        return None
    logs = fd = -1
    try:
        logs = _subfolder(out, LOGS)
        try:
            os.unlink(name, dir_fd=logs)
        except FileNotFoundError:
            pass
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=logs)
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            fd = -1
            shutil.copyfileobj(src, dst)
        return job.logs / name
    except OSError:
        return None
    finally:
        for d in (fd, logs, out):
            if d >= 0:
                os.close(d)


def move_frames(job: RenderJob, attempt: str, names: Sequence[str]) -> None:
    """Move the frames ``names`` from the attempt folder ``attempt`` into the outputs
    folder, through descriptors of both (:func:`open_outdir`; the attempt folder must be a
    real folder in it, not a symlink). Raises :class:`FolderReplaced` or ``OSError``."""
    out = open_outdir(job)
    try:
        private = os.open(attempt, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=out)
        try:
            for n in names:
                if not stat.S_ISREG(os.stat(n, dir_fd=private, follow_symlinks=False).st_mode):
                    raise FolderReplaced(f"frame {n} is no longer a regular file")
                os.replace(n, n, src_dir_fd=private, dst_dir_fd=out)
        finally:
            os.close(private)
    finally:
        os.close(out)


@dataclass
class ChunkResult:
    """How a chunk ended: ``ok``, after ``attempts`` attempts; ``reason`` of the last
    failure and the ``log`` of the last failed attempt (kept on disk); ``seconds`` spent."""

    chunk: Chunk
    ok: bool
    attempts: int
    reason: str = ""
    log: Path | None = None
    seconds: float = 0.0
    #: the last lines of the last failed attempt's log, read from Landscape's own copy
    tail: list[str] = field(default_factory=list)


@dataclass
class RenderResult:
    """The chunks' results, in chunk order; ``interrupted`` when a stop ended the render,
    ``fatal`` when an attempt could not start at all (the engine refused its container)."""

    results: list[ChunkResult] = field(default_factory=list)
    interrupted: bool = False
    fatal: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every chunk's frames are verified in place."""
        return (not self.interrupted and self.fatal is None
                and all(r.ok for r in self.results))

    @property
    def failed(self) -> list[ChunkResult]:
        return [r for r in self.results if not r.ok]


def pattern_folder(pattern: str) -> str:
    """The folder part of an outputs pattern (``""`` for the working directory itself)."""
    return pattern.rpartition("/")[0]


def frames_to_render(frames: Sequence[int], spec: RenderSpec, outdir: Path,
                     resolution: Sequence[int] | None) -> list[int]:
    """The frames of ``frames`` whose file in ``outdir`` is missing or fails the spec's
    ``verify`` check (what ``--resume`` renders), in order."""
    name = spec.outputs.rpartition("/")[2]
    return [f for f in frames
            if verify_frame(outdir / frame_name(name, f), spec.verify, resolution) is not None]


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _tail(log: Path | None, lines: int = LOG_TAIL) -> list[str]:
    """The last ``lines`` lines of ``log`` (decoded leniently, control characters kept
    out by the caller's printing)."""
    if log is None:
        return []
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def log_tail(result: ChunkResult, lines: int = LOG_TAIL) -> list[str]:
    """The last ``lines`` non-empty lines of the log of ``result``'s last failed attempt
    (read when it failed from Landscape's private copy: the kept log lies in a folder the
    render's containers may write, so it is not read back by its path)."""
    return result.tail[-lines:]


def run_chunk(job: RenderJob, chunk: Chunk, runner: ChunkRunner, stop: threading.Event,
              log: Log, scratch: Path) -> ChunkResult:
    """Render ``chunk`` of ``job`` with ``runner``: attempts until every frame passes
    verification or ``job.retries`` retries failed (or ``stop`` is set). Each attempt's
    output goes to a file of the host-private folder ``scratch`` (never a path the
    containers can reach), copied to ``<logs>/<chunk>.<attempt>.log`` (:func:`keep_log`)
    when the attempt fails. Progress lines go to ``log``. Raises :class:`EngineError` when
    the runner does (a container that cannot start: retrying would not help) and
    :class:`Interrupted` when it does."""
    spec = job.spec
    name = spec.outputs.rpartition("/")[2]
    folder = pattern_folder(spec.outputs)
    started = time.monotonic()
    reason, kept, tail = "", None, []
    attempts = 0
    for attempt in range(1, job.retries + 2):
        if stop.is_set():
            return ChunkResult(chunk, False, attempts, "interrupted", kept,
                               time.monotonic() - started)
        attempts = attempt
        private = job.outdir / attempt_folder(chunk.name, attempt) if spec.chooses_output \
            else None
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)  # a leftover of an earlier run
        output = attempt_pattern(spec.outputs, chunk.name, attempt) if private else None
        args = substitute(spec.frames, chunk_values(chunk.frames, output))
        log_file = job.logs / f"{chunk.name}.{attempt}.log"
        own_log = scratch / log_file.name
        finals = {f: job.outdir / frame_name(name, f) for f in chunk.frames}
        before = {f: _signature(p) for f, p in finals.items()} if private is None else {}
        log(f"chunk {chunk.name}: attempt {attempt} started")
        t0 = time.monotonic()
        try:
            code = runner(chunk, attempt, args, own_log)
        except BaseException:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            raise
        if stop.is_set():
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            return ChunkResult(chunk, False, attempts, "interrupted",
                               keep_log(job, own_log, log_file.name),
                               time.monotonic() - started)
        bad = []
        for f in chunk.frames:
            where = private / frame_name(name, f) if private is not None else finals[f]
            why = verify_frame(where, spec.verify, job.resolution)
            if why is None and private is None and _signature(where) == before[f]:
                why = "not written by this attempt"
            if why is not None:
                bad.append(f"frame {f} {why}")
        if code == 0 and not bad and private is not None:
            try:
                move_frames(job, private.name, [frame_name(name, f) for f in chunk.frames])
            except OSError as e:
                bad.append(f"frames not moved into place: {e.strerror or e}")
            except FolderReplaced as e:
                bad.append(e.message)
        if code == 0 and not bad:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            own_log.unlink(missing_ok=True)
            log(f"chunk {chunk.name}: done, {len(chunk.frames)} frame(s) verified in "
                f"{time.monotonic() - t0:.1f} s")
            return ChunkResult(chunk, True, attempts, seconds=time.monotonic() - started)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        parts = ([f"exit {code}"] if code != 0 else ["exit 0"]) + bad[:3] + (
            [f"{len(bad) - 3} more frame(s) bad"] if len(bad) > 3 else [])
        reason = ", ".join(parts)
        kept = keep_log(job, own_log, log_file.name)
        tail = _tail(own_log)
        if kept is None:
            reason += ", log not kept: the output folder is not the one the render started with"
        more = f"; retrying ({attempt + 1} of {job.retries + 1})" \
            if attempt <= job.retries else ""
        where = folder + "/" if folder else ""
        log(f"chunk {chunk.name}: attempt {attempt} failed: {reason}; log: "
            f"{where}{LOGS}/{log_file.name}{more}")
    return ChunkResult(chunk, False, attempts, reason, kept, time.monotonic() - started,
                       tail)


def render(job: RenderJob, runner: ChunkRunner, *, log: Log, stop: threading.Event | None = None,
           on_stop: Callable[[], None] | None = None, poll: float = 0.2) -> RenderResult:
    """Render every chunk of ``job`` with ``runner`` on at most ``job.parallel`` threads;
    progress lines go to ``log`` (called from worker threads too). ``stop`` (set by a
    signal handler, or by a chunk that cannot start) ends the render: ``on_stop()`` is
    called once from this thread (to end the running attempts), no further attempt starts,
    and the attempts' private folders are removed. Frames already moved into place stay.
    Returns a :class:`RenderResult`; never raises for a failed chunk."""
    stop = stop if stop is not None else threading.Event()
    result = RenderResult()
    by_chunk: dict[Chunk, ChunkResult] = {}
    fatal: list[str] = []

    from ..resources import cache_dir

    # the attempts' logs are written here, where no container reaches, and copied out
    home = cache_dir() / "render"
    home.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="logs-", dir=home))

    def one(chunk: Chunk) -> None:
        try:
            by_chunk[chunk] = run_chunk(job, chunk, runner, stop, log, scratch)
        except Interrupted:
            by_chunk[chunk] = ChunkResult(chunk, False, 0, "interrupted")
        except LandscapeError as e:  # the engine refused the container: stop everything
            fatal.append(f"chunk {chunk.name}: {e.message}")
            by_chunk[chunk] = ChunkResult(chunk, False, 0, e.message)
            stop.set()

    stopped = False
    try:
        with ThreadPoolExecutor(max_workers=max(1, job.parallel),
                                thread_name_prefix="landscape-render") as pool:
            pending: set[Future] = {pool.submit(one, c) for c in job.chunks}
            while pending:
                _done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                if stop.is_set() and not stopped:
                    stopped = True
                    if on_stop is not None:
                        on_stop()
            if stop.is_set() and not stopped and on_stop is not None:
                on_stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _clean_outdir(job)
    result.results = [by_chunk.get(c) or ChunkResult(c, False, 0, "not started")
                      for c in job.chunks]
    result.fatal = fatal[0] if fatal else None
    result.interrupted = stop.is_set() and not fatal
    return result


def _clean_outdir(job: RenderJob) -> None:
    """Remove the attempts' private folders left by interrupted attempts, and the logs
    folder when no failed attempt left a log, through a descriptor of the outputs folder
    (nothing when it was replaced)."""
    try:
        out = open_outdir(job)
    except FolderReplaced:
        return
    try:
        for entry in os.listdir(out):
            if entry.startswith(".landscape-attempt-"):
                if sys.version_info >= (3, 11):
                    shutil.rmtree(entry, ignore_errors=True, dir_fd=out)
                else:  # pragma: no cover - Python 3.10: by path (rmtree keeps off symlinks)
                    shutil.rmtree(job.outdir / entry, ignore_errors=True)
        try:
            os.rmdir(LOGS, dir_fd=out)
        except OSError:
            pass
    finally:
        os.close(out)


# -- containers ------------------------------------------------------------------------------

#: labels of a render's containers (on top of the launch's own)
LABEL_RENDER_CHUNK = "io.landscape.render.chunk"
LABEL_RENDER_ID = "io.landscape.render.id"


class ContainerRunner:
    """Runs each attempt of a chunk in a fresh container of the launch ``base`` (a
    :class:`~landscape.engine.launch.LaunchSpec` made with no arguments, its ``image`` the
    image id) of ``inputs``: the same user, storage, environment and working directory, the
    chunk's arguments appended to the tool's argv, the label ``io.landscape.role=render``
    plus :data:`LABEL_RENDER_ID` (``render_id``) and :data:`LABEL_RENDER_CHUNK`. The
    attempt's output goes to its log file. ``stop`` is the render's stop flag: a container
    created after it is set is removed before it starts."""

    def __init__(self, inputs: "LaunchInputs", base: "LaunchSpec", render_id: str,
                 stop: threading.Event, timeout: float | None = None) -> None:
        self.inputs, self.base, self.render_id = inputs, base, render_id
        self.stop, self.timeout = stop, timeout
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self.warnings: list[str] = []

    def spec(self, chunk: Chunk, args: list[str]) -> "LaunchSpec":
        """The launch spec of one attempt of ``chunk`` with the tool arguments ``args``."""
        from ..names import LABEL_ROLE

        labels = {**self.base.labels, LABEL_ROLE: "render", LABEL_RENDER_ID: self.render_id,
                  LABEL_RENDER_CHUNK: chunk.name}
        return dataclasses.replace(self.base, argv=[*self.base.argv, *args], labels=labels,
                                   warnings=[])

    def __call__(self, chunk: Chunk, attempt: int, args: list[str], log: Path) -> int:
        from .launch import remove
        from .session import run_launch

        spec = self.spec(chunk, args)
        timer: threading.Timer | None = None
        container: list[str] = []

        def started(cid: str) -> None:
            with self._lock:
                self._running.add(cid)
            container.append(cid)
            if self.stop.is_set():
                raise Interrupted
            nonlocal timer
            if self.timeout:
                timer = threading.Timer(self.timeout, remove, (cid,))
                timer.daemon = True
                timer.start()

        with open(log, "wb") as f:
            write = _locked_writer(f)
            t0 = time.monotonic()
            try:
                code = run_launch(self.inputs, spec, False, tty=False, stdin=False,
                                  command="render", out=write, err=write, started=started,
                                  warn=self.warnings.append)
            finally:
                if timer is not None:
                    timer.cancel()
                with self._lock:
                    self._running.difference_update(container)
            if self.timeout and time.monotonic() - t0 >= self.timeout and code != 0:
                write(f"\nlandscape: attempt stopped after {self.timeout:g} s "
                      "(--timeout)\n".encode())
        return code

    def stop_all(self) -> None:
        """Remove (kill first) every container this runner started and that still runs."""
        from .launch import remove

        with self._lock:
            running = list(self._running)
        for cid in running:
            remove(cid)


def _locked_writer(f) -> Callable[[bytes], None]:
    lock = threading.Lock()

    def write(data: bytes) -> None:
        with lock:
            f.write(data)
            f.flush()
    return write


def host_path(binds: Sequence[tuple[str, str, str]], path: str) -> Path | None:
    """The host path of the container path ``path`` through the storage ``binds``
    (``(host source, container target, mode)``; the deepest target that holds it), or
    ``None`` when no bind holds it or that bind is read-only (what a container writes there
    is lost, or refused)."""
    best: tuple[int, str, Path] | None = None
    for source, target, mode in binds:
        t = target.rstrip("/") or "/"
        if path == t or path.startswith(t.rstrip("/") + "/"):
            rest = path[len(t):].lstrip("/")
            if best is None or len(t) > best[0]:
                best = (len(t), mode, Path(source) / rest if rest else Path(source))
    return best[2] if best is not None and best[1] == "rw" else None


@dataclass
class LocalRender:
    """What :func:`prepare_local` made ready: the ``job``, the frames it renders
    (``frames``; after ``--resume``, only the missing or bad ones), the frames asked for
    (``asked``) and notes for the user (``notes``: a weaker check than asked)."""

    job: RenderJob
    frames: list[int]
    asked: list[int]
    notes: list[str] = field(default_factory=list)


def prepare_local(inputs: "LaunchInputs", asked: Sequence[int], chunk: int, *,
                  parallel: int, retries: int, resume: bool,
                  timeout: float | None = None) -> LocalRender:
    """Check a local render of the frames ``asked`` of ``inputs``' tool and make its
    :class:`LocalRender`: the tool's render keys (:func:`landscape.renderspec.render_spec`),
    the working directory's host folder (through the launch's storage), the outputs folder
    (made; it must stay inside the working directory and be writable), the frames to render
    (all, or with ``resume`` those missing or failing verification) in chunks of at most
    ``chunk``. Raises :class:`~landscape.errors.ConfigError` at the key to blame,
    :class:`LandscapeError` (one line) for a working directory that is not on read-write
    storage, an output folder that cannot be used, ``verify: resolution`` without
    ``metadata.resolution``, or bad numbers (a chunk, ``parallel`` or ``timeout`` below 1,
    negative ``retries``)."""
    from ..frames import chunks as split
    from ..renderspec import (confined, expected_resolution, render_spec, weaker_check)
    from .launch import check_launchable

    if parallel < 1 or retries < 0 or (timeout is not None and timeout <= 0):
        raise LandscapeError("--parallel must be at least 1, --retries at least 0 and "
                             "--timeout above 0")
    check_launchable(inputs)
    spec = render_spec(inputs.tool, inputs.render)
    resolution = expected_resolution(inputs.context_json.get("metadata") or {})
    if spec.verify == "resolution" and resolution is None:
        raise LandscapeError(f"tool {inputs.tool!r} verifies the resolution "
                             f"({spec.where.get('verify', 'verify')}) but the context has no "
                             "metadata.resolution [width, height]")
    assert inputs.workdir is not None  # check_launchable
    binds = [(m.source, m.target, m.mode) for m in inputs.storage]
    workdir = host_path(binds, inputs.workdir)
    if workdir is None:
        raise LandscapeError(f"the working directory {inputs.workdir} is not on read-write "
                             "storage: rendered frames would be lost with the container")
    outdir = confined(workdir, pattern_folder(spec.outputs))
    frames = list(asked)
    if resume:
        frames = frames_to_render(frames, spec, outdir, resolution)
    job = RenderJob(split(frames, chunk, spec.steps), spec, workdir, outdir, resolution, retries,
                    parallel, timeout)
    note = weaker_check(spec.outputs, spec.verify)
    return LocalRender(job, frames, list(asked), [note] if note else [])


def run_local(inputs: "LaunchInputs", image: str, local: LocalRender, *, log: Log
              ) -> RenderResult:
    """Render ``local`` (:func:`prepare_local`) in containers of the image ``image`` (an
    id): the launch's spec (:func:`landscape.engine.launch.launch_spec`) with each chunk's
    arguments. In the main thread, SIGINT, SIGTERM and SIGHUP stop the render: every
    container it started is removed, with the attempts' private folders (frames already in
    place stay). Raises what ``launch_spec`` raises."""
    import secrets

    from .launch import launch_spec

    base = launch_spec(inputs, [])
    base.image = image
    for warning in base.warnings:
        log(f"warning: {warning}")
    stop = threading.Event()
    runner = ContainerRunner(inputs, base, secrets.token_hex(8), stop, local.job.timeout)
    return run_with(local.job, runner, stop, log=log)


class StoppableRunner(Protocol):
    """A :data:`ChunkRunner` that can end everything it started (``stop_all()``)."""

    def __call__(self, chunk: Chunk, attempt: int, args: list[str], log: Path) -> int: ...

    def stop_all(self) -> None: ...


def run_with(job: RenderJob, runner: StoppableRunner, stop: threading.Event, *, log: Log,
             what: str = "containers") -> RenderResult:
    """Run :func:`render` of ``job`` with ``runner`` (a chunk runner with a ``stop_all()``
    method that removes whatever it started: containers, services…, named by ``what`` in
    the stop message) and the stop flag ``stop`` it watches. In the main thread, SIGINT,
    SIGTERM and SIGHUP set ``stop``: the render ends and ``stop_all()`` runs; it runs once
    more when the render has ended, whatever ended it. The previous signal handlers are put
    back."""
    import signal

    previous = {}
    if threading.current_thread() is threading.main_thread():
        def handler(signum: int, _frame: object) -> None:
            if not stop.is_set():
                log(f"stopping: {signal.Signals(signum).name}; removing the render's "
                    f"{what}")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, handler)
    stop_all = runner.stop_all
    try:
        return render(job, runner, log=log, stop=stop, on_stop=stop_all)
    finally:
        stop_all()
        for sig, h in previous.items():
            signal.signal(sig, h)


# -- farms: the image by digest ------------------------------------------------------------

def studio_registry(inputs: "LaunchInputs", why: str) -> str:
    """The studio's registry (``image.registry`` of the root file) for ``inputs``. Raises
    :class:`LandscapeError` (one line, ``why`` saying what needs it) when the studio has
    none or its value could not be read."""
    if inputs.registry_error:
        raise LandscapeError(f"{why}, and the studio's image.registry cannot be used: "
                             f"{inputs.registry_error}")
    if not inputs.registry:
        raise LandscapeError(f"{why}: set image.registry in the studio's landscape.yaml "
                             "(e.g. registry.example.com or 127.0.0.1:5000)")
    return inputs.registry


def publish_image(inputs: "LaunchInputs", log: Log) -> tuple[str, str]:
    """Push the (local) image of ``inputs`` to the studio registry
    (:func:`landscape.engine.registry.push_image`) and return ``(reference, digest)``:
    ``REGISTRY/landscape/<project>@sha256:…`` and the manifest digest alone. The image
    must be local first (the CLI gets it as a local render does). Raises
    :class:`LandscapeError` without a registry, :class:`EngineError` (one line, naming the
    registry) when the push fails. Layers the registry holds are not sent again."""
    from .registry import push_image, registry_repository

    registry = studio_registry(inputs, "a farm job runs the image from the studio registry")
    try:
        digest = push_image(inputs.image, registry, log=log)
    except EngineError as e:
        raise EngineError(f"registry {registry} refused the image: {e.message}",
                          hint=e.hint) from None
    return f"{registry_repository(inputs.image, registry)}@{digest}", digest


def digest_image(inputs: "LaunchInputs", digest: str, log: Log) -> str:
    """The id of the image a render with ``--digest digest`` runs in: exactly
    ``REGISTRY/landscape/<project>@<digest>``, local or pulled by digest
    (:func:`landscape.engine.registry.image_by_digest`), whose labels must be those of the
    image ``inputs``' context resolves to now. Raises :class:`LandscapeError` (one line)
    without a registry, or when that image belongs to another resolve ("the job was emitted
    for image …; this context now resolves to …"); :class:`EngineError` when it cannot be
    had (registry down, unknown digest)."""
    from .registry import ImageMismatch, image_by_digest

    registry = studio_registry(inputs, "--digest names an image of the studio registry")
    try:
        image = image_by_digest(inputs.image, registry, digest, log=log)
    except ImageMismatch as e:
        raise LandscapeError(
            f"the job was emitted for image {e.reference}; this context now resolves to "
            f"{inputs.image.tag} (its config changed since): emit the job again",
            hint="landscape render … --emit openjd") from None
    return image.id
