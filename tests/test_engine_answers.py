"""An engine that does not answer (no Docker needed): one that accepts connections and says
nothing, and one that trickles its answer a byte a second, are each reported in one line
within the answer timeout (``LANDSCAPE_ENGINE_TIMEOUT``), never waited for."""

from __future__ import annotations

import threading

import pytest

from conftest import silent, trickling, trickling_to_close
from landscape.engine import docker as dk
from landscape.errors import EngineError


@pytest.mark.parametrize("talk", [silent, trickling, trickling_to_close],
                         ids=["silent", "trickling", "trickling-to-close"])
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
