"""The audit trail: one JSON record per launch (docs/commands.md, ``history``;
docs/security.md, Audit trail).

The studio root's ``launch.audit`` names where records go: a folder (on shared storage,
typically) or ``syslog``. Every launch — cold, warm, ``shell``, ``--host``, from the
command line, the fast path or the launch agent — goes through :func:`audited`, which writes
one record when the launch ends:

``{"version", "user", "uid", "host", "root", "project", "context", "tool", "variant",
"command", "mode", "image", "image_key", "digest", "lock", "start", "end", "seconds",
"exit"}`` — ``mode`` is ``cold``, ``warm`` or ``host``; ``image`` the image id (``null`` on
the host), ``digest`` its registry digest when the engine knows one; ``lock`` the sha256 of
the project's ``landscape.lock`` when there is one; ``start``/``end`` ISO-8601 UTC;
``exit`` the tool's exit code (``null`` when the launch failed before the tool ended). A
record never holds the environment or a secret.

In a folder, each user's records of one month on one host go to one file,
``<YYYY-MM>_<user>@<host>.jsonl`` (names made safe by
:func:`landscape.grammar.folder_name`), mode 0644 — readable by all, written only by its
user: the file is opened with ``O_APPEND`` (and without following a link) when the launch
starts, and a record is **one** ``write`` of one line of at most :data:`MAX_RECORD` bytes,
so concurrent launches never interleave. The folder must exist.

When the record cannot be written — the folder is missing, the file is another user's —
the launch warns once on stderr and runs, unless ``launch.audit_required`` is true: then it
refuses to start (the file is opened before the tool starts).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .. import grammar
from ..errors import LandscapeError
from ..identity import user_name
from ..userstate import AUDIT_SYSLOG

#: the longest record (bytes, with its newline): a single ``write`` of it is atomic
MAX_RECORD = 4096
#: record format version
VERSION = 1


def iso(epoch: float) -> str:
    """``epoch`` as ISO-8601 UTC with milliseconds (``2026-02-01T12:00:00.000Z``)."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def file_name(epoch: float, user: str, host: str) -> str:
    """The file of ``user``'s records on ``host`` in the month of ``epoch``:
    ``<YYYY-MM>_<user>@<host>.jsonl``."""
    month = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m")
    return f"{month}_{grammar.folder_name(user)}@{grammar.folder_name(host)}.jsonl"


def lock_digest(project_dir: str) -> str | None:
    """``sha256:<hex>`` of ``<project_dir>/landscape.lock``, or ``None`` when there is none."""
    path = Path(project_dir) / "landscape.lock"
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def image_digest(image: str | None) -> str | None:
    """The registry digest the engine knows for image id ``image`` (its first
    ``RepoDigests`` entry), or ``None``."""
    if not image:
        return None
    from . import docker as dk

    try:
        data = dk.inspect_image(image) or {}
    except Exception:  # noqa: BLE001 - an audit detail never fails a launch
        return None
    digests = data.get("RepoDigests") or []
    return str(digests[0]) if digests else None


@dataclass
class Record:
    """One launch's audit record being made (see the module doc): ``data`` so far, the
    open file (``fd``) or ``syslog``, and the ``exit`` code once known."""

    data: dict[str, Any]
    fd: int | None = None
    syslog: bool = False
    exit: int | None = None
    started: float = field(default_factory=time.time)

    def line(self, end: float) -> bytes:
        """The record as one line (``\\n``-terminated) of at most :data:`MAX_RECORD`
        bytes: long strings are cut (and ``"truncated": true`` added) to fit."""
        data = dict(self.data, end=iso(end), seconds=round(end - self.started, 3),
                    exit=self.exit)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n"
        if len(text) > MAX_RECORD:
            data = {k: (v[:400] + "..." if isinstance(v, str) and len(v) > 400 else v)
                    for k, v in data.items()}
            data["truncated"] = True
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n"
        return text.encode()

    def close(self) -> None:
        """Write the record (warning once on stderr when it cannot be) and close."""
        try:
            line = self.line(time.time())
            if self.syslog:
                import syslog

                syslog.openlog("landscape", syslog.LOG_PID, syslog.LOG_USER)
                syslog.syslog(syslog.LOG_INFO, line.decode().rstrip("\n"))
            elif self.fd is not None:
                if os.write(self.fd, line) != len(line):
                    raise OSError(0, "the record was cut short")
        except OSError as e:
            warn(f"cannot write this launch's audit record: {e.strerror or e}")
        finally:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None


def warn(why: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"warning: {why}\n")
    sys.stderr.flush()


def open_file(folder: str, started: float, user: str, host: str) -> int:
    """The open file descriptor (``O_APPEND``) of ``user``'s records on ``host`` for the
    month of ``started`` in ``folder``. Raises :class:`OSError` when the folder is missing,
    the file is a link, not a regular file, or another user's."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, f"the audit folder {folder} does not exist")
    path = os.path.join(folder, file_name(started, user, host))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                 | os.O_NONBLOCK, 0o644)  # a FIFO planted there must not hold the launch
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, f"{path} is not a regular file")
        if st.st_uid != os.getuid():
            raise OSError(0, f"{path} belongs to another user")
        if st.st_nlink != 1:  # a hard link planted to a file of the user's elsewhere
            raise OSError(0, f"{path} has other names (hard links)")
        if stat.S_IMODE(st.st_mode) != 0o644:
            os.fchmod(fd, 0o644)
    except BaseException:
        os.close(fd)
        raise
    return fd


def begin(inputs: Any, mode: str, command: str, image: str | None) -> Record | None:
    """Start the audit record of a launch of ``inputs`` (a
    :class:`~landscape.launchinputs.LaunchInputs`) in ``mode`` (``cold``, ``warm``,
    ``host``) by ``command`` (``launch``, ``shell``) running ``image`` (an id, or ``None``);
    ``None`` when the studio keeps no audit trail or the record cannot be written (after one
    warning). Raises :class:`LandscapeError` when it cannot be written and
    ``launch.audit_required`` is true."""
    state = inputs.user_state
    if state.audit is None:
        return None
    started = time.time()
    user = user_name()
    host = socket.gethostname()
    tool, _, variant = inputs.tool.partition("/")
    data = {"version": VERSION, "user": user, "uid": os.getuid(), "host": host,
            "root": inputs.root, "project": inputs.project, "context": inputs.context,
            "tool": tool, "variant": variant or None, "command": command, "mode": mode,
            "image": image, "image_key": inputs.image.key, "digest": image_digest(image),
            "lock": lock_digest(inputs.project_dir), "start": iso(started)}
    record = Record(data, started=started)
    if state.audit == AUDIT_SYSLOG:
        record.syslog = True
        return record
    try:
        record.fd = open_file(state.audit, started, user, host)
    except OSError as e:
        why = f"no audit record for this launch: {e.strerror or e}"
        if state.audit_required:
            raise LandscapeError(why.replace("no audit record for this launch",
                                             "not launched: its audit record cannot be "
                                             "written") + " (launch.audit_required)") from None
        warn(why)
        return None
    return record


class audited:
    """``with audited(inputs, mode, command, image) as record: …; record.exit = code`` —
    the audit record of one launch (:func:`begin`), written when the block ends, whatever
    happens (``exit`` stays ``None`` when the block raised)."""

    def __init__(self, inputs: Any, mode: str, command: str, image: str | None) -> None:
        self.record = begin(inputs, mode, command, image)

    def __enter__(self) -> Record:
        return self.record if self.record is not None else Record({})

    def __exit__(self, *exc: Any) -> None:
        if self.record is not None:
            self.record.close()


# -- reading ------------------------------------------------------------------------------------

#: the largest audit file ``history`` reads, and the longest line it takes as a record
MAX_FILE_BYTES = 256 << 20
MAX_LINE_BYTES = 16 << 10


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _file_lines(path: str) -> tuple[str | None, list[bytes]]:
    """``(owner's user name, lines)`` of the audit file ``path``: a regular file read
    without following a link and never blocking (a FIFO or device planted there is
    skipped), at most :data:`MAX_FILE_BYTES`, lines over :data:`MAX_LINE_BYTES` dropped;
    ``(None, [])`` when it is not such a file."""
    import pwd

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None, []
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None, []
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            return None, []
        return owner, [line for line in f.read(MAX_FILE_BYTES).splitlines()
                       if len(line) <= MAX_LINE_BYTES]


def read_records(folder: str, user: str | None = None, context: str | None = None
                 ) -> Iterator[dict[str, Any]]:
    """The records in audit ``folder`` (every ``*.jsonl`` file), oldest first: those of
    ``user`` only, and of ``context`` or any context below it only, when given. Lines that
    are not records are skipped, and so are records naming another user than the owner of
    their file (anyone may write a file into a shared folder, not as someone else). Raises
    :class:`LandscapeError` when the folder cannot be read."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".jsonl"))
    except OSError as e:
        raise LandscapeError(f"cannot read the audit folder {folder}: {e.strerror}") from None
    if user is not None:
        mark = f"_{grammar.folder_name(user)}@"
        names = [n for n in names if mark in n]
    records = []
    for name in names:
        owner, lines = _file_lines(os.path.join(folder, name))
        for raw in lines:
            try:
                data = json.loads(raw, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                continue
            if not isinstance(data, dict) or not isinstance(data.get("start"), str):
                continue
            if data.get("user") != owner:
                continue  # a record only counts in a file of the user it names
            if user is not None and data.get("user") != user:
                continue
            if context is not None:
                ctx = str(data.get("context", ""))
                if ctx != context and not ctx.startswith(context.rstrip("/") + "/"):
                    continue
            records.append(data)
    records.sort(key=lambda r: r["start"])
    return iter(records)
