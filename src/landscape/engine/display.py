"""The display of a ``gui: true`` launch (docs/config.md, Displays and GPUs).

A container reaches the artist's X server through the server's Unix socket in
``/tmp/.X11-unix`` (mounted read-only; the container has a network namespace of its own, so
neither the server's abstract socket nor a TCP port on the host's loopback is reachable)
and proves itself with the server's **cookie**. The cookies of the artist's Xauthority file
name the host (``FamilyLocal`` + the host name, as ``xauth add :0 …`` writes them), and the
container has another host name, so Xlib inside would find none of them. Each launch
therefore gets an Xauthority file of its own holding one entry: the cookie of the current
display, rewritten as a ``FamilyWild`` entry (family ``0xffff``: any address) for that
display number — what ``xauth nlist $DISPLAY | sed 's/^..../ffff/' | xauth -f F nmerge -``
makes, written here in Python (the file format is five length-prefixed fields, see
:func:`parse_xauthority`), with no ``xauth`` on the host and no shell. The artist's own file
is read at launch and never mounted.

Before the launch, the X server is asked (:func:`probe`: the X11 connection setup over the
same socket, with the same cookie, as the same user) whether it accepts the connection, so
a refusal is a one-line error naming the server's reason instead of a tool failing inside
its container. When the artist's file has no cookie for the display and the server accepts
connections without one (``xhost +si:localuser:…``, or no access control), the launch gets
no Xauthority file.

Everything here is read at launch time from the environment of the launch (never cached:
a cookie changes with every login).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..errors import LandscapeError

#: Xauthority address families (X11 ``Xauth.h``)
FAMILY_INTERNET = 0
FAMILY_INTERNET6 = 6
FAMILY_LOCAL = 256
FAMILY_WILD = 0xFFFF
#: the only authorization protocol passed on (what every display manager and ``xauth``
#: write; ``XDM-AUTHORIZATION-1`` is not)
MIT_COOKIE = b"MIT-MAGIC-COOKIE-1"
#: where X servers put their sockets, on the host and in the container
X11_DIR = "/tmp/.X11-unix"
#: the per-launch Xauthority file in a cold launch's container (a warm launch's lies under
#: its per-launch folder, ``/run/landscape/<launch id>/``)
XAUTHORITY_FILE = "/tmp/.landscape-xauthority"
#: the most of an Xauthority file read (real ones hold a few entries of ~60 bytes)
MAX_XAUTHORITY = 1 << 20
#: seconds the X server has to answer the connection setup
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class XauthEntry:
    """One Xauthority entry: address ``family`` (:data:`FAMILY_LOCAL`…), ``address`` (a host
    name for ``FamilyLocal``, 4 or 16 address bytes for Internet families), display
    ``number`` (ASCII digits; empty matches every display), authorization ``name`` and
    ``data`` (the cookie)."""

    family: int
    address: bytes
    number: bytes
    name: bytes
    data: bytes


def parse_xauthority(data: bytes) -> list[XauthEntry]:
    """The entries of an Xauthority file's content. Each entry is a big-endian ``u16``
    family, then address, number, name and data, each a big-endian ``u16`` length and that
    many bytes (libXau's ``XauReadAuth``). Like libXau, reading stops at an entry cut
    short: the entries before it count."""
    entries = []
    pos = 0
    while pos + 2 <= len(data):
        (family,) = struct.unpack_from(">H", data, pos)
        pos += 2
        fields = []
        for _ in range(4):
            if pos + 2 > len(data):
                return entries
            (n,) = struct.unpack_from(">H", data, pos)
            pos += 2
            if pos + n > len(data):
                return entries
            fields.append(bytes(data[pos:pos + n]))
            pos += n
        entries.append(XauthEntry(family, *fields))
    return entries


def dump_xauthority(entries: list[XauthEntry]) -> bytes:
    """The Xauthority file content of ``entries`` (see :func:`parse_xauthority`). Raises
    ``ValueError`` for a field longer than 65535 bytes or a family outside ``u16``."""
    out = bytearray()
    for e in entries:
        out += struct.pack(">H", e.family)
        for f in (e.address, e.number, e.name, e.data):
            out += struct.pack(">H", len(f)) + f
    return bytes(out)


@dataclass(frozen=True)
class Display:
    """A parsed ``DISPLAY``: ``host`` (``""`` for the local Unix socket; ``unix`` is written
    ``""``), display ``number``, ``screen`` (``None`` when not given) and ``text``, the
    value as given."""

    text: str
    host: str
    number: int
    screen: int | None

    @property
    def local(self) -> bool:
        """Whether the display is reached over the local Unix socket."""
        return self.host == ""

    def local_name(self) -> str:
        """The same display over the Unix socket: ``:N`` or ``:N.S``."""
        return f":{self.number}" + ("" if self.screen is None else f".{self.screen}")


def parse_display(text: str) -> Display:
    """Parse a ``DISPLAY`` value: ``[PROTOCOL/][HOST]:NUMBER[.SCREEN]`` — ``:0``, ``:0.0``,
    ``unix:0``, ``unix/:0``, ``localhost:10.0``, ``tcp/host:0``, ``[::1]:0``. Raises
    :class:`LandscapeError` for anything else (a DECnet ``host::0``, a path as XQuartz
    writes it, a number that is not one)."""
    protocol, slash, rest = text.partition("/")
    if not slash:
        protocol, rest = "", text
    protocol = protocol.lower()
    host, colon, tail = rest.rpartition(":")
    number, _dot, screen = tail.partition(".")
    bad = LandscapeError(f"DISPLAY={text!r} is not an X display this launch can use",
                         hint="expected [HOST]:NUMBER[.SCREEN], e.g. :0")
    if not colon or protocol not in ("", "unix", "local", "tcp", "inet", "inet6") \
            or not number.isascii() or not number.isdigit() or len(number) > 5 \
            or (_dot and (not screen.isascii() or not screen.isdigit() or len(screen) > 5)) \
            or host.endswith(":") or "/" in host or not host.isprintable():
        raise bad
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "unix" or protocol in ("unix", "local"):
        if host not in ("", "unix") and protocol in ("unix", "local"):
            raise bad
        host = ""
    elif host == "" and protocol in ("tcp", "inet", "inet6"):
        host = "localhost"
    return Display(text, host, int(number), int(screen) if _dot else None)


@dataclass
class DisplaySetup:
    """What a launch's container gets for its display: ``env`` (``DISPLAY``,
    ``XAUTHORITY``, ``QT_X11_NO_MITSHM``, Wayland's variables), ``binds`` (``(host path,
    container path, mode)``: the X11 socket folder, the Wayland socket), ``files``
    (container path → content: the per-launch Xauthority file, mode 0600), ``drop``
    (variables the launch must not pass on: an ``XAUTHORITY`` config set, when no cookie is
    passed)."""

    env: dict[str, str] = field(default_factory=dict)
    binds: list[tuple[str, str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)


def xauthority_path(environ: Mapping[str, str]) -> Path:
    """The artist's Xauthority file: ``$XAUTHORITY``, else ``$HOME/.Xauthority`` (Xlib's
    rule)."""
    path = environ.get("XAUTHORITY")
    if path:
        return Path(path)
    return Path(environ.get("HOME") or os.path.expanduser("~")) / ".Xauthority"


def read_xauthority(path: Path) -> tuple[list[XauthEntry], str]:
    """The entries of Xauthority file ``path`` and, when it yields none, why
    (``"no such file"``…; ``""`` otherwise). Never blocks on a FIFO and reads at most
    :data:`MAX_XAUTHORITY` bytes of a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return [], os.strerror(e.errno).lower() if e.errno else str(e)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return [], "not a regular file"
        data = b""
        while len(data) < MAX_XAUTHORITY:
            chunk = os.read(fd, MAX_XAUTHORITY - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return [], os.strerror(e.errno).lower() if e.errno else str(e)
    finally:
        os.close(fd)
    entries = parse_xauthority(data)
    return entries, "" if entries else "empty"


def find_cookie(entries: list[XauthEntry], addresses: list[tuple[int, bytes]],
                number: int) -> XauthEntry | None:
    """The first ``MIT-MAGIC-COOKIE-1`` entry of ``entries`` that Xlib would use for display
    ``number`` reached at one of ``addresses`` (``(family, address)`` pairs: ``(FAMILY_LOCAL,
    host name)`` for the Unix socket and the loopback, Internet families with address bytes
    otherwise): same family and address, or a ``FamilyWild`` entry; same number, or an
    entry with none (libXau's ``XauGetBestAuthByAddr``)."""
    want = str(number).encode()
    for e in entries:
        if e.name != MIT_COOKIE or e.number not in (want, b""):
            continue
        if e.family == FAMILY_WILD or (e.family, e.address) in addresses:
            return e
    return None


def wild_entry(cookie: XauthEntry, number: int) -> XauthEntry:
    """``cookie`` as a ``FamilyWild`` entry for display ``number``: valid from any host
    name, such as a container's."""
    return XauthEntry(FAMILY_WILD, b"", str(number).encode(), cookie.name, cookie.data)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resolve(display: Display) -> list[str]:
    """The IP addresses of ``display``'s host. Raises :class:`LandscapeError` when it does
    not resolve."""
    try:
        infos = socket.getaddrinfo(display.host, 6000 + display.number,
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise LandscapeError(f"DISPLAY={display.text}: cannot resolve {display.host!r}: "
                             f"{getattr(e, 'strerror', None) or e}") from None
    return sorted({str(info[4][0]) for info in infos})


def _reason(data: bytes) -> str:
    text = data.rstrip(b"\0").decode("latin-1").strip()
    text = "".join(c if c.isprintable() else " " for c in text)
    return (text[:200] or "no reason given").rstrip(".")


class NotAnXServer(OSError):
    """What answered a :func:`probe` is not an X server."""


def probe(connect: Callable[[], socket.socket], cookie: XauthEntry | None) -> str | None:
    """Ask an X server whether it accepts a client: open a connection with ``connect()``,
    send the X11 connection setup (protocol 11.0, little-endian, with ``cookie``'s
    authorization or none) and read the server's answer. ``None`` when it accepts, else the
    server's reason (``"Authorization required, but no authorization protocol specified"``,
    ``"Invalid MIT-MAGIC-COOKIE-1 key"``). Raises ``OSError`` when the server cannot be
    reached or does not answer (the socket's timeout), :class:`NotAnXServer` when what
    answers does not speak X11."""
    name, data = (cookie.name, cookie.data) if cookie is not None else (b"", b"")

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    request = struct.pack("<BxHHHHxx", 0x6C, 11, 0, len(name), len(data)) + pad(name) \
        + pad(data)
    with connect() as s:
        s.sendall(request)
        head = _read(s, 8)
        if len(head) < 8:
            return "the server closed the connection"
        status = head[0]
        (major,) = struct.unpack_from("<H", head, 2)
        if status not in (0, 1, 2) or (status != 2 and major != 11):
            raise NotAnXServer()
        if status == 1:
            return None
        (extra,) = struct.unpack_from("<H", head, 6)
        body = _read(s, min(extra, 64) * 4)
        if status == 0:  # Failed: byte 1 is the reason's length
            return _reason(body[:head[1]])
        return _reason(body)  # Authenticate: the whole additional data is the reason


def _read(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _unix(path: str) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(PROBE_TIMEOUT)
        try:
            s.connect(path)
        except BaseException:
            s.close()
            raise
        return s
    return connect


def _tcp(host: str, port: int) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    return connect


def x11_setup(environ: Mapping[str, str], *, x11_dir: str = X11_DIR,
              hostname: str | None = None, check: bool = True) -> DisplaySetup:
    """The X11 part of a launch's display, from ``environ`` (the launching process's
    environment: ``DISPLAY``, ``XAUTHORITY``, ``HOME``).

    - A local display (``:N``, ``unix:N``), or one on the host's loopback over TCP
      (``localhost:N``, as SSH X forwarding writes it) whose number has a socket in
      ``x11_dir``: the container gets ``x11_dir`` read-only and ``DISPLAY=:N[.S]`` (a
      container cannot reach the host's loopback). A loopback display without that socket
      is an error.
    - Any other host (``workstation:0``): ``DISPLAY`` as given, reached over the bridge
      network; nothing is mounted.
    - The cookie: :func:`find_cookie` in the artist's Xauthority file (host name
      ``hostname``, default this machine's), written as a ``FamilyWild`` entry into the
      per-launch file :data:`XAUTHORITY_FILE` (``XAUTHORITY`` names it).
    - ``check``: :func:`probe` the server with that cookie (or none, when the file has none
      for the display) before the launch.

    Raises :class:`LandscapeError` (one line) for a ``DISPLAY`` that cannot be used, a
    display whose socket is missing, a server that cannot be reached or refuses the
    connection, or no cookie for a server that needs one."""
    display = parse_display(environ["DISPLAY"])
    hostname = hostname if hostname is not None else socket.gethostname()
    local_addr = (FAMILY_LOCAL, hostname.encode())
    setup = DisplaySetup()
    loopback = not display.local and _loopback(display.host)
    addresses: list[str] = []
    if not display.local and not loopback:
        addresses = _resolve(display)
        loopback = all(_loopback(a) for a in addresses)
    if display.local or loopback:
        sock = f"{x11_dir}/X{display.number}"
        if not _is_socket(sock):
            if loopback:
                raise LandscapeError(
                    f"DISPLAY={display.text} is a TCP display on this machine's loopback "
                    f"(as SSH X forwarding makes), which a container cannot reach, and "
                    f"display {display.number} has no socket {sock}",
                    hint="run the tool on a local display, or let sshd listen beyond the "
                    "loopback (X11UseLocalhost no) and use DISPLAY=<host name>:N")
            raise LandscapeError(f"the X server at {display.text} has no socket {sock} "
                                 f"(a container reaches an X server only through it)")
        setup.binds.append((x11_dir, X11_DIR, "ro"))
        setup.env["DISPLAY"] = display.local_name()
        connect = _unix(sock)
        wanted = [local_addr]
    else:
        setup.env["DISPLAY"] = display.text
        connect = _tcp(display.host, 6000 + display.number)
        wanted = []
        for a in addresses:
            ip = ipaddress.ip_address(a)
            wanted.append(local_addr if ip.is_loopback else
                          (FAMILY_INTERNET if ip.version == 4 else FAMILY_INTERNET6,
                           ip.packed))
    path = xauthority_path(environ)
    entries, why = read_xauthority(path)
    cookie = find_cookie(entries, wanted, display.number)
    if check:
        try:
            refused = probe(connect, cookie)
        except OSError as e:
            if isinstance(e, NotAnXServer):
                what = "answered, but not as an X server"
            elif isinstance(e, TimeoutError) or e.errno == errno.ETIMEDOUT:
                what = "did not answer within {:g} s".format(PROBE_TIMEOUT)
            else:
                what = f"cannot be reached ({os.strerror(e.errno) if e.errno else e})"
            raise LandscapeError(f"the X server at {display.text} {what}") from None
        if refused is not None and cookie is None:
            raise LandscapeError(
                f"the X server at {display.text} needs a cookie; none found in {path}"
                + (f" ({why})" if why else "") + f": {refused}",
                hint="set XAUTHORITY to the file your X session uses")
        if refused is not None:
            raise LandscapeError(f"the X server at {display.text} refused the cookie for "
                                 f"display {display.number} from {path}: {refused}")
    if cookie is not None:
        setup.files[XAUTHORITY_FILE] = dump_xauthority([wild_entry(cookie, display.number)])
        setup.env["XAUTHORITY"] = XAUTHORITY_FILE
    else:
        setup.drop.append("XAUTHORITY")
    return setup


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def no_display(environ: Mapping[str, str], tool: str) -> LandscapeError:
    """The one-line error of a ``gui: true`` launch of ``tool`` that finds no display in
    ``environ``: neither ``DISPLAY`` nor a ``WAYLAND_DISPLAY`` socket (one that is set but
    is no socket in ``$XDG_RUNTIME_DIR`` is named)."""
    wayland = environ.get("WAYLAND_DISPLAY")
    why = "neither DISPLAY nor WAYLAND_DISPLAY is set" if not wayland else (
        f"DISPLAY is not set and WAYLAND_DISPLAY={wayland!r} is no socket in "
        "$XDG_RUNTIME_DIR")
    return LandscapeError(f"tool {tool!r} asks for a display (gui: true), but {why}",
                          hint="launch it from a desktop session, or with DISPLAY naming an "
                          "X server")


def require_display(environ: Mapping[str, str], tool: str) -> None:
    """Refuse (:func:`no_display`) a ``gui: true`` launch of ``tool`` on this machine
    (``launch --host``) when ``environ`` names no display at all: the tool would start and
    fail to open its window. What the named display accepts is the tool's business there."""
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        raise no_display(environ, tool)


def display_setup(environ: Mapping[str, str], tool: str, *, check: bool = True,
                  x11_dir: str = X11_DIR) -> DisplaySetup:
    """The display of a ``gui: true`` launch of ``tool``: X11 (:func:`x11_setup`, with
    ``check`` and ``x11_dir``) when ``DISPLAY`` is set, the Wayland socket
    (``$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY``, mounted at ``/tmp/<name>``) when there is one,
    and ``QT_X11_NO_MITSHM=1`` (the container has an IPC namespace of its own: Qt's MIT-SHM
    images cannot be shared with the host's X server). Raises :class:`LandscapeError` when
    there is neither display, and what :func:`x11_setup` raises."""
    setup = x11_setup(environ, check=check, x11_dir=x11_dir) if environ.get("DISPLAY") \
        else DisplaySetup()
    wayland = environ.get("WAYLAND_DISPLAY")
    runtime = environ.get("XDG_RUNTIME_DIR")
    if wayland and runtime and "/" not in wayland and _is_socket(os.path.join(runtime,
                                                                             wayland)):
        sock = os.path.join(runtime, wayland)
        setup.binds.append((sock, f"/tmp/{wayland}", "rw"))
        setup.env.update(WAYLAND_DISPLAY=wayland, XDG_RUNTIME_DIR="/tmp")
    if not setup.binds and "DISPLAY" not in setup.env:
        raise no_display(environ, tool)
    if "DISPLAY" in setup.env:
        setup.env["QT_X11_NO_MITSHM"] = "1"
    return setup
