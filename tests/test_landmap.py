"""``landscape map``: the project as one Graphviz picture — files per level, contexts grouped
by image, images, tools, the stack's services and volumes — readable at 10,000 shots, and
safe with any text a config author puts in a name (no Docker: the plan is asked nothing of
the engine here, the SVG comes from Graphviz's ``dot``)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.cascade import build_cascade
from landscape.engine.stack import compose_document
from landscape.landmap import clean, group_contexts, label, map_graph, render
from landscape.plan import make_plan

from conftest import write_tree

SVG = "{http://www.w3.org/2000/svg}"
#: every element Graphviz's SVG output is made of; anything else would be injected
SVG_ELEMENTS = {"svg", "g", "title", "text", "polygon", "path", "ellipse", "polyline",
                "defs", "a"}



def texts(svg: bytes) -> list[str]:
    """The text of every ``<text>`` of ``svg``, checking it parses as XML made only of
    Graphviz's own elements."""
    tree = ET.fromstring(svg)
    for el in tree.iter():
        assert el.tag.removeprefix(SVG) in SVG_ELEMENTS, el.tag
    return ["".join(el.itertext()) for el in tree.iter(SVG + "text")]


def draw(project: Path, fmt: str = "svg") -> tuple[bytes, object]:
    plan = make_plan(project, workers=1)
    cascade = build_cascade(project, ())
    return render(map_graph(plan, cascade, compose_document(plan, cascade)), fmt), plan


def test_the_example_map_names_every_image_service_level_and_tool(example):
    svg, plan = draw(example / "projects/lighthouse")
    words = texts(svg)
    joined = "\n".join(words)
    for im in plan.images.values():
        assert im.spec.tag in words
        assert f"workspace-{im.spec.short}" in joined
        assert f"service workspace-{im.spec.short}" in words
    for name in ("level shot", "level sequence", "level project", "studio: 1 file",
                 "blender/render", "python", "stack lighthouse"):
        assert name in words, name
    assert any(w.startswith("shot × ") for w in words)


def test_a_broken_shot_is_marked_with_its_file_and_line(example):
    shot = example / "projects/lighthouse/seq010/sh010/landscape.yaml"
    shot.write_text(shot.read_text() + "packages: [nosuchpackage-9]\n")
    svg, plan = draw(example / "projects/lighthouse")
    words = texts(svg)
    assert plan.failed
    assert any(w.startswith("broken: shot × ") for w in words), words
    joined = " ".join(words)
    assert "seq010/sh010: " in joined and "nosuchpackage" in joined, words
    assert "seq010/sh010/landscape.yaml:6" in joined, words
    assert b"#b00020" in svg  # drawn in red


def test_a_broken_file_is_marked_with_line_and_column(example):
    shot = example / "projects/lighthouse/seq020/sh030/landscape.yaml"
    shot.write_text("schema: landscape/v1\nlevel: shot\nmetadata: [unclosed\n")
    svg, _ = draw(example / "projects/lighthouse")
    assert any("seq020/sh030" in w and "landscape.yaml:" in w for w in texts(svg))


def test_shots_that_share_an_image_collapse_into_one_node(example):
    proj = example / "projects/big"
    files = {"landscape.yaml": "schema: landscape/v1\nlevel: project\n"
                               "packages: [studio_pipeline-1.1]\n"}
    for s in range(4):
        files[f"seq{s}/landscape.yaml"] = "schema: landscape/v1\nlevel: sequence\n"
        for i in range(250):
            files[f"seq{s}/sh{i:04d}/landscape.yaml"] = "schema: landscape/v1\nlevel: shot\n"
    write_tree(proj, files)
    svg, plan = draw(proj)
    words = texts(svg)
    assert len(plan.contexts) == 1005
    assert "shot × 1,000" in words and "shot: 1,000 files" in words
    assert "… 994 more" in words
    tree = ET.fromstring(svg)
    nodes = [g for g in tree.iter(SVG + "g") if g.get("class") == "node"]
    assert len(nodes) < 30  # bounded by levels × images, not by shots


def test_group_contexts_keeps_first_and_last_and_counts(example):
    plan = make_plan(example / "projects/lighthouse", workers=1)
    groups = group_contexts(plan.contexts, plan.top)
    assert sum(len(g.paths) for g in groups) == len(plan.contexts)
    assert {g.level for g in groups} >= {"project", "sequence", "shot"}


HOSTILE = ['"];\nnode [shape=none label=<<b>x</b>>]; "', "<b>bold</b>", r"back\slash\l\N\G",
           "a\\", "x\x1b[31mred", "&amp; <script>alert(1)</script>", "{}|<>"]


@pytest.mark.parametrize("name", [n for n in HOSTILE if "/" not in n and "\n" not in n
                                  and "\x1b" not in n])
def test_hostile_folder_names_are_drawn_as_text(example, name):
    shot = example / "projects/lighthouse/seq010" / name
    write_tree(shot, {"landscape.yaml": "schema: landscape/v1\nlevel: shot\n"})
    svg, _ = draw(example / "projects/lighthouse")
    joined = "\n".join(texts(svg))
    assert clean(f"seq010/{name}") in joined or clean(f"seq010/{name}")[:40] in joined


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=90), min_size=1, max_size=3))
def test_any_text_becomes_exactly_its_printable_lines(lines):
    import graphviz

    g = graphviz.Digraph()
    g.node("n1", label(*lines))
    words = texts(render(g))
    want = [clean(line) for line in lines]
    # Graphviz drops lines that are only blanks and writes a run of spaces with no-break ones
    assert [w.replace("\xa0", " ") for w in words if w.strip()] == [w for w in want
                                                                     if w.strip()]


def test_cli_writes_svg_dot_and_refuses_an_unknown_suffix(example, cli, tmp_path):
    proj = example / "projects/lighthouse"
    r = cli("map", proj, "--out", tmp_path / "m.svg")
    assert r.code == 0, r
    assert "written to" in r.err
    texts((tmp_path / "m.svg").read_bytes())
    r = cli("map", proj, "--out", tmp_path / "m.dot")
    assert r.code == 0, r
    assert (tmp_path / "m.dot").read_text().startswith("digraph landscape {")
    r = cli("map", proj, "--out", tmp_path / "m.txt")
    assert r.code == 2 and "must end in" in r.err and not (tmp_path / "m.txt").exists()


def test_no_graphviz_is_one_line_and_the_dot_source_still_works(example, cli, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    r = cli("map", example / "projects/lighthouse", "--out", tmp_path / "m.svg")
    assert r.code == 1 and "needs Graphviz's dot" in r.err and "Traceback" not in r.err, r
    assert not (tmp_path / "m.svg").exists()
    r = cli("map", example / "projects/lighthouse", "--out", tmp_path / "m.dot")
    assert r.code == 0, r


def test_dot_runs_as_a_program_with_no_shell(example, monkeypatch):
    calls = []
    real = subprocess.run

    def spy(argv, *a, **k):
        calls.append(argv)
        return real(argv, *a, **k)

    monkeypatch.setattr(subprocess, "run", spy)
    draw(example / "projects/lighthouse")
    assert calls and all(isinstance(c, list) and c[1] == "-Tsvg" for c in calls)
