"""The launcher's per-user settings file: kept across restarts, written atomically, and a
corrupt or hostile file set aside (never trusted, never a crash)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape.gui.settings import (FILE_NAME, MAX_BYTES, MAX_RECENTS, LauncherSettings,
                                    Recent, default_folder)


def test_everything_survives_a_restart(tmp_path):
    s = LauncherSettings(tmp_path)
    assert s.message is None and s.recents == [] and s.last_selection is None
    s.add_recent(Path("/s/p/sh010"), "blender", "render", 0)
    s.add_recent("/s/p/sh020", "python", None, 3)
    assert s.toggle_favourite("/s/p/sh010") is True
    assert s.toggle_favourite("/s/p/sh020", "python") is True
    s.set_last_selection(Path("/s/p/sh020"), "python")
    s.set_layout({"geometry": "AAEC", "main": ""})
    again = LauncherSettings(tmp_path)
    assert again.message is None
    assert [(r.context, r.tool, r.variant, r.exit_code) for r in again.recents] == [
        ("/s/p/sh020", "python", None, 3), ("/s/p/sh010", "blender", "render", 0)]
    assert again.recents[0].when.endswith("+00:00")
    assert again.is_favourite("/s/p/sh010") and again.is_favourite(Path("/s/p/sh020"), "python")
    assert not again.is_favourite("/s/p/sh020")
    assert (again.last_selection.context, again.last_selection.tool) == ("/s/p/sh020", "python")
    assert again.layout == {"geometry": "AAEC", "main": ""}
    assert again.toggle_favourite("/s/p/sh010") is False
    assert not LauncherSettings(tmp_path).is_favourite("/s/p/sh010")


def test_recents_are_newest_first_unique_and_bounded(tmp_path):
    s = LauncherSettings(tmp_path)
    for i in range(MAX_RECENTS + 10):
        s.add_recent(f"/s/sh{i}", "python", None, i)
    s.add_recent("/s/sh55", "python", None, 1)
    assert len(s.recents) == MAX_RECENTS and s.recents[0] == Recent(
        "/s/sh55", "python", None, s.recents[0].when, 1)
    assert [r.context for r in s.recents].count("/s/sh55") == 1
    assert len(LauncherSettings(tmp_path).recents) == MAX_RECENTS


def test_the_file_is_written_atomically_and_privately(tmp_path):
    folder = tmp_path / "new" / "landscape"
    s = LauncherSettings(folder)
    s.add_recent("/s/sh", "python", None, None)
    assert sorted(os.listdir(folder)) == [FILE_NAME]  # no temporary file left behind
    assert (folder / FILE_NAME).stat().st_mode & 0o077 == 0
    assert json.loads((folder / FILE_NAME).read_text())["recents"][0]["exit_code"] is None


def test_a_corrupt_file_is_set_aside(tmp_path):
    (tmp_path / FILE_NAME).write_text("{not json")
    s = LauncherSettings(tmp_path)
    assert s.recents == [] and s.message and "launcher.json.bad" in s.message
    assert (tmp_path / (FILE_NAME + ".bad")).read_text() == "{not json"
    s.add_recent("/s/sh", "python", None, 0)
    assert LauncherSettings(tmp_path).message is None


def test_wrong_types_are_refused_as_a_whole(tmp_path):
    for doc in ({"recents": [{"context": 1, "tool": "x", "when": "2024-01-01"}]},
                {"recents": "nope"}, {"favourites": [{"context": "/a\0b"}]},
                {"layout": {"geometry": "<script>"}}, {"format": 99}, [1, 2],
                {"recents": [{"context": "/a", "tool": "x", "when": "yesterday"}]},
                {"recents": [{"context": "/a", "tool": "x", "when": "2024-01-01",
                              "exit_code": True}]},
                {"last_selection": "/a"}):
        (tmp_path / FILE_NAME).write_text(json.dumps(doc))
        s = LauncherSettings(tmp_path)
        assert s.message and s.recents == [] and s.favourites == [] and s.layout == {}, doc
        assert not (tmp_path / FILE_NAME).exists()


def test_a_fifo_a_link_or_a_huge_file_is_never_read(tmp_path):
    os.mkfifo(tmp_path / FILE_NAME)  # opened without blocking: no writer would hang it
    assert "not a regular file" in LauncherSettings(tmp_path).message
    secret = tmp_path / "secret"
    secret.write_text('{"recents": []}')
    (tmp_path / FILE_NAME).symlink_to(secret)
    assert "symbolic link" in LauncherSettings(tmp_path).message
    assert secret.exists()
    (tmp_path / FILE_NAME).write_bytes(b" " * (MAX_BYTES + 1))
    assert "larger than" in LauncherSettings(tmp_path).message


def test_a_folder_that_cannot_be_written_is_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    s = LauncherSettings(blocker / "landscape")
    s.add_recent("/s/sh", "python", None, 0)  # kept in memory, not raised
    assert s.recents and s.message and "cannot be written" in s.message


def test_the_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_folder() == tmp_path / "landscape"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_folder() == Path.home() / ".config" / "landscape"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
KEYS = st.sampled_from(["recents", "favourites", "last_selection", "layout", "format",
                        "context", "tool", "variant", "when", "exit_code"])
SHAPED = st.dictionaries(KEYS, JSON | st.lists(st.dictionaries(KEYS, JSON, max_size=6),
                                               max_size=3), max_size=5)


def _loads_safely(folder: Path, data: bytes) -> None:
    for name in (FILE_NAME, FILE_NAME + ".bad"):
        (folder / name).unlink(missing_ok=True)
    (folder / FILE_NAME).write_bytes(data)
    s = LauncherSettings(folder)
    if s.message:
        assert s.recents == [] and s.favourites == [] and s.layout == {}
        assert (folder / (FILE_NAME + ".bad")).read_bytes() == data
    for r in s.recents:
        assert isinstance(r.context, str) and isinstance(r.tool, str)
        assert r.exit_code is None or type(r.exit_code) is int
    for f in s.favourites:
        assert isinstance(f.context, str) and (f.tool is None or isinstance(f.tool, str))
    assert all(isinstance(v, str) for v in s.layout.values())
    s.add_recent("/s/sh", "python", None, 0)  # whatever it read, it can go on
    assert LauncherSettings(folder).recents[0].context == "/s/sh"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_break_it(tmp_path, data):
    _loads_safely(tmp_path, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON | SHAPED)
def test_arbitrary_json_never_breaks_it(tmp_path, doc):
    _loads_safely(tmp_path, json.dumps(doc).encode())


TEXT = st.text(st.characters(blacklist_characters="\0"), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT, TEXT, st.none() | TEXT, st.none() | st.integers(-255, 255))
def test_any_text_round_trips(tmp_path, context, tool, variant, code):
    (tmp_path / FILE_NAME).unlink(missing_ok=True)
    s = LauncherSettings(tmp_path)
    s.add_recent(context, tool, variant, code)
    s.toggle_favourite(context, tool)
    s.set_last_selection(context, tool)
    again = LauncherSettings(tmp_path)
    assert again.message is None
    r = again.recents[0]
    assert (r.context, r.tool, r.variant, r.exit_code) == (context, tool, variant or None, code)
    assert again.is_favourite(context, tool)
    assert (again.last_selection.context, again.last_selection.tool) == (context, tool)
