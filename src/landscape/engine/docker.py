"""The Docker engine: the Docker SDK client (created once) for builds and images, and a
direct Engine API call (:func:`api`) for the few fast requests of a launch; engine errors
become user errors, and the text of a build's output loses its terminal escape sequences
(:func:`strip_ansi`) before it reaches one."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
from typing import Any, Callable, Iterator

from ..errors import EngineError

_client: Any = None

#: An ANSI (ECMA-48) escape sequence: a control sequence (``ESC [`` or the 8-bit ``CSI``,
#: parameters, a final byte: colours, cursor moves, erasing), an operating system command
#: (``ESC ]`` … ``BEL`` or ``ESC \``: window titles, links) or another escape (``ESC``,
#: intermediate bytes, a final byte: ``ESC (B``, ``ESC c``).
_ANSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                   r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                   r"|\x1b[ -/]*[0-~]")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences — the colours, progress bars and titles that
    apt, pip or the engine print in a build's output — so that a build error shows the
    words, not ``\\x1b[31m`` (a stray control character is still shown escaped by the
    CLI)."""
    return _ANSI.sub("", text)


#: Seconds the engine has to answer one short request (a ping, an inspect, a create): an
#: engine that accepts the connection and then says nothing is reported, not waited for.
#: ``LANDSCAPE_ENGINE_TIMEOUT`` (seconds, above 0) sets another.
ANSWER_TIMEOUT = 30.0


def answer_timeout() -> float:
    """:data:`ANSWER_TIMEOUT`, or ``$LANDSCAPE_ENGINE_TIMEOUT`` when that is a number of
    seconds above 0 (anything else is ignored)."""
    try:
        value = float(os.environ.get("LANDSCAPE_ENGINE_TIMEOUT", ""))
    except ValueError:
        return ANSWER_TIMEOUT
    return value if 0 < value < 1e6 else ANSWER_TIMEOUT


def client() -> Any:
    """A ``docker.DockerClient`` from the environment (``DOCKER_HOST`` or the local socket),
    pinged once (within :func:`answer_timeout`). Raises :class:`EngineError` when no engine
    answers."""
    global _client
    if _client is not None:
        return _client
    import docker  # deferred: ~200 ms to import
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    try:
        # the API version asked for and the ping: an engine that never answers is reported
        c = docker.from_env(timeout=answer_timeout())
        c.ping()
        c.api.timeout = 600            # builds and pushes: long quiet steps
    except (DockerException, RequestException) as e:
        text = str(e)
        if "Permission denied" in text or "PermissionError" in text:
            raise _refused() from None
        raise _not_answering(e) from None
    _client = c
    return c


def image_exists(ref: str) -> bool:
    """Whether the engine has an image ``ref`` (a tag or id); ~1.4 ms through the SDK."""
    from docker.errors import ImageNotFound

    try:
        client().images.get(ref)
    except ImageNotFound:
        return False
    return True


def get_image(ref: str) -> Any | None:
    """The SDK image ``ref``, or ``None`` when the engine does not have it."""
    from docker.errors import ImageNotFound

    try:
        return client().images.get(ref)
    except ImageNotFound:
        return None


# -- the Engine API without the SDK ------------------------------------------------------
#
# A launch asks the engine a handful of questions (is the image there, create, kill, remove,
# list containers by label). Importing the SDK (requests, urllib3) costs more than all of
# them together, so those calls go straight to the Engine API (documented JSON over HTTP)
# with the standard library's ``http.client`` on the engine's Unix socket (or plain TCP).
# Endpoints the standard library cannot reach alone (TLS, ssh://) go through the SDK's
# session instead: the same requests, another transport.

#: The Engine API version of every request (Docker 20.10's; later engines still serve it).
API_VERSION = "1.41"
DEFAULT_HOST = "unix:///var/run/docker.sock"


class APIError(EngineError):
    """The engine answered a request with an error status (``status``: the HTTP code, e.g.
    404 for a missing object, 409 for a name in use or a container not running)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def endpoint() -> str:
    """The engine's address: ``$DOCKER_HOST``, else the local socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def cli_env() -> dict[str, str]:
    """The environment of a ``docker`` CLI process that must reach the same engine as
    :func:`api` and :func:`client` (``DOCKER_HOST`` set explicitly, so a CLI context does
    not send it elsewhere)."""
    env = dict(os.environ)
    env["DOCKER_HOST"] = endpoint()
    env.pop("DOCKER_CONTEXT", None)
    return env


def _connection(timeout: float) -> Any:
    import http.client

    host = endpoint()
    if host.startswith("unix://"):
        path = host[len("unix://"):]

        class UnixConnection(http.client.HTTPConnection):
            def connect(self) -> None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                try:
                    s.connect(path)
                except OSError:
                    s.close()
                    raise
                self.sock = s

        return UnixConnection("localhost", timeout=timeout)
    if host.startswith("tcp://") and not os.environ.get("DOCKER_TLS_VERIFY") \
            and not os.environ.get("DOCKER_CERT_PATH"):
        from urllib.parse import urlsplit

        parts = urlsplit(host)
        return http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 2375,
                                          timeout=timeout)
    return None


def api(method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
        timeout: float | None = None) -> Any:
    """One Engine API request: ``method`` (``GET``, ``POST``, ``DELETE``) on ``path``
    (e.g. ``/containers/create``; ids and names in it must be the engine's own or
    validated), ``query`` parameters (URL-encoded here), ``body`` sent as JSON.

    Returns the decoded JSON answer (``None`` for an empty one). Raises :class:`APIError`
    for an error status (the engine's own message) and :class:`EngineError` when no engine
    answers, or none within ``timeout`` seconds (default :func:`answer_timeout`).
    Reference: Docker Engine API v1.41."""
    from urllib.parse import quote, urlencode

    timeout = timeout or answer_timeout()

    url = f"/v{API_VERSION}{quote(path)}" + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    conn = _connection(timeout)
    if conn is None:  # TLS or ssh: the SDK's transport
        session = client().api
        r = session.request(method, session.base_url + url, data=data,
                            headers={"Content-Type": "application/json"}, timeout=timeout)
        status, raw = r.status_code, r.content
    else:
        # the whole request within ``timeout`` (a socket timeout bounds each read only: an
        # answer trickling in a byte at a time would never end): past it, the socket is
        # shut down under the reader
        expired = threading.Event()
        sockets: list[Any] = []   # http.client lets go of its socket once it answers

        def cut() -> None:
            expired.set()
            for sock in sockets:
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(timeout, cut)
        timer.daemon = True
        timer.start()
        try:
            with _talking(conn):
                conn.request(method, url, body=data,
                             headers={"Content-Type": "application/json"} if data else {})
                sockets.append(conn.sock)
                if expired.is_set():          # the deadline passed before the socket was kept
                    cut()
                response = conn.getresponse()
                status, raw = response.status, response.read()
        except Exception:  # a cut answer fails in http.client, or as an EngineError
            if expired.is_set():
                raise _timed_out(timeout) from None
            raise
        finally:
            timer.cancel()
        if expired.is_set():
            raise _timed_out(timeout)
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode(errors="replace")
    if status >= 400:
        message = answer.get("message") if isinstance(answer, dict) else answer
        raise APIError(status, f"the engine refused {method} {path}: {message or status}")
    return answer


def stream(path: str, body: Any, on_frame: Callable[[int, bytes], None],
           timeout: float | None = None) -> bool:
    """``POST path`` with JSON ``body`` and read the answer as the engine's multiplexed
    stream (``application/vnd.docker.multiplexed-stream``: frames of an 8-byte header —
    stream 1 stdout, 2 stderr — then the payload), calling ``on_frame(stream, data)`` for
    each until the engine closes it. For ``POST /exec/{id}/start`` without stdin or a
    terminal (Engine API v1.41). Returns ``False`` when the engine is not reached over its
    socket without TLS (the caller then uses the Docker CLI); raises :class:`APIError` for
    an error status and :class:`EngineError` when no engine answers (within ``timeout``,
    default :func:`answer_timeout`). Once the engine has answered, the frames are waited
    for as long as the tool runs: a tool may print nothing for hours."""
    from urllib.parse import quote

    conn = _connection(timeout or answer_timeout())
    if conn is None:
        return False
    with _talking(conn):
        conn.request("POST", f"/v{API_VERSION}{quote(path)}", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        sock = conn.sock                  # a closing answer takes it from ``conn``
        response = conn.getresponse()
        if sock is not None:
            sock.settimeout(None)
        if response.status >= 400:
            raw = response.read()
            try:
                message = json.loads(raw).get("message")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise APIError(response.status, f"the engine refused POST {path}: {message}")
        while True:
            header = response.read(8)
            if len(header) < 8:
                return True
            size = int.from_bytes(header[4:8], "big")
            on_frame(header[0], response.read(size) if size else b"")


@contextlib.contextmanager
def _talking(conn: Any) -> Iterator[None]:
    """Engine errors of a request on ``conn`` as :class:`EngineError` (the socket refused
    this user, or no engine answers); the connection is closed in every case."""
    try:
        yield
    except PermissionError:
        raise _refused() from None
    except TimeoutError:
        raise _timed_out(conn.timeout) from None
    except OSError as e:
        raise EngineError(f"no Docker engine answers at {endpoint()} ({e}); start it or "
                          "set DOCKER_HOST") from None
    finally:
        conn.close()


def _timed_out(seconds: float) -> EngineError:
    return EngineError(f"the Docker engine at {endpoint()} did not answer within {seconds:g} s",
                       hint="check that the engine runs and that DOCKER_HOST names it")


def _not_answering(e: BaseException) -> EngineError:
    """One line for an engine that was not reached, from the SDK's error ``e`` (its chain
    ends in the socket's own error: refused, no such socket, timed out), without the
    connection pool's text."""
    from requests.exceptions import Timeout

    chain, seen = e, set()
    while chain.__cause__ is not None or chain.__context__ is not None:
        if isinstance(chain, Timeout) or id(chain) in seen:
            break
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__  # type: ignore[assignment]
    if isinstance(chain, Timeout) or "timed out" in str(chain):
        return _timed_out(answer_timeout())
    why = chain.strerror if isinstance(chain, OSError) and chain.strerror else str(chain)
    return EngineError(f"no Docker engine answers at {endpoint()} ({why}); start it or set "
                       "DOCKER_HOST")


def _refused() -> EngineError:
    return EngineError("the Docker engine refuses this user (permission denied on its socket)",
                       hint="join the `docker` group (which is root-equivalent on this "
                       "machine) or use rootless Docker; see docs/security.md")


def inspect_image(ref: str) -> dict | None:
    """The engine's inspect data of image ``ref`` (tag or id; keys ``Id``,
    ``Config.Labels``…), or ``None`` when it has none — without the SDK."""
    try:
        return api("GET", f"/images/{ref}/json")
    except APIError as e:
        if e.status == 404:
            return None
        raise
