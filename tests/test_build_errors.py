"""A failed image build: the error it raises (the failing step's own words, without the
terminal escape sequences apt or the engine print) and what it leaves behind (none of the
images its own steps made; nothing else removed)."""

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
    ``events`` (the engine's decoded JSON lines); the engine holds the images ``before``
    (short ids) when the build starts, ``tags`` of images, and refuses to remove those
    ``in_use``; ``removed`` records each removal."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.before: list[str] = []
        self.tags: dict[str, list[str]] = {}
        self.in_use: set[str] = set()
        self.removed: list[tuple[str, bool, bool]] = []

    def build(self, **kwargs):
        yield from self.events

    def images(self, all=False, quiet=False):
        return [f"sha256:{i}{'0' * 52}" for i in self.before]

    def inspect_image(self, image):
        return {"RepoTags": self.tags.get(image, ["<none>:<none>"])}

    def remove_image(self, image, force=False, noprune=False):
        from docker.errors import APIError

        if image in self.in_use:
            raise APIError("409 Conflict: image has dependent child images")
        self.removed.append((image, force, noprune))


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


def test_a_failed_build_removes_the_images_its_steps_made_and_only_those(engine):
    """From the build's own output: the images of steps that ran (RUN, COPY, LABEL) — not
    the ``FROM`` image, not a cached step's, not one a step's output names that was there
    before the build — newest first, never forced, no parent pruned; a tagged one and one
    in use stay."""
    api = engine([
        {"stream": "Step 1/7 : FROM landscape/base:bookworm\n ---> b50e660320e0\n"},
        {"stream": "Step 2/7 : ENV LANG=C.UTF-8\n ---> Using cache\n ---> 111111111111\n"},
        {"stream": "Step 3/7 : COPY rez/ /tmp/landscape-rez/\n ---> 222222222222\n"},
        {"stream": "Step 4/7 : RUN make\n ---> Running in 4c1d2e3f4a5b\n"},
        {"stream": " ---> 999999999999\n"},  # the step's own output, naming an older image
        {"stream": "Removing intermediate container 4c1d2e3f4a5b\n ---> 333333333333\n"},
        {"stream": "Step 5/7 : LABEL a=b\n ---> Running in 5d6e7f8a9b0c\n"
                   "Removing intermediate container 5d6e7f8a9b0c\n ---> 444444444444\n"},
        {"stream": "Step 6/7 : LABEL c=d\n ---> Running in 6d6e7f8a9b0c\n"
                   "Removing intermediate container 6d6e7f8a9b0c\n ---> 555555555555\n"},
        {"stream": "Step 7/7 : RUN false\n ---> Running in 7e8f9a0b1c2d\n"},
        {"error": "The command '/bin/sh -c false' returned a non-zero code: 1"},
    ])
    api.before = ["b50e660320e0", "111111111111", "999999999999"]
    api.tags = {"555555555555": ["other/project:latest"]}  # tagged meanwhile
    api.in_use = {"222222222222"}  # another build started from it meanwhile
    lines: list[str] = []
    with pytest.raises(EngineError, match="returned a non-zero code: 1"):
        send(lines.append)
    assert api.removed == [("444444444444", False, True), ("333333333333", False, True)]
    assert "removed 2 image(s) the failed build made" in lines


def test_a_build_that_succeeds_removes_nothing(engine, monkeypatch):
    api = engine([{"stream": "Step 1/2 : FROM landscape/base:bookworm\n ---> b50e660320e0\n"},
                  {"stream": "Step 2/2 : RUN true\n ---> Running in 4c1d2e3f4a5b\n"
                             "Removing intermediate container 4c1d2e3f4a5b\n"
                             " ---> 333333333333\nSuccessfully built 333333333333\n"},
                  {"aux": {"ID": "sha256:" + "3" * 64}}])
    monkeypatch.setattr(dk._client, "images", SimpleNamespace(
        get=lambda tag: SimpleNamespace(id="sha256:" + "3" * 64)), raising=False)
    result = send()
    assert result.built and result.steps == 2 and result.id == "sha256:" + "3" * 64
    assert api.removed == []


@pytest.mark.docker
def test_a_failed_build_leaves_no_image_behind(base_image, docker_engine, studio,
                                               monkeypatch, tmp_path):
    """A real build on the engine that fails at its last step, after a LABEL, a RUN and a
    COPY step made images: the error shows the step's words without escape sequences, and
    no image of the build is left (each carries the test's label: found, and removed at
    the end if the build left them)."""
    import uuid

    from landscape.context import resolve
    from landscape.engine import buildcontext
    from landscape.engine.images import build_image

    token = uuid.uuid4().hex
    label = f"org.example.landscape-test-failed-build={token}"
    spec = resolve(studio({})).image

    def planted_context(spec, log, options):
        folder = tmp_path / "context"
        folder.mkdir()
        (folder / "Dockerfile").write_text(
            f"FROM {spec.base}\n"
            f"LABEL {label}\n"
            f"RUN echo {token} > /token\n"
            "COPY Dockerfile /Dockerfile.copy\n"
            "RUN printf '\\033[31mE: planted failure\\033[0m\\n' >&2; exit 3\n")
        return buildcontext.BuildContext(folder)

    monkeypatch.setattr(buildcontext, "prepare_build_context", planted_context)
    lines: list[str] = []
    try:
        with pytest.raises(EngineError) as e:
            build_image(spec, log=lines.append)
        text = str(e.value)
        assert "returned a non-zero code: 3" in text.splitlines()[0]
        assert "E: planted failure" in text.splitlines() and "\x1b" not in text
        assert not any("\x1b" in line for line in lines)
        assert "removed 3 image(s) the failed build made" in lines
        assert docker_engine.images.list(all=True, filters={"label": label}) == []
        assert docker_engine.images.get(spec.base)  # what it started from is untouched
    finally:  # what a failed test left: exactly this build's images, newest first
        left = docker_engine.images.list(all=True, filters={"label": label})
        for image in sorted(left, key=lambda i: i.attrs["Created"], reverse=True):
            docker_engine.images.remove(image.id, force=True, noprune=True)
