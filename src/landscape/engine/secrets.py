"""Secrets at launch time (docs/config.md, Secrets; docs/security.md).

A launch's secrets (:class:`~landscape.userstate.SecretSpec`: declarations only, from the
resolve) are read here, when the launch starts, from the launching user's environment or
files — this process's environment at call time, so a launch served by the launch agent
reads its client's — and go only where they are meant to:

- ``as: env`` (the default): the value is the variable's, in the container's environment
  (the Engine API create body's ``Env``, or a warm launch's exec body; the ``docker exec``
  command line names such a variable without its value, which reaches the CLI through its
  environment, so it never shows in the process table);
- ``as: file``: the value is written to a file (mode 0400, the launching user's) in a
  private folder on a tmpfs of the host — ``$XDG_RUNTIME_DIR/landscape/secrets`` when that
  is a private folder of the user's, else ``/dev/shm/landscape-<uid>/secrets`` — mounted
  read-only under ``/run/secrets`` and removed when the launch ends; the variable names the
  file's container path.

Values never enter a record, the resolve cache, an image, a label, ``/landscape/context.json``
or an error message. A secret that cannot be read is a one-line error naming it and where it
was declared (``file:line:col: key.path: …``), without its value.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import ConfigError, ErrorGroup, LandscapeError
from ..userstate import SecretSpec

#: the largest secret file read (bytes)
MAX_SIZE = 1 << 20
#: where a cold launch's secret files appear in its container (a warm launch's:
#: ``/run/secrets/<launch id>/``)
CONTAINER_FOLDER = "/run/secrets"


@dataclass
class SecretValues:
    """The values of a launch's secrets: ``env`` (name → value, ``as: env``) and ``files``
    (name → content, ``as: file``)."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def read_secrets(specs: Iterable[SecretSpec], environ: Mapping[str, str] | None = None
                 ) -> SecretValues:
    """Read every secret of ``specs`` now: from ``environ`` (default: this process's
    environment, at call time) or from its file (``~`` being the launching user's home,
    ``$HOME`` else the user database). Raises :class:`~landscape.errors.ErrorGroup` (or one
    :class:`ConfigError`) naming each secret that is not set, cannot be read, is not a
    regular file, is larger than :data:`MAX_SIZE`, holds NUL (as an environment value) or
    — declared below the studio root — is not in the user's home by real path. No message
    holds a value."""
    environ = os.environ if environ is None else environ
    out = SecretValues()
    errors: list[LandscapeError] = []
    for spec in specs:
        try:
            data = _from_env(spec, environ) if spec.source == "env" else _from_file(spec)
            if spec.as_file:
                out.files[spec.name] = data
            else:
                out.env[spec.name] = _env_value(spec, data)
        except ConfigError as e:
            errors.append(e)
    ErrorGroup.raise_if_any(errors)
    return out


def _fail(spec: SecretSpec, why: str) -> ConfigError:
    return ConfigError(f"secret {spec.name} {why}", spec.location, spec.key_path)


def _from_env(spec: SecretSpec, environ: Mapping[str, str]) -> bytes:
    value = environ.get(spec.ref)
    if value is None:
        raise _fail(spec, f"is not set: the environment variable {spec.ref} is not set")
    if value == "":
        raise _fail(spec, f"is not set: the environment variable {spec.ref} is empty")
    return value.encode("utf-8", "surrogateescape")


def _from_file(spec: SecretSpec) -> bytes:
    assert spec.path is not None
    path = os.path.expanduser(spec.path) if spec.path.startswith("~") else spec.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        raise _fail(spec, f"cannot be read from {spec.ref}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _fail(spec, f"cannot be read from {spec.ref}: not a regular file")
        if st.st_size > MAX_SIZE:
            raise _fail(spec, f"is not read: {spec.ref} is larger than {MAX_SIZE} bytes")
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_SIZE:
                raise _fail(spec, f"is not read: {spec.ref} is larger than {MAX_SIZE} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise _fail(spec, f"cannot be read from {spec.ref}: {e.strerror}") from None
    finally:
        os.close(fd)


def _env_value(spec: SecretSpec, data: bytes) -> str:
    """``data`` as an environment value: UTF-8 text, one final newline dropped, no NUL."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if b"\0" in data:
        raise _fail(spec, f"from {spec.ref} holds a NUL byte, which an environment variable "
                    "cannot (use `as: file`)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(spec, f"from {spec.ref} is not UTF-8 text, which an environment variable "
                    "needs (use `as: file`)") from None


# -- files on a tmpfs ----------------------------------------------------------------------------

def _private(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _private_folder(path: Path) -> Path:
    """``path`` (made, mode 0700, when missing; its parent must exist) when it is a folder
    of this user that no one else may enter; raises :class:`LandscapeError` otherwise. (Each
    level is made so: a parent made by ``mkdir -p`` would get the umask's mode, and
    ``$XDG_RUNTIME_DIR/landscape`` is also the launch agent's private folder.)"""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot make {path} for secret files: {e.strerror}") from None
    if not _private(path):
        raise LandscapeError(f"{path} is not a private folder of yours (mode 0700, not a "
                             "link): no secret files are written there")
    return path


def secret_base() -> Path | None:
    """The folder on a tmpfs of the host where secret files are written (see the module
    doc), made when missing; ``None`` when there is none (no private ``$XDG_RUNTIME_DIR``
    and no ``/dev/shm``). Raises :class:`LandscapeError` when the folder exists but is not
    the user's alone."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and _private(Path(runtime)):
        return _private_folder(_private_folder(Path(runtime) / "landscape") / "secrets")
    if os.path.isdir("/dev/shm"):
        top = _private_folder(Path(f"/dev/shm/landscape-{os.getuid()}"))
        return _private_folder(top / "secrets")
    return None


def write_secret_files(files: Mapping[str, bytes], parent: Path | None = None,
                       name: str | None = None) -> Path:
    """Write ``files`` (name → content) into a new private folder — ``parent/name``, or a
    fresh name in :func:`secret_base` — each file mode 0400; returns the folder, which the
    caller removes (:func:`remove_folder`). Raises :class:`LandscapeError` when there is no
    tmpfs."""
    base = parent if parent is not None else secret_base()
    if base is None:
        raise LandscapeError("secrets `as: file` need a tmpfs: no private $XDG_RUNTIME_DIR "
                             "and no /dev/shm on this host")
    if name is None:
        made = Path(tempfile.mkdtemp(dir=base, prefix="launch-"))
    else:
        made = base / name
        made.mkdir(mode=0o700)
    try:
        for name, content in files.items():
            fd = os.open(made / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o400)
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
    except BaseException:
        remove_folder(made)
        raise
    return made


def remove_folder(folder: Path | None) -> None:
    """Remove a folder of secret files (nothing when ``None`` or gone)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
