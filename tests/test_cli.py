"""The command line through its real entry point (in-process and as a subprocess): exit codes,
JSON shapes, error messages without tracebacks."""

import json
import subprocess

from conftest import landscape_exe

SH020 = "projects/lighthouse/seq010/sh020"
SH010 = "projects/lighthouse/seq010/sh010"


def test_help_and_version(cli):
    r = cli("--help")
    assert r.code == 0
    for command in ("check", "resolve", "plan", "build", "up", "down", "ps", "launch", "base"):
        assert command in r.out
    assert cli("--version").out.startswith("landscape ")


def test_resolve_json_shows_the_pinned_package_and_the_override(cli, example):
    r = cli("resolve", example / SH020, "--tool", "blender", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert {"name": "studio_pipeline", "version": "1.0.0", "variant": None,
            "repository": str(example / "packages")} in data["packages"]
    assert data["metadata"]["resolution"] == [640, 272]


def test_resolve_text_summary(cli, example):
    r = cli("resolve", example / SH020, "--tool", "blender")
    assert r.code == 0, r
    assert "studio_pipeline  1.0.0" in r.out
    assert "landscape/lighthouse:" in r.out


def test_resolve_explain_json(cli, example):
    r = cli("resolve", example / SH020, "--tool", "blender", "--json", "--explain")
    data = json.loads(r.out)
    assert data["metadata"]["resolution"]["from"].endswith("sh020/landscape.yaml:7")
    assert data["layers"] == ["manifest vfx2024", "context", "tool blender"]


def test_check_passes_on_the_example(cli, example):
    r = cli("check", example)
    assert r.code == 0, r
    assert "0 error" not in r.err and "ok" in r.err


def test_broken_shot_fails_check_but_not_its_sibling(cli, example):
    (example / SH010 / "landscape.yaml").write_text("level: shot\nmetadata: {frames: [1, 2\n")
    r = cli("check", example)
    assert r.code == 1
    assert f"{example / SH010}/landscape.yaml:3:1: YAML syntax error" in r.err
    assert "Traceback" not in r.err
    ok = cli("resolve", example / SH020, "--json")
    assert ok.code == 0, ok
    bad = cli("resolve", example / SH010)
    assert bad.code == 1 and "YAML syntax error" in bad.err


def test_check_reports_all_errors_with_did_you_mean(cli, example):
    (example / SH010 / "landscape.yaml").write_text(
        "level: shot\nmetdata: {}\ntools:\n  blender: {pakages: [x]}\n")
    (example / "projects/lighthouse/seq020/sh030/landscape.yaml").write_text(
        "level: shot\npackages: !unset [x]\n")
    r = cli("check", example, "--json")
    assert r.code == 1
    texts = [e["text"] for e in json.loads(r.out)["errors"]]
    assert any("sh010/landscape.yaml:2:1: metdata: unknown key 'metdata' (did you mean "
               "'metadata'?)" in t for t in texts)
    assert any("sh010/landscape.yaml:4:13: tools.blender.pakages: unknown key" in t
               and "did you mean 'packages'" in t for t in texts)
    assert any("sh030/landscape.yaml:2:11: packages: !unset cannot be used" in t for t in texts)


def test_unknown_template_field_is_an_error_at_check(cli, example):
    (example / "projects/lighthouse/landscape.yaml").write_text(
        "level: project\ntemplates: {publish: '{root}/{shto}/publish'}\n")
    r = cli("check", example)
    assert r.code == 1
    assert "templates.publish: unknown template field {shto}" in r.err


def test_unsolvable_request_exits_1_with_rezs_reason(cli, example):
    r = cli("resolve", example / SH010, "--tool", "python", "-a", "studio_pipeline-7")
    assert r.code == 1
    assert "Package could not be found: studio_pipeline-7" in r.err
    assert "Traceback" not in r.err


def test_usage_error_exits_2(cli, example):
    assert cli("resolve").code == 2
    assert cli("resolve", example / SH010, "--bogus").code == 2


def test_unknown_tool_is_a_user_error(cli, example):
    r = cli("resolve", example / SH010, "--tool", "maya")
    assert r.code == 1 and "unknown tool 'maya'" in r.err and "blender" in r.err


def test_schema_is_json(cli):
    r = cli("schema")
    schema = json.loads(r.out)
    assert "tools" in schema["properties"]


def test_plan_without_engine_lists_images_and_contexts(example):
    from landscape.plan import make_plan

    p = make_plan(example / "projects/lighthouse")
    assert len(p.images) == 2 and not p.failed
    counts = sorted(len(im.contexts) for im in p.images.values())
    assert counts == [2, 16]  # sh020 (with and without the lighting variant) vs the rest


def test_init_scaffolds_a_studio_that_checks(cli, tmp_path):
    r = cli("init", tmp_path / "new")
    assert r.code == 0, r
    assert (tmp_path / "new/landscape.yaml").is_file()
    again = cli("init", tmp_path / "new")
    assert again.code == 1 and "already exists" in again.err


def test_root_option_takes_relative_contexts_from_the_studio_root(cli, example, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("resolve", SH020, "--root", example, "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["context"] == str(example / SH020)
    monkeypatch.setenv("LANDSCAPE_ROOT", str(example))
    assert json.loads(cli("resolve", SH020, "--json").out)["levels"]["shot"] == "sh020"


def test_subprocess_entry_point_prints_no_traceback(example):
    (example / SH010 / "landscape.yaml").write_text("level: [\n")
    r = subprocess.run([*landscape_exe(), "resolve", str(example / SH010)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "YAML syntax error" in r.stderr and "Traceback" not in r.stderr


def test_committed_schemas_match_the_code_and_examples_point_at_them(cli):
    import re

    from conftest import EXAMPLE, REPO

    for args, name in ((("schema",), "landscape"), (("schema", "--manifest"), "manifest")):
        committed = json.loads((REPO / f"schema/{name}.schema.json").read_text())
        assert json.loads(cli(*args).out) == committed, f"regenerate schema/{name}.schema.json"
    for f in (f for f in EXAMPLE.rglob("*.yaml") if ".landscape" not in f.parts):
        m = re.match(r"# yaml-language-server: \$schema=(\S+)", f.read_text())
        assert m, f"{f} has no schema modeline"
        assert (f.parent / m.group(1)).resolve().is_file(), f


def test_diff_shows_what_differs_between_two_shots(cli, example):
    r = cli("diff", example / SH010, example / SH020, "--tool", "blender", "--json")
    assert r.code == 1, r  # they differ (like diff(1))
    d = json.loads(r.out)
    assert d["same"] is False
    assert d["packages"]["studio_pipeline"]["a"].startswith("1.1.0")
    assert d["packages"]["studio_pipeline"]["b"].startswith("1.0.0")
    assert d["metadata"]["resolution"] == {"a": [960, 540], "b": [640, 272]}
    assert d["image"]["key"]["a"] != d["image"]["key"]["b"]
    assert d["env"]["LANDSCAPE_SHOT"] == {"a": "sh010", "b": "sh020"}
    assert "python" not in d.get("packages", {})
    same = json.loads(cli("diff", example / SH010, example / SH010, "--json").out)
    assert same["same"] is True and "env" not in same
    text = cli("diff", example / SH010, example / SH020).out
    assert "- resolution: [960, 540]" in text and "+ resolution: [640, 272]" in text


def test_diff_without_tool_still_sees_each_tools_env_and_packages(cli, example):
    (example / SH020 / "landscape.yaml").write_text(
        "level: shot\ntools: {python: {env: {FOO: bar}}}\n")
    d = json.loads(cli("diff", example / SH010, example / SH020, "--json").out)
    assert d["tools"]["python.env.FOO"] == {"a": None, "b": ["set bar"]}


def test_plan_shows_progress_lines_without_a_terminal(example, cli, monkeypatch):
    """A plan that runs longer than the interval prints plain progress lines on stderr
    (a log has no progress bar); the JSON on stdout stays clean."""
    from landscape.cli import output

    monkeypatch.setattr(output.PlanProgress, "every", 0.0)
    r = cli("plan", example / "projects/lighthouse", "--json")
    assert r.code == 0, r
    lines = [ln for ln in r.err.splitlines() if ln.startswith("planning: ")]
    assert lines and lines[-1].endswith(" contexts")
    done, total = lines[-1].split()[1].split("/")
    assert done == total and int(total) >= 5
    json.loads(r.out)


def test_plan_progress_on_a_terminal_draws_a_bar_and_ends_cleanly(monkeypatch):
    """On a terminal the progress is a Rich bar on the real console (Rich's Live uses the
    console as a context manager: the lazy wrapper must never reach it)."""
    from landscape.cli import output

    with output.PlanProgress() as progress:
        progress.terminal = True
        for done in range(0, 101, 25):
            progress(done, 100)
        assert progress.bar is not None


def test_build_pull_ps_and_prune_json_keep_their_shapes(cli, example, monkeypatch):
    """The engine answers with records (``ImageResult``, ``StackContainer``,
    ``PruneResult``); what ``build``, ``pull``, ``ps`` and ``prune`` print from them with
    ``--json`` is docs/json.md's shape, key for key and in order."""
    from dataclasses import replace

    from landscape.engine import delivery, stack
    from landscape.engine.delivery import PruneResult
    from landscape.engine.images import ImageResult
    from landscape.engine.stack import StackContainer

    project = example / "projects/lighthouse"
    registry = "127.0.0.1:5000"
    keys = ["sha256:" + c * 64 for c in "abcd"]
    tags = ["landscape/lighthouse:" + c * 12 for c in "abcd"]
    ids = ["sha256:" + c * 64 for c in "1234"]
    digest = "sha256:" + "e" * 64
    built = ImageResult(tags[0], keys[0], "built", 96.4, id=ids[0], steps=14, cached_steps=11)
    local = ImageResult(tags[1], keys[1], "local", 0.0, id=ids[1], steps=0, cached_steps=0)
    pushed = replace(built, tag=tags[2], key=keys[2], id=ids[2], digest=digest,
                     push_seconds=3.2)
    held = ImageResult(tags[3], keys[3], "registry", 0.0, digest=digest, steps=0,
                       cached_steps=0)
    results = [built, local, pushed, held]

    def build_project(p, *, on_result=None, **options):
        assert options["push"] == registry
        for r in results:
            on_result(r, 2)
        return results

    def ordered(items):
        return [list(item.items()) for item in items]

    monkeypatch.setattr(delivery, "build_project", build_project)
    r = cli("build", project, "--push", registry, "--json")
    assert r.code == 0, r
    assert ordered(json.loads(r.out)["images"]) == ordered([
        {"tag": tags[0], "key": keys[0], "id": ids[0], "built": True, "seconds": 96.4,
         "steps": 14, "cached_steps": 11, "source": "built"},
        {"tag": tags[1], "key": keys[1], "id": ids[1], "built": False, "seconds": 0.0,
         "steps": 0, "cached_steps": 0, "source": "local"},
        {"tag": tags[2], "key": keys[2], "id": ids[2], "built": True, "seconds": 96.4,
         "steps": 14, "cached_steps": 11, "source": "built", "digest": digest,
         "push_seconds": 3.2},
        {"tag": tags[3], "key": keys[3], "built": False, "seconds": 0.0, "steps": 0,
         "cached_steps": 0, "source": "registry", "digest": digest}])
    assert f"built {tags[0]} in 96.4 s (11/14 steps cached; 2 contexts)" in r.err
    assert f"{tags[3]} is in {registry} (2 contexts)" in r.err
    assert f"pushed to {registry}: {digest}" in r.err and "2 built, 2 up to date" in r.err

    monkeypatch.setattr(delivery, "pull_project", lambda p, reg, log: [
        ImageResult(tags[0], keys[0], "pulled", 1.25, digest=digest),
        ImageResult(tags[1], keys[1], "local", 0.01)])
    r = cli("pull", project, "--registry", registry, "--json")
    assert r.code == 0, r
    assert ordered(json.loads(r.out)["images"]) == ordered([
        {"tag": tags[0], "key": keys[0], "source": "pulled", "digest": digest,
         "seconds": 1.25},
        {"tag": tags[1], "key": keys[1], "source": "local", "digest": None, "seconds": 0.01}])

    container = StackContainer("landscape-lighthouse-0eecdbe2-workspace-aaaaaaaaaaaa-1",
                               "workspace-aaaaaaaaaaaa", tags[0], "running", "running")
    monkeypatch.setattr(stack, "stack_containers", lambda root, name: [container])
    (stack.stack_dir(example, "lighthouse") / "compose.yaml").parent.mkdir(parents=True)
    (stack.stack_dir(example, "lighthouse") / "compose.yaml").write_text("services: {}\n")
    r = cli("ps", project, "--json")
    assert r.code == 0, r
    assert ordered(json.loads(r.out)) == ordered([
        {"name": container.name, "service": "workspace-aaaaaaaaaaaa", "image": tags[0],
         "state": "running", "status": "running"}])
    r = cli("ps", project)
    assert r.code == 0 and "workspace-aaaaaaaaaaaa" in r.out, r

    monkeypatch.setattr(delivery, "prune", lambda projects, **options: PruneResult(
        (tags[1],), 2, 1520000000, options["dry_run"]))
    r = cli("prune", project, "--dry-run", "--json")
    assert r.code == 0, r
    assert ordered([json.loads(r.out)]) == ordered([
        {"removed": [tags[1]], "kept": 2, "bytes": 1520000000, "dry_run": True}])
    r = cli("prune", project, "--dry-run")
    assert r.code == 0 and f"would remove {tags[1]}" in r.err, r
    assert "would remove 1 tags (~1520 MB), kept 2 images" in r.err
