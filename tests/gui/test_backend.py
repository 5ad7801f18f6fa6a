"""The launcher's real Backend without Docker: what it shows of a context (real rez solves on
the example studio and on temporary studios), broken contexts beside launchable siblings,
the policy's verdict, an engine that does not answer, launches that cannot start."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from landscape.engine import docker as dk
from landscape.errors import LandscapeError
from landscape.gui.backend import Backend, metadata_rows
from landscape.gui.model import ContextDetails, LaunchRequest

SH010 = "projects/lighthouse/seq010/sh010"
SH020 = "projects/lighthouse/seq010/sh020"
LOCATED = re.compile(r":\d+:\d+: ")


@pytest.fixture
def no_engine(monkeypatch, tmp_path):
    """An engine address where nothing answers."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setattr(dk, "_client", None)


def rows(details_rows) -> dict[str, tuple[str, str]]:
    return {r.key: (r.value, r.source) for r in details_rows}


def test_details_of_a_shot_with_provenance(example):
    d = Backend(example).details(example / SH020, "blender", ())
    assert d.errors == [] and d.launchable and d.policy_ok
    assert d.levels == {"project": "lighthouse", "sequence": "seq010", "shot": "sh020"}
    assert d.files[0] == str(example / "landscape.yaml")
    md = rows(d.metadata)
    assert md["fps"] == ("25", f"{example}/projects/lighthouse/landscape.yaml:7")
    assert md["resolution"] == ("[640, 272]", f"{example}/{SH020}/landscape.yaml:7")
    assert md["render.engine"][0] == "CYCLES"
    assert md["render.engine"][1].startswith(f"{example}/landscape.yaml:")
    packages = {p.name: p for p in d.packages}
    assert packages["studio_pipeline"].version == "1.0.0"
    assert packages["studio_pipeline"].requested_by == f"{example}/{SH020}/landscape.yaml:5"
    assert packages["blender"].requested_by.startswith(f"{example}/landscape.yaml:")
    env = rows(d.env)
    assert env["PROJECT_CODE"][0] == "LHS" and "projects/lighthouse/landscape.yaml" in \
        env["PROJECT_CODE"][1]
    assert env["BLENDER_VERSION"][1] == "set from package blender-3.4.1"
    [storage] = d.storage
    assert storage.key == str(example / "projects") and storage.value.endswith("(rw)")
    assert storage.source.startswith(f"{example}/landscape.yaml:")
    assert d.image_tag.startswith("landscape/lighthouse:") and d.image_key
    assert [(t.name, t.variants) for t in d.tools] == [("blender", ("", "render")),
                                                      ("python", ("",))]
    assert d.available_variants == ["lighting"]
    assert d.level_folders == {str(example / "projects/lighthouse"): "project",
                               str(example / "projects/lighthouse/seq010"): "sequence",
                               str(example / SH020): "shot"}
    assert d.workdir.endswith("sh020/work/blender")


def test_shots_differ_in_their_packages(example):
    b = Backend(example)
    one = {p.name: p.version for p in b.details(example / SH010, None, ()).packages}
    two = {p.name: p.version for p in b.details(example / SH020, None, ()).packages}
    assert one["studio_pipeline"].startswith("1.1") and two["studio_pipeline"] == "1.0.0"


def test_a_variant_changes_metadata(example):
    b = Backend(example)
    plain = rows(b.details(example / SH010, None, ()).metadata)
    lit = b.details(example / SH010, None, ("lighting",))
    assert plain["render.samples"][0] == "8"
    assert rows(lit.metadata)["render.samples"] == (
        "32", f"{example}/projects/lighthouse/landscape.lighting.yaml:5")
    assert lit.variants == ("lighting",)


def test_a_broken_shot_beside_a_launchable_sibling(example):
    (example / SH010 / "landscape.yaml").write_text("level: shot\nmetadata: [unclosed\n")
    b = Backend(example)
    broken = b.details(example / SH010, "python", ())
    assert broken.errors and LOCATED.search(broken.errors[0]) and not broken.launchable
    assert "sh010/landscape.yaml:" in broken.errors[0]
    fine = b.details(example / SH020, "python", ())
    assert fine.errors == [] and fine.launchable
    [sh010, sh020] = b.children(example / "projects/lighthouse/seq010")
    assert sh010.errors and sh020.errors == ()


def test_a_solve_failure_keeps_what_the_cascade_says(studio):
    root = studio({"shot/landscape.yaml": "level: shot\npackages: [nonesuch-9]\n"
                                          "metadata: {fps: 24}\n"})
    d = Backend(root).details(root / "shot", None, ())
    assert d.errors and "nonesuch" in " ".join(d.errors) and not d.launchable
    assert rows(d.metadata)["fps"] == ("24", f"{root}/shot/landscape.yaml:3")
    assert d.levels == {"shot": "shot"} and d.packages == []


def test_the_policy_verdict_names_its_rule(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allow_gui: false}
        tools:
          viewer: {command: [python], packages: [python], gui: true}
          python: {command: [python], packages: [python]}
    """, "shot/landscape.yaml": "level: shot\n"})
    b = Backend(root)
    viewer = b.details(root / "shot", "viewer", ())
    assert viewer.errors == [] and not viewer.policy_ok and not viewer.launchable
    assert "gui" in viewer.policy_message
    assert re.search(r"landscape\.yaml:\d+", viewer.policy_message)
    python = b.details(root / "shot", "python", ())
    assert python.policy_ok and python.launchable
    assert {t.name: t.gui for t in python.tools} == {"viewer": True, "python": False}


def test_a_tool_without_a_working_directory_here_is_blocked(example):
    d = Backend(example).details(example / "projects/lighthouse/seq010", "blender", ())
    assert d.errors == [] and not d.policy_ok and "working directory" in d.policy_message


def test_details_are_cached_until_a_file_changes(example):
    b = Backend(example)
    first = b.details(example / SH010, None, ())
    assert b.details(example / SH010, None, ()) == first
    shot = example / SH010 / "landscape.yaml"
    shot.write_text(shot.read_text().replace("1012", "1013"))
    os.utime(shot, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert rows(b.details(example / SH010, None, ()).metadata)["frames"][0] == "[1001, 1013]"
    b.clear_caches()
    assert rows(b.details(example / SH010, None, ()).metadata)["frames"][0] == "[1001, 1013]"


def test_details_from_several_threads(example):
    b = Backend(example)
    out: list = []
    threads = [threading.Thread(target=lambda p=p: out.append(b.details(example / p, None, ())))
               for p in (SH010, SH020, SH010, SH020)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4 and all(d.errors == [] for d in out)


def test_a_missing_root_gives_messages(tmp_path):
    b = Backend(tmp_path / "nowhere")
    assert b.studio().errors and b.children(tmp_path / "nowhere") == []
    d = b.details(tmp_path / "nowhere/shot", "python", ())
    assert d.errors and not d.launchable
    r = b.launch(LaunchRequest(tmp_path / "nowhere/shot", "python"), lambda s, t: None,
                 threading.Event())
    assert r.exit_code is None and r.error and "\n" not in r.error


def test_an_engine_that_does_not_answer_is_an_unknown_image_state(example, no_engine):
    b = Backend(example)
    d = b.details(example / SH010, "python", ())
    state = b.image_state(d)
    assert state.state == "unknown" and "engine" in state.message.lower()
    with pytest.raises(LandscapeError) as e:
        b.get_image(d, pull_only=True, progress=lambda *a: None)
    assert "\n" not in str(e.value)
    r = b.launch(LaunchRequest(example / SH010, "python"), lambda s, t: None, threading.Event())
    assert r.exit_code is None and "engine" in r.error.lower()


def test_an_engine_that_never_answers_is_reported_not_waited_for(example, engine):
    from conftest import silent

    engine(silent)
    b = Backend(example)
    d = b.details(example / SH010, "python", ())
    state = b.image_state(d)
    assert state.state == "unknown" and "did not answer within 1 s" in state.message
    for pull_only in (True, False):                   # Pull, Build
        with pytest.raises(LandscapeError) as e:
            b.get_image(d, pull_only=pull_only, progress=lambda *a: None)
        assert "did not answer within 1 s" in str(e.value) and "\n" not in str(e.value)
        assert "HTTPConnectionPool" not in str(e.value)
    r = b.launch(LaunchRequest(example / SH010, "python"), lambda s, t: None, threading.Event())
    assert r.exit_code is None and "did not answer within 1 s" in r.error


def test_an_engine_that_refuses_is_one_clean_line(example, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")   # nothing listens there
    monkeypatch.setattr(dk, "_client", None)
    b = Backend(example)
    d = b.details(example / SH010, "python", ())
    with pytest.raises(LandscapeError) as e:
        b.get_image(d, pull_only=False, progress=lambda *a: None)
    assert "no Docker engine answers at tcp://127.0.0.1:9 (Connection refused)" in str(e.value)
    assert "HTTPConnectionPool" not in str(e.value) and "Max retries" not in str(e.value)


def test_the_image_state_of_a_context_that_does_not_resolve(example):
    (example / SH010 / "landscape.yaml").write_text("level: [\n")
    b = Backend(example)
    state = b.image_state(b.details(example / SH010, None, ()))
    assert state.state == "unknown" and "does not resolve" in state.message


def test_a_launch_of_a_broken_context_names_the_line(example):
    (example / SH010 / "landscape.yaml").write_text("level: shot\nmetadata: [unclosed\n")
    r = Backend(example).launch(LaunchRequest(example / SH010, "python"), lambda s, t: None,
                                threading.Event())
    assert r.exit_code is None and LOCATED.search(r.error) and "\n" not in r.error


def test_a_gui_tool_without_a_display_says_so(studio, monkeypatch, no_engine):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {allow_gui: true}
        tools:
          viewer: {command: [python], packages: [python], gui: true}
    """, "shot/landscape.yaml": "level: shot\n"})
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    r = Backend(root).launch(LaunchRequest(root / "shot", "viewer"), lambda s, t: None,
                             threading.Event())
    assert r.exit_code is None and "DISPLAY" in r.error


def test_the_command_line_of_a_request(example):
    b = Backend(example)
    line = b.command_line(LaunchRequest(example / SH020, "blender", "render", ("lighting",),
                                        ("-f", "1"), None))
    assert line == (f"landscape launch {example / SH020} --tool blender/render "
                    "--variant lighting -- -f 1")


def test_metadata_rows_flatten_nested_keys(studio):
    from landscape.cascade import build_cascade

    root = studio({"s/landscape.yaml": """
        level: shot
        metadata:
          render: {engine: {name: CYCLES, version: 3}}
          flag: true
          when: 2024-01-02
          none: null
    """})
    got = rows(metadata_rows(build_cascade(root / "s").node("metadata")))
    assert got["render.engine.name"][0] == "CYCLES"
    assert got["render.engine.version"][0] == "3"
    assert got["flag"][0] == "true" and got["when"][0] == "2024-01-02"
    assert got["none"][0] == "null"


def test_details_of_an_unknown_context_object_still_work(example):
    b = Backend(example)
    d = ContextDetails(context=example / SH010, tool="python")
    assert b.image_state(d).state in ("ready", "missing", "unknown")


def test_the_index_and_tree_come_from_browse(example):
    b = Backend(example)
    assert b.studio().name == "Example Studio"
    index = b.index()
    index.build()
    assert index.search("sh040") == ["projects/lighthouse/seq020/sh040"]
    assert [e.name for e in b.children(Path(example / "projects"))] == ["Lighthouse"]


def test_a_shot_folder_without_a_file_is_shown_and_launchable(example):
    (example / "projects/lighthouse/seq010/sh099").mkdir()
    b = Backend(example)
    names = [e.path.name for e in b.children(example / "projects/lighthouse/seq010")]
    assert names == ["sh010", "sh020", "sh099"]
    d = b.details(example / "projects/lighthouse/seq010/sh099", "python", ())
    assert d.errors == [] and d.launchable and d.levels["shot"] == "sh099"
    assert d.workdir.endswith("seq010/sh099/work/python")


def test_the_tools_keep_the_files_order_whatever_tool_is_selected(example):
    b = Backend(example)
    for tool in (None, "blender", "python"):
        assert [t.name for t in b.details(example / SH020, tool, ()).tools] == \
            ["blender", "python"], tool
