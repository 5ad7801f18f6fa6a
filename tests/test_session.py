"""Launch orchestration shared by the CLI and the launcher (landscape.engine.session), without
Docker: the launch inputs from a real resolve, the equivalent command line parsing back to
the same request, and what run_launch hands the engine layer."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.engine import session
from landscape.engine.session import equivalent_command
from landscape.cli.fast import LaunchArgs, parse_launch
from test_fast_launch import typer_parse

SH010 = "projects/lighthouse/seq010/sh010"


@pytest.fixture(autouse=True)
def _no_root_from_the_environment(monkeypatch):
    monkeypatch.delenv("LANDSCAPE_ROOT", raising=False)


def test_launch_inputs_are_the_resolved_contexts(example):
    inputs = session.launch_inputs("launch", example / SH010, "python", [], None)
    rc = session.fresh_resolve(example / SH010, "python", [], None)
    assert inputs.tool == "python" and inputs.image.key == rc.image.key
    assert inputs.context == str(example / SH010)
    again = session.launch_inputs("launch", example / SH010, "python", [], None)  # cached
    assert again.to_record() == inputs.to_record()
    lit = session.launch_inputs("launch", example / SH010, "blender/render", ["lighting"], None)
    assert lit.tool == "blender/render" and lit.context_json["variants"] == ["lighting"]


def test_equivalent_command_examples():
    assert equivalent_command(Path("/s/p/sh010"), "blender", "render", ["lighting"],
                              ["-f", "1 2"], Path("/s")) == (
        "landscape launch /s/p/sh010 --tool blender/render --variant lighting --root /s "
        "-- -f '1 2'")
    assert equivalent_command("/s/sh", "python", None) == "landscape launch /s/sh --tool python"
    assert equivalent_command("/s/sh", "python", "") == "landscape launch /s/sh --tool python"
    hostile = equivalent_command("/s/$(rm -rf ~)/`x`;y", "py", None, args=["; echo hi"])
    assert shlex.split(hostile)[2] == "/s/$(rm -rf ~)/`x`;y"
    assert shlex.split(hostile)[-1] == "; echo hi"
    assert equivalent_command("-odd", "-t", "-v", ["-w"]) == (
        "landscape launch ./-odd --tool=-t/-v --variant=-w")


#: what a command line can hold: any text but NUL (and lone surrogates, which Typer's
#: ``--root`` cannot take: it fails on them whatever the line)
WORD = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=8)


@settings(max_examples=500, deadline=None)
@given(context=WORD, tool=WORD.filter(lambda t: "/" not in t), variant=st.none() | WORD,
       variants=st.lists(WORD, max_size=3), args=st.lists(WORD | st.just("--"), max_size=4),
       root=st.none() | WORD)
def test_the_equivalent_command_parses_back_to_the_same_request(context, tool, variant,
                                                                 variants, args, root):
    line = equivalent_command(context, tool, variant, variants, args, root)
    words = shlex.split(line)
    assert words[:2] == ["landscape", "launch"]
    expected = LaunchArgs(context=Path(context), tool=f"{tool}/{variant}" if variant else tool,
                          variant=list(variants), root=Path(root) if root else None,
                          args=list(args))
    assert typer_parse(words[2:]) == expected
    fast = parse_launch(words[2:])
    assert fast is None or fast == expected


ANY = st.text(min_size=1, max_size=10)


@settings(max_examples=500, deadline=None)
@given(context=ANY, tool=ANY, variant=st.none() | ANY, variants=st.lists(ANY, max_size=3),
       args=st.lists(ANY, max_size=4), root=st.none() | ANY)
def test_any_text_stays_one_word_of_the_command_line(context, tool, variant, variants, args,
                                                     root):
    words = shlex.split(equivalent_command(context, tool, variant, variants, args, root))
    full = f"{tool}/{variant}" if variant else tool
    assert words[2] in (context, "./" + context)
    assert words[3:5] == ["--tool", full] or words[3] == f"--tool={full}"
    if args:
        assert words[-len(args) - 1:] == ["--", *args]
    assert len(words) == 2 + 1 + (2 - full.startswith("-")) \
        + sum(2 - v.startswith("-") for v in variants) \
        + (0 if root is None else 2 - root.startswith("-")) + (len(args) + 1 if args else 0)


def test_run_launch_hands_output_started_and_warnings_on(example, monkeypatch):
    from landscape.engine import launch

    inputs = session.launch_inputs("launch", example / SH010, "python", [], None)
    spec = launch.launch_spec(inputs, ["-c", "pass"])
    spec.image = "sha256:" + "0" * 64
    spec.warnings = ["no GPU here"]
    seen: dict = {}

    def run(spec_, out=None, err=None, *, tty=False, stdin=False, started=None):
        seen.update(spec=spec_, out=out, err=err, tty=tty, stdin=stdin, started=started)
        started("c0ffee")
        out(b"hello\n")
        return 3

    monkeypatch.setattr(launch, "run", run)
    got: list = []
    code = session.run_launch(inputs, spec, False, tty=False, stdin=False,
                              out=lambda b: got.append(("out", b)),
                              err=lambda b: got.append(("err", b)),
                              started=lambda c: got.append(("started", c)),
                              warn=lambda t: got.append(("warn", t)))
    assert code == 3
    assert got == [("warn", "no GPU here"), ("started", "c0ffee"), ("out", b"hello\n")]
    assert seen["spec"] is spec and (seen["tty"], seen["stdin"]) == (False, False)


def test_run_launch_warns_on_stderr_by_default(example, monkeypatch, capsys):
    from landscape.engine import launch

    inputs = session.launch_inputs("launch", example / SH010, "python", [], None)
    spec = launch.launch_spec(inputs, [])
    spec.warnings = ["no GPU here"]
    monkeypatch.setattr(launch, "run", lambda *a, **k: 0)
    assert session.run_launch(inputs, spec, False, tty=False, stdin=False) == 0
    assert capsys.readouterr().err == "warning: no GPU here\n"


def test_one_line():
    from landscape.errors import ErrorGroup, LandscapeError

    err = ErrorGroup([LandscapeError("a"), LandscapeError("b\nc")])
    assert session.one_line(err) == "a; b; c"
    assert len(session.one_line(LandscapeError("x" * 900))) == 500


def _modules_after(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                        "print('\\n'.join(sorted(sys.modules)))"],
                       capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def test_the_command_line_never_imports_qt():
    loaded = _modules_after("import sys\nfrom landscape.cli import main\n"
                            "sys.argv = ['landscape', '--help']\n"
                            "try:\n    main()\nexcept SystemExit:\n    pass")
    assert "typer" in loaded  # the help was built
    assert not any(m.split(".")[0] in ("PySide6", "shiboken6") for m in loaded)


def test_the_fast_path_and_the_session_stay_light_to_import():
    loaded = _modules_after("import landscape.cli.fast, landscape.engine.session")
    heavy = ("typer", "rich", "rez", "yaml", "docker", "jinja2", "PySide6", "jsonschema")
    assert not [m for m in loaded if m.split(".")[0] in heavy]
