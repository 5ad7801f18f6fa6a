"""Studio scale: what one pass over many contexts shares (memo scope, forked workers) gives
exactly what resolving each context alone gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape import memo, plan as planmod, rezsolve
from landscape.check import CheckReport, check
from landscape.context import resolve
from landscape.errors import LandscapeError, flatten
from landscape.paths import real

from conftest import write_tree

SHOT = "schema: landscape/v1\nlevel: shot\nmetadata: {{frames: [1001, {end}]}}\n"


def _project(example: Path, shots: int = 24) -> Path:
    """A project of ``shots`` shots in three sequences, with pinned, broken, redirected,
    env-setting and tool-changing shots among them."""
    proj = example / "projects/scale"
    files = {"landscape.yaml": "schema: landscape/v1\nlevel: project\n"
                               "packages: [studio_pipeline-1.1]\n"}
    for i in range(shots):
        seq = f"seq{i // 8:02d}"
        files.setdefault(f"{seq}/landscape.yaml", "schema: landscape/v1\nlevel: sequence\n")
        text = SHOT.format(end=1100 + i)
        if i % 8 == 3:
            text += "packages: [studio_pipeline-1.0]\n"
        if i % 8 == 5:
            text = text.replace("metadata", "metdata")
        if i % 8 == 6:
            text += "env: {SHOT_NOTE: six}\n"
        if i % 8 == 7:
            text += "tools:\n  python: {packages: [python-3.11]}\n"
        files[f"{seq}/sh{i:03d}/landscape.yaml"] = text
    files["seq00/sh002/landscape.yaml"] = ("schema: landscape/v1\nlevel: shot\n"
                                           "parent: ../../seq01\n")
    write_tree(proj, files)
    return proj


def _alone(path: Path, variants: tuple[str, ...]) -> tuple[str | None, list[str]]:
    rezsolve.clear_caches()
    try:
        return resolve(path, variants=variants).image.key, []
    except LandscapeError as e:
        return None, sorted(str(x) for x in flatten(e))


def test_a_plan_gives_what_each_context_gives_alone(example):
    proj = _project(example)
    p = planmod.make_plan(proj, workers=1)
    assert len(p.contexts) == 28 and len(p.failed) == 3
    for c in p.contexts:
        key, errors = _alone(c.path, c.variants)
        assert (c.key, sorted(str(e) for e in c.errors)) == (key, errors), c.label


def test_forked_workers_plan_exactly_as_one_process(example, monkeypatch):
    proj = _project(example, shots=40)
    one = planmod.make_plan(proj, workers=1)
    monkeypatch.setattr(planmod, "PARALLEL_MIN_CONTEXTS", 5)
    seen = []
    two = planmod.make_plan(proj, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert two.to_json() == one.to_json()
    assert [c.storage for c in two.contexts] == [c.storage for c in one.contexts]
    assert seen and seen[-1] == (len(one.contexts), len(one.contexts))
    assert two.cascade is not None and two.cascade.root == one.cascade.root


def test_check_in_one_pass_reports_every_error_once(example):
    proj = _project(example)
    report = check(proj)
    assert report.contexts == 28 and report.contexts_ok == 25
    texts = [str(e) for e in report.errors]
    assert len(texts) == len(set(texts)) == 3
    r = CheckReport()
    e = LandscapeError("same")
    r.add([e, LandscapeError("same"), LandscapeError("other")])
    r.add([LandscapeError("same")])
    assert [x.message for x in r.errors] == ["same", "other"]


def test_real_paths_in_a_pass_are_the_real_paths(tmp_path):
    """The folder-by-folder real path of a pass agrees with ``realpath(abspath(p))`` over
    links to folders, to files, relative and dangling links and a loop."""
    base = tmp_path / "t"
    (base / "a/b/c").mkdir(parents=True)
    (base / "a/b/c/f.yaml").write_text("x")
    (base / "link_dir").symlink_to(base / "a/b")
    (base / "a/rel").symlink_to("b/c")
    (base / "a/b/c/link_file").symlink_to("f.yaml")
    (base / "dangling").symlink_to(base / "nowhere")
    (base / "loop1").symlink_to(base / "loop2")
    (base / "loop2").symlink_to(base / "loop1")
    names = ["a/b/c/f.yaml", "link_dir/c/f.yaml", "a/rel/f.yaml", "a/rel/link_file",
             "dangling", "dangling/x", "loop1", "loop1/x", "a/b/../b/c", "link_dir/..",
             "a/b/c/missing/deeper", "."]
    with memo.scope():
        for n in names * 2:  # twice: memoised answers too
            p = str(base / n)
            assert real(p) == os.path.realpath(os.path.abspath(p)), n


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_ancestor_breaks_only_its_contexts(example, monkeypatch, workers):
    proj = _project(example, shots=16)
    (proj / "seq01/landscape.yaml").write_text("schema: landscape/v1\nlevel: [broken\n")
    monkeypatch.setattr(planmod, "PARALLEL_MIN_CONTEXTS", 5)
    p = planmod.make_plan(proj, workers=workers)
    broken = {c.path.parent.name for c in p.failed}
    assert "seq01" in broken or any(c.path.name == "seq01" for c in p.failed)
    assert all(c.image is not None for c in p.contexts
               if "seq00" in c.path.parts and c.path.name not in ("sh002", "sh005"))


SNIPPETS = {
    "pin": "packages: [studio_pipeline-1.0]\n",
    "env": "env: {NOTE: x}\n",
    "tool": "tools:\n  python: {packages: [python-3.11]}\n",
    "templates": "templates: {work: '{root}/w/{shot}'}\n",
    "dirs": "dirs: [a]\n",
    "storage": "storage:\n  - {source: /etc}\n",
    "badkey": "metdata: {a: 1}\n",
    "manifest": "manifest: nope\n",
}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sets(st.sampled_from(sorted(SNIPPETS))), min_size=2, max_size=4))
def test_any_mix_of_shot_files_plans_as_each_alone(example, mixes):
    proj = example / "projects/mix"
    if proj.exists():
        import shutil

        shutil.rmtree(proj)
    files = {"landscape.yaml": "schema: landscape/v1\nlevel: project\n",
             "sq/landscape.yaml": "schema: landscape/v1\nlevel: sequence\n"}
    for i, mix in enumerate(mixes):
        files[f"sq/sh{i}/landscape.yaml"] = "schema: landscape/v1\nlevel: shot\n" + \
            "".join(SNIPPETS[k] for k in sorted(mix))
    write_tree(proj, files)
    p = planmod.make_plan(proj, workers=1)
    for c in p.contexts:
        key, errors = _alone(c.path, c.variants)
        assert (c.key, sorted(str(e) for e in c.errors)) == (key, errors), c.label
