"""A failed image build: the error it raises (the failing step's own words, without the
terminal escape sequences apt or the engine print)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from landscape.engine import docker as dk
from landscape.errors import EngineError

SPEC = SimpleNamespace(tag="landscape/test:0123456789ab", key="sha256:" + "0" * 64)
RED, RESET = "\x1b[31m", "\x1b[0m"


class FakeAPI:
    """The low-level Docker SDK client as far as a build uses it: ``build`` streams
    ``events`` (the engine's decoded JSON lines)."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def build(self, **kwargs):
        yield from self.events

    def images(self, all=False, quiet=False):
        return []


@pytest.fixture
def engine(monkeypatch):
    """Make the build engine answer with the events given: ``engine(events)``."""

    def answer(events: list[dict]) -> FakeAPI:
        api = FakeAPI(events)
        monkeypatch.setattr(dk, "_client", SimpleNamespace(api=api))
        return api

    return answer


def send(log=lambda line: None):
    from landscape.engine.images import _send

    return _send(SPEC, SimpleNamespace(chunks=lambda: iter([b""])), {}, False, log,
                 time.monotonic())


def test_build_errors_and_progress_carry_no_escape_sequences(engine):
    engine([
        {"stream": "Step 1/2 : FROM landscape/base:bookworm\n"},
        {"stream": " ---> b50e660320e0\n"},
        {"stream": "Step 2/2 : RUN apt-get install -y nosuch\n"},
        {"stream": " ---> Running in 4c1d2e3f4a5b\n"},
        {"stream": f"\x1b[1m{RED}E: \x1b[0mUnable to locate package nosuch{RESET}\x1b[K\n"
                   "\x1b]0;apt\x07Reading package lists...\r\x1b[33m50%\x1b[0m\n"},
        {"error": "The command '/bin/sh -c apt-get install -y nosuch' returned a non-zero code: 100",
         "errorDetail": {"message": f"{RED}The command returned a non-zero code: 100{RESET}"}},
    ])
    lines: list[str] = []
    with pytest.raises(EngineError) as e:
        send(lines.append)
    text = str(e.value)
    assert text.startswith(f"build of {SPEC.tag} failed: The command returned a non-zero "
                           "code: 100\n")
    assert "E: Unable to locate package nosuch" in text.splitlines()
    assert "Reading package lists..." in text and "50%" in text
    assert "\x1b" not in text and "\x07" not in text
    assert "    E: Unable to locate package nosuch" in lines
    assert not any("\x1b" in line for line in lines)


def test_an_engine_refusal_carries_no_escape_sequences(engine):
    api = engine([])

    def refuse(**kwargs):
        raise RuntimeError(f"{RED}no space left on device{RESET}")

    api.build = refuse
    with pytest.raises(EngineError, match=r"failed: no space left on device\Z"):
        send()


def test_strip_ansi_keeps_the_words():
    assert dk.strip_ansi(f"{RED}E:{RESET} \x1b[1;32mok\x1b[K \x1b]8;;http://x\x1b\\link"
                         "\x1b]8;;\x1b\\ \x1b(B\x1bc\x1b[?25lend") == "E: ok link end"
    assert dk.strip_ansi("plain [31m text") == "plain [31m text"


def test_a_base_bootstrap_error_carries_no_escape_sequences():
    from landscape.engine.base import _run_logged

    lines: list[str] = []
    with pytest.raises(EngineError) as e:
        _run_logged(["sh", "-c", r"printf '\033[31mE: boom\033[0m\n'; exit 3"], lines.append)
    assert str(e.value) == "sh failed (exit 3):\nE: boom" and lines == ["E: boom"]
