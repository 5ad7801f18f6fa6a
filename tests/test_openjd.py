"""``render --emit openjd`` without an engine: the job template, decoded and instantiated by
the OpenJD reference library (openjd-model), hostile names, and the command line's usage
errors."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from landscape.frames import chunks, parse
from landscape.openjd import (MAX_CHUNKS, TemplateError, dump, job_name, job_template,
                              literal)

import openjd.model  # noqa: E402,F401 - a test extra (`pip install -e .[test]`): fails, never skips

DIGEST = "sha256:" + "ab" * 32
IMAGE = "127.0.0.1:5000/landscape/lighthouse@" + DIGEST


def template(**kw) -> dict:
    args = dict(context="/studio/projects/lighthouse/seq010/sh010", tool="python/farm",
                variants=[], chunks=chunks(parse("1001-1005"), 2), chunk=2, digest=DIGEST,
                image=IMAGE, label="projects/lighthouse/seq010/sh010")
    args.update(kw)
    return job_template(**args)


def tasks(data: dict, values: dict | None = None) -> list[tuple[str, list[str]]]:
    """Decode ``data`` with openjd-model, make the job (``values``: job parameter values) and
    return each task's ``(command, args)`` after substitution — what a worker runs."""
    from openjd.model import (ParameterValue, ParameterValueType, SymbolTable,
                              StepParameterSpaceIterator, create_job, decode_job_template)

    types = {p["name"]: ParameterValueType(p["type"]) for p in data["parameterDefinitions"]}
    job = create_job(job_template=decode_job_template(template=data),
                     job_parameter_values={k: ParameterValue(type=types[k], value=v)
                                           for k, v in (values or {}).items()})
    assert len(job.steps) == 1
    step = job.steps[0]
    action = step.script.actions.onRun
    out = []
    for task in StepParameterSpaceIterator(space=step.parameterSpace):
        table = SymbolTable()
        for name, p in job.parameters.items():
            table[f"Param.{name}"] = p.value
            table[f"RawParam.{name}"] = p.value
        for name, p in task.items():
            table[f"Task.Param.{name}"] = p.value
        out.append((action.command.resolve(symtab=table),
                    [a.resolve(symtab=table) for a in action.args]))
    return out


def intended(frames: str, *, context: str, tool: str = "python/farm", variants=(),
             chunk: int = 2, root: str | None = None, timeout: str | None = None) -> list[str]:
    return ["render", f"--tool={tool}", *[f"--variant={v}" for v in variants],
            f"--frames={frames}", f"--chunk={chunk}", "--parallel=1", "--retries=0",
            *([f"--timeout={timeout}"] if timeout else []),
            *([f"--root={root}"] if root else []), f"--digest={DIGEST}", "--", context]


def test_one_step_one_task_per_chunk_and_the_exact_argv():
    data = template()
    got = tasks(data)
    context = "/studio/projects/lighthouse/seq010/sh010"
    assert [cmd for cmd, _ in got] == ["landscape"] * 3
    assert [args for _, args in got] == [intended(f, context=context)
                                         for f in ("1001-1002", "1003-1004", "1005")]
    assert data["specificationVersion"] == "jobtemplate-2023-09"
    assert data["name"] == "projects/lighthouse/seq010/sh010 python/farm"
    assert IMAGE in data["description"]


def test_chunks_keep_gaps_and_step_changes_as_a_local_render_does():
    parts = chunks(parse("1-9x2,10-12,20"), 3)
    got = tasks(template(chunks=parts, chunk=3))
    assert [args[2] for _, args in got] == ["--frames=1-5x2", "--frames=7-9x2",
                                            "--frames=10-12", "--frames=20"]
    # every task's frames make exactly the one chunk of the local render again
    for _, args in got:
        frames = parse(args[2].split("=", 1)[1])
        assert len(chunks(frames, 3)) == 1


def test_parameters_variants_root_timeout_and_the_command_can_be_set_by_the_farm():
    data = template(variants=["lighting", "night"], root="/studio", timeout=90.0)
    names = [p["name"] for p in data["parameterDefinitions"]]
    assert names == ["ContextPath", "Landscape", "StudioRoot"]
    got = tasks(data, {"ContextPath": "/mnt/studio/sh010", "Landscape": "/opt/ls/bin/landscape",
                       "StudioRoot": "/mnt/studio"})
    cmd, args = got[0]
    assert cmd == "/opt/ls/bin/landscape"
    assert args == intended("1001-1002", context="/mnt/studio/sh010",
                            variants=["lighting", "night"], root="/mnt/studio", timeout="90")


@pytest.mark.parametrize("as_json", [False, True])
def test_the_serialised_template_decodes_to_the_same_data(as_json):
    from openjd.model import document_string_to_object, DocumentType

    data = template(context="/s/{{Param.Landscape}}/ünï code: [x] #y")
    text = dump(data, as_json=as_json)
    doc = document_string_to_object(document=text,
                                    document_type=DocumentType.JSON if as_json
                                    else DocumentType.YAML)
    assert doc == data
    assert tasks(doc)[0][1][-1] == "/s/{{Param.Landscape}}/ünï code: [x] #y"


@pytest.mark.parametrize("path", ["/s/\x85x", "/s/\u2028x", "/s/\u2029", "/s/\ufeffx", "/s/\tx\r"])
def test_line_breaks_yaml_would_reread_survive_the_yaml(path):
    data = template(context=path)
    assert yaml.safe_load(dump(data)) == data
    assert tasks(yaml.safe_load(dump(data)))[0][1][-1] == path


def test_a_context_path_holding_expressions_stays_literal():
    # a path is a parameter's value: substituted, never read as an expression
    path = "/studio/{{Param.Landscape}}/{{ Task.Param.Frames }}/sh010"
    _, args = tasks(template(context=path, root="/studio/{{x"))[0]
    assert args[-1] == path and "--root=/studio/{{x" in args


@pytest.mark.parametrize("tool, variants", [
    ("blender/{{Param.Landscape}}", []), ("blender/x}}", []), ("py\nthon", []),
    ("python/farm", ["{{Task.Param.Frames}}"]), ("python/farm", ["a\x85b"]), ("", []),
])
def test_names_that_would_become_expressions_are_refused(tool, variants):
    with pytest.raises(TemplateError, match="OpenJD"):
        template(tool=tool, variants=variants)


def test_too_many_chunks_or_none_are_one_line():
    with pytest.raises(TemplateError, match="larger --chunk"):
        template(chunks=chunks(parse(f"1-{MAX_CHUNKS + 1}"), 1), chunk=1)
    assert len(tasks(template(chunks=chunks(parse(f"1-{MAX_CHUNKS}"), 1), chunk=1))) \
        == MAX_CHUNKS
    with pytest.raises(TemplateError, match="no frames"):
        template(chunks=[])
    with pytest.raises(TemplateError, match="1024"):
        template(context="/" + "x" * 1024)


def test_the_job_name_drops_braces_and_control_characters():
    assert job_name("seq/{{sh}}\n010", "py/{{x}}") == "seq/sh010 py/x"
    assert job_name("", "{{}}") == "landscape render"
    assert len(job_name("x" * 500, "t")) == 128


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(min_size=1, max_size=60), tool=st.text(max_size=30),
       variant=st.text(max_size=30), root=st.one_of(st.none(), st.text(min_size=1)))
def test_arbitrary_names_are_refused_or_reach_the_argv_exactly(path, tool, variant, root):
    try:
        data = template(context=path, tool=tool, variants=[variant], root=root)
    except TemplateError as e:
        assert "\n" not in str(e).strip()
        return
    assert literal("tool", tool) == tool
    doc = yaml.safe_load(dump(data))
    assert doc == data and json.loads(dump(data, as_json=True)) == data
    got = tasks(doc)
    assert len(got) == 3
    for (cmd, args), frames in zip(got, ("1001-1002", "1003-1004", "1005")):
        assert cmd == "landscape"
        assert args == intended(frames, context=path, tool=tool, variants=[variant],
                                root=root)


# -- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("extra, words", [
    (["--emit", "deadline"], "--emit takes openjd"),
    (["--emit", "openjd", "--swarm"], "--swarm"),
    (["--emit", "openjd", "--resume"], "--emit and --resume"),
    (["--emit", "openjd", "--parallel", "2"], "--emit and --parallel"),
    (["--emit", "openjd", "--digest", DIGEST], "--emit and --digest"),
    (["--out", "job.yaml"], "--out goes with --emit"),
    (["--digest", "sha256:ABC"], "is not sha256:"),
    (["--digest", "latest"], "is not sha256:"),
    (["--parallel", "0"], "--parallel must be at least 1"),
    (["--retries", "-1"], "--retries must be 0 or more"),
    (["--timeout", "-1"], "--timeout must be a number of seconds above 0"),
    (["--timeout", "0"], "--timeout must be a number of seconds above 0"),
])
def test_usage_errors_exit_2_on_one_line(cli, tmp_path, extra, words):
    r = cli("render", str(tmp_path), "--tool", "python/farm", "--frames", "1-2", *extra)
    assert r.code == 2, r.err
    assert words in r.err and len(r.err.strip().splitlines()) == 1


def farm_shot(example):
    """Shot sh010 of the example with a context variant ``farm`` giving its python tool
    render keys."""
    shot = example / "projects/lighthouse/seq010/sh010"
    (shot / "landscape.farm.yaml").write_text(json.dumps({"tools": {"python": {
        "frames": ["-c", "pass", "{output}", "{frames}"],
        "outputs": "renders/frame_####.png", "verify": "exists"}}}))
    return shot


def test_emit_needs_the_studio_registry(cli, example):
    shot = farm_shot(example)
    r = cli("render", str(shot), "--tool", "python", "--variant", "farm", "--frames", "1-4",
            "--chunk", "2", "--emit", "openjd")
    assert r.code == 1, r.err
    assert "image.registry" in r.err and "Traceback" not in r.err
    assert r.out == ""


def test_digest_needs_the_studio_registry(cli, example):
    shot = farm_shot(example)
    r = cli("render", str(shot), "--tool", "python", "--variant", "farm", "--frames", "1-4",
            "--digest", DIGEST)
    assert r.code == 1, r.err
    assert "image.registry" in r.err and "--digest" in r.err


def test_hostile_variant_is_refused_before_anything_is_pushed(cli, example):
    shot = farm_shot(example)
    (shot / "landscape.{{Param.Landscape}}.yaml").write_text("metadata: {x: 1}\n")
    r = cli("render", str(shot), "--tool", "python", "--variant", "farm", "--frames", "1-4",
            "--variant", "{{Param.Landscape}}", "--emit", "openjd")
    assert r.code in (1, 2), r.err
    assert ("OpenJD" in r.err or "variant" in r.err) and "Traceback" not in r.err
