"""The home folder of a launch (docs/config.md, Launches: ``launch.home``).

- ``persistent`` (the default): a host folder per user, project and tool (the tool's name
  without variants) — ``<home root>/<user>/<project>/<tool>`` — mounted read-write at the
  container's home (``/home/<user>``, ``/root`` for root), so preferences, shelves and
  recent files outlive the launch. The home root is the studio root's
  ``launch.home_root`` (which must exist), else ``<user data dir>/homes``
  (:func:`landscape.resources.user_data_dir`, made when missing). Each name becomes one
  path component by :func:`landscape.grammar.folder_name` (a hostile project or tool name
  cannot reach outside the home root); each folder on the way is made by the user with mode
  0700 and must be a folder of the user's (not a link) — in a shared home root, another
  user cannot plant one.
- ``ephemeral``: a private tmpfs at the container's home, gone when the launch ends.
- ``host``: the user's own home on the host (from the user database, else ``$HOME``),
  mounted read-write at the same path, which is then the container's ``HOME``.

The folder is computed by :func:`home_of_launch` (no side effect) and made just before the
container is created (:func:`prepare_home`).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from .. import grammar
from ..errors import LandscapeError
from ..resources import user_data_dir
from ..userstate import UserState

#: container paths a host home may not be mounted at (``launch.home: host``)
RESERVED = ("/", "/landscape", "/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin",
            "/lib", "/lib32", "/lib64", "/libx32", "/opt/rez", "/tmp", "/var/tmp", "/run",
            "/boot", "/var/lib/docker")


def container_home(uid: int, user: str) -> str:
    """The container home of an ephemeral or persistent home: ``/root`` for root, else
    ``/home/<user>``."""
    return "/root" if uid == 0 else f"/home/{user}"


def home_root(state: UserState) -> Path:
    """The folder of persistent homes: ``launch.home_root``, else
    ``<user data dir>/homes``."""
    return Path(state.home_root) if state.home_root else user_data_dir() / "homes"


def persistent_folder(state: UserState, user: str, project: str, tool: str) -> Path:
    """``<home root>/<user>/<project>/<tool>`` for ``tool`` (a tool path; its variants are
    dropped), each name one component (:func:`landscape.grammar.folder_name`)."""
    return home_root(state).joinpath(*(grammar.folder_name(n) for n in
                                       (user, project, tool.split("/", 1)[0])))


def host_home(uid: int) -> str:
    """The user's host home (the user database's, else ``$HOME``), checked for a
    container: absolute, normalised and not a place a container needs for itself. Raises
    :class:`LandscapeError`."""
    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        home = os.environ.get("HOME", "")
    home = os.path.realpath(home) if home else ""
    problem = grammar.check_container_path(home) if home else "is not known"
    if problem is None and (any(c in home for c in ":,") or not home.isprintable()):
        problem = "holds a character /etc/passwd cannot hold"
    if problem is None and any(home == r or (r != "/" and home.startswith(r + "/"))
                               for r in RESERVED):
        problem = "is a folder the container needs for itself"
    if problem is not None:
        raise LandscapeError(f"your home {home!r} {problem}: launch.home: host cannot mount "
                             "it")
    return home


def home_of_launch(state: UserState, uid: int, user: str, project: str, tool: str
                   ) -> tuple[str, str | None]:
    """``(container home, host folder mounted there or None for a tmpfs)`` of a launch of
    ``tool`` of ``project`` by ``user`` (``uid``) under ``state.home``. Raises
    :class:`LandscapeError` for a host home that cannot be mounted."""
    if state.home == "host":
        home = host_home(uid)
        return home, home
    home = container_home(uid, user)
    if state.home == "ephemeral":
        return home, None
    return home, str(persistent_folder(state, user, project, tool))


def prepare_home(state: UserState, source: str | None, user: str, project: str, tool: str
                 ) -> None:
    """Make the host folder of a persistent home (see the module doc) or check a host home
    is a folder. Raises :class:`LandscapeError` naming the folder when the home root is
    missing, a folder on the way is a link or another user's, or cannot be made."""
    if source is None:
        return
    if state.home == "host":
        if not os.path.isdir(source):
            raise LandscapeError(f"your home {source} is not a folder")
        return
    root = home_root(state)
    if state.home_root:
        if not root.is_dir():
            raise LandscapeError(f"launch.home_root {root} does not exist: the studio makes "
                                 "it once (writable by the artists, e.g. mode 1777)")
    else:
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise LandscapeError(f"cannot make the home folder {root}: {e.strerror}") from None
    folder = root
    for name in (user, project, tool.split("/", 1)[0]):
        folder = folder / grammar.folder_name(name)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise LandscapeError(f"cannot make the home folder {folder}: {e.strerror}") \
                from None
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode):
            raise LandscapeError(f"the home folder {folder} is not a folder (a link?): not "
                                 "used")
        if st.st_uid != os.getuid():
            raise LandscapeError(f"the home folder {folder} belongs to another user: not used")
    if folder != Path(source) or os.path.realpath(folder) != os.path.join(
            os.path.realpath(root), *folder.relative_to(root).parts):
        raise LandscapeError(f"the home folder {folder} is not where it should be: not used")
