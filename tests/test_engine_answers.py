"""An engine that does not answer (no Docker needed): one that accepts connections and says
nothing, and one that trickles its answer a byte a second, are each reported in one line
within the answer timeout (``LANDSCAPE_ENGINE_TIMEOUT``), never waited for."""

from __future__ import annotations

import socket
import threading

import pytest

from landscape.engine import docker as dk
from landscape.errors import EngineError


def _server(monkeypatch, talk):
    """A TCP server on 127.0.0.1 whose every connection is handed to ``talk(conn, done)``
    in its own thread; DOCKER_HOST names it. Yields; closes everything after."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    done = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not done.is_set():
            try:
                conn = server.accept()[0]
            except OSError:
                continue
            held.append(conn)
            threading.Thread(target=talk, args=(conn, done), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("LANDSCAPE_ENGINE_TIMEOUT", "1")
    monkeypatch.setattr(dk, "_client", None)
    return server, done, thread, held


@pytest.fixture
def engine(monkeypatch):
    made = []

    def start(talk):
        made.append(_server(monkeypatch, talk))

    yield start
    for server, done, thread, held in made:
        done.set()
        thread.join()
        for c in held:
            c.close()
        server.close()


def silent(conn, done):
    done.wait()


def trickling(conn, done):
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\n\r\n")
        while not done.wait(0.2):
            conn.sendall(b" ")
    except OSError:
        pass


@pytest.mark.parametrize("talk", [silent, trickling], ids=["silent", "trickling"])
def test_a_request_to_an_engine_that_does_not_answer_ends_in_one_line(engine, talk):
    engine(talk)
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            dk.api("GET", "/images/x/json")
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome.append(e)

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    asking.join(60)          # liveness, not speed: without the deadline it never ends
    assert outcome, "the request was still waiting after 60 s"
    e = pytest.ExceptionInfo.from_exception(outcome[0])
    assert e.type is EngineError
    assert "did not answer within 1 s" in str(e.value) and "\n" not in str(e.value)


def test_the_sdk_client_of_a_silent_engine_ends_in_one_line(engine):
    engine(silent)
    with pytest.raises(EngineError) as e:
        dk.client()
    assert "did not answer within 1 s" in str(e.value)
    assert "HTTPConnectionPool" not in str(e.value)


@pytest.mark.parametrize("value", ["", "abc", "0", "-5", "nan", "inf", "1e9"])
def test_a_bad_engine_timeout_is_the_default(monkeypatch, value):
    monkeypatch.setenv("LANDSCAPE_ENGINE_TIMEOUT", value)
    assert dk.answer_timeout() == dk.ANSWER_TIMEOUT
