"""The command line for people who live in a terminal: shell completion, ``--debug`` after
the command, ``launch`` without ``--tool``, ``diff``'s exit codes, ``logs`` off a terminal,
a gui tool without a display, shot folders without a ``landscape.yaml`` (``child_level``),
and ``resolve --explain``'s provenance of levels, storage and metadata.

Every run goes through the real entry point (``cli`` fixture, or a subprocess where the
process itself matters: imports, the completion script in a real bash)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, write_tree
from landscape.cli import strip_debug
from landscape.cli.app import logs_options
from landscape.cli.complete import folder_choices, offerable, tool_choices

SEQ = "projects/lighthouse/seq010"
SH020 = f"{SEQ}/sh020"
#: folder names a hostile (or careless) studio may hold, that no completion may offer
HOSTILE = ["my shot", "new\nline", "$(touch pwned)", "a;b", "`id`", "q'uote", 'dq"',
           "tab\there", "-rf", "glob*", "pipe|x", "amp&x", "esc\x1b[31m", "col:on"]


def complete(cli, monkeypatch, words: str, *, env: dict[str, str] | None = None):
    """Ask the real entry point for bash completions of ``words`` (the line typed so far;
    a trailing space starts a new word), as the bash script does."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    monkeypatch.setenv("_LANDSCAPE_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(cword))
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    try:
        return cli()
    finally:
        for k in ("_LANDSCAPE_COMPLETE", "COMP_WORDS", "COMP_CWORD"):
            monkeypatch.delenv(k)


def lines(result) -> list[str]:
    assert result.code == 0 and "Traceback" not in result.err, result
    return [line for line in result.out.split("\n") if line]


# --- completion ----------------------------------------------------------------------------

def test_context_paths_complete_to_folders(example, cli, monkeypatch):
    monkeypatch.chdir(example)
    assert lines(complete(cli, monkeypatch, "landscape resolve pro")) == ["projects/"]
    assert lines(complete(cli, monkeypatch, f"landscape launch {SEQ}/sh")) == [
        f"{SEQ}/sh010/", f"{SEQ}/sh020/"]
    for command in ("lock", "images", "ci github", "prune", "build --root . --locked"):
        assert lines(complete(cli, monkeypatch, f"landscape {command} projects/l")) == [
            "projects/lighthouse/"], command
    (example / ".hidden").mkdir()
    (example / ".landscape").mkdir(exist_ok=True)
    assert lines(complete(cli, monkeypatch, "landscape plan ")) == [
        "manifests/", "packages/", "projects/"]  # no hidden folders, no .landscape
    assert lines(complete(cli, monkeypatch, "landscape plan .")) == [".hidden/"]


def test_context_paths_complete_from_the_studio_root(example, cli, monkeypatch, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    got = lines(complete(cli, monkeypatch, "landscape resolve projects/light",
                         env={"LANDSCAPE_ROOT": str(example)}))
    assert got == ["projects/lighthouse/"]
    got = lines(complete(cli, monkeypatch,
                         f"landscape resolve --root {example} projects/lighthouse/seq0"))
    assert got == ["projects/lighthouse/seq010/", "projects/lighthouse/seq020/"]


def test_tools_complete_with_their_variants(example, cli, monkeypatch):
    monkeypatch.chdir(example)
    assert lines(complete(cli, monkeypatch, f"landscape launch {SH020} --tool ")) == [
        "blender", "blender/render", "python"]
    assert lines(complete(cli, monkeypatch, f"landscape resolve {SH020} -t b")) == [
        "blender", "blender/render"]
    assert lines(complete(cli, monkeypatch,
                          f"landscape diff {SH020} {SEQ}/sh010 --tool p")) == ["python"]
    # the tools of the context with the variants given before --tool
    write_tree(example, {"projects/lighthouse/landscape.lighting.yaml": """
        tools: {nuke: {command: [nuke], variants: {x: {variants: {deep: {}}}}}}
    """})
    got = lines(complete(cli, monkeypatch,
                         f"landscape launch {SH020} --variant lighting --tool n"))
    assert got == ["nuke", "nuke/x", "nuke/x/deep"]


def test_variants_complete_to_the_variant_files_on_the_walk(example, cli, monkeypatch):
    monkeypatch.chdir(example)
    write_tree(example, {f"{SH020}/landscape.dev.yaml": "env: {A: b}\n"})
    assert lines(complete(cli, monkeypatch, f"landscape resolve {SH020} --variant ")) == [
        "dev", "lighting"]
    assert lines(complete(cli, monkeypatch, f"landscape resolve {SEQ}/sh010 --variant ")) == [
        "lighting"]


def test_a_broken_or_missing_context_completes_to_nothing(example, cli, monkeypatch,
                                                          tmp_path):
    monkeypatch.chdir(example)
    write_tree(example, {f"{SH020}/landscape.yaml": "tools: [unclosed\n"})
    assert lines(complete(cli, monkeypatch, f"landscape launch {SH020} --tool ")) == []
    assert lines(complete(cli, monkeypatch, f"landscape launch {tmp_path} --tool ")) == []
    assert lines(complete(cli, monkeypatch, f"landscape launch {tmp_path} --variant ")) == []
    assert lines(complete(cli, monkeypatch, "landscape resolve /nonexistent/x")) == []


def test_hostile_folder_names_are_left_out(example, cli, monkeypatch):
    monkeypatch.chdir(example)
    for name in HOSTILE:
        (example / SEQ / name).mkdir()
    got = lines(complete(cli, monkeypatch, f"landscape resolve {SEQ}/"))
    assert got == [f"{SEQ}/-rf/", f"{SEQ}/sh010/", f"{SEQ}/sh020/"]  # inside a path: a name
    (example / "-rf").mkdir()
    assert "-rf/" not in lines(complete(cli, monkeypatch, "landscape resolve -"))  # an option
    assert not (example / "pwned").exists()


def test_hostile_tool_names_break_nothing(studio, cli, monkeypatch):
    root = studio({"p/landscape.yaml": """
        tools:
          "a b": {command: [x]}
          "$(touch pwned)": {command: [x]}
          "x;y": {command: [x]}
          ok: {command: [x], variants: {"v w": {}, fine: {}}}
    """})
    monkeypatch.chdir(root)
    result = complete(cli, monkeypatch, "landscape launch p --tool ")
    assert lines(result) == []  # the file breaks the schema: the context has no tools
    assert not (root / "pwned").exists()
    launched = cli("launch", root / "p")
    assert launched.code == 2 and "Traceback" not in launched.err
    assert "p/landscape.yaml:" in launched.err and "launch needs a tool" in launched.err


def test_the_bash_script_round_trip(example, cli, monkeypatch, tmp_path):
    """The script ``--show-completion bash`` prints, sourced in a real bash: COMPREPLY holds
    exactly the offered words, hostile folders change nothing, a lone folder gets no space."""
    bash = shutil.which("bash")
    assert bash, "these tests need bash"
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = cli("--show-completion", "bash")
    assert script.code == 0 and "_LANDSCAPE_COMPLETE=complete_bash" in script.out, script
    (tmp_path / "complete.sh").write_text(script.out)
    for name in HOSTILE:
        (example / SEQ / name).mkdir()
    probe = (f'source {tmp_path / "complete.sh"}\n'
             'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))\n'
             '_landscape_completion landscape\n'
             'printf "<%s>\\n" "${COMPREPLY[@]}"\n'
             'compopt 2>/dev/null | grep -c nospace || true\n')
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}

    def run(*words: str) -> str:
        r = subprocess.run([bash, "-c", probe, "bash", *words], cwd=example, env=env,
                           capture_output=True, text=True, timeout=60)
        assert "Traceback" not in r.stderr, r.stderr
        return r.stdout

    assert run("landscape", "resolve", f"{SEQ}/").startswith(
        f"<{SEQ}/-rf/>\n<{SEQ}/sh010/>\n<{SEQ}/sh020/>\n")
    assert run("landscape", "launch", SH020, "--tool", "").startswith(
        "<blender>\n<blender/render>\n<python>\n")
    assert not (example / "pwned").exists()


def test_install_completion_writes_the_script(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = cli("--install-completion", "bash")
    assert result.code == 0, result
    written = list((tmp_path / ".bash_completions").glob("*"))
    assert len(written) == 1 and "_LANDSCAPE_COMPLETE" in written[0].read_text()
    assert str(written[0]) in (tmp_path / ".bashrc").read_text()


def test_completion_never_imports_rez_or_docker(example):
    """Completing a tool reads the cascade only: rez, the Docker SDK and Qt stay out."""
    env = {**os.environ, "_LANDSCAPE_COMPLETE": "complete_bash", "COMP_CWORD": "4",
           "COMP_WORDS": f"landscape launch {example / SH020} --tool "}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "landscape"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["blender", "blender/render", "python"]
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    for heavy in ("rez", "docker", "PySide6", "jinja2"):
        assert heavy not in imported, heavy


def test_help_never_imports_qt_or_rez():
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "landscape", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--install-completion" in r.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"PySide6", "rez", "docker", "yaml", "jinja2"}


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_offerable_words_are_shell_inert(text):
    if offerable(text):
        import shlex

        assert shlex.split(text) == [text] and not text.startswith("-")
        assert not set(text) & set(" \t\n\r'\"`$;|&<>()*?[]{}~!#\\:^")


@given(st.dictionaries(st.text(max_size=12), st.one_of(
    st.none(), st.text(max_size=5),
    st.fixed_dictionaries({"variants": st.dictionaries(st.text(max_size=8), st.none(),
                                                       max_size=4)})), max_size=6))
@settings(max_examples=200, deadline=None)
def test_tool_choices_offer_only_inert_words(tools):
    got = tool_choices(tools)
    assert all(offerable(t) for t in got)
    assert all(t.split("/")[0] in tools for t in got)


@given(st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_folder_choices_never_raise(tmp_path_factory, text):
    base = tmp_path_factory.getbasetemp() / "folders"
    for name in ("a", "a b", "ok.1"):
        (base / name).mkdir(parents=True, exist_ok=True)
    got = folder_choices(text, cwd=base)
    assert all(offerable(c) and c.endswith("/") for c in got)


# --- --debug after the command ---------------------------------------------------------------

def test_debug_after_the_command(studio, cli):
    root = studio({"shot/landscape.yaml": "packages: [nosuchpackage]\n"})
    plain = cli("resolve", root / "shot")
    before = cli("--debug", "resolve", root / "shot")
    after = cli("resolve", root / "shot", "--debug")
    assert plain.code == before.code == after.code == 1
    assert "Traceback" not in plain.err
    assert "Traceback" in before.err and "Traceback" in after.err
    os.environ.pop("LANDSCAPE_DEBUG", None)


def test_debug_after_dashdash_belongs_to_the_tool():
    assert strip_debug(["launch", "x", "--debug", "--tool", "t", "--", "--debug"]) == (
        ["launch", "x", "--tool", "t", "--", "--debug"], True)
    assert strip_debug(["launch", "x", "--", "--debug"]) == (
        ["launch", "x", "--", "--debug"], False)


# --- launch without --tool -------------------------------------------------------------------

def test_launch_without_a_tool_lists_the_tools(example, cli):
    result = cli("launch", example / SH020)
    assert result.code == 2 and "Traceback" not in result.err
    assert "launch needs a tool" in result.err
    assert "blender, blender/render, python" in result.err
    result = cli("launch", example / SH020, "--variant", "lighting")
    assert result.code == 2 and "blender/render" in result.err


def test_launch_without_a_tool_of_a_broken_context(example, cli):
    write_tree(example, {f"{SH020}/landscape.yaml": "level: shot\npackags: [x]\n"})
    result = cli("launch", example / SH020)
    assert result.code == 2 and "Traceback" not in result.err
    assert "sh020/landscape.yaml:2:1" in result.err and "packags" in result.err
    result = cli("launch", "/")  # no studio root above it
    assert result.code == 2 and "no studio root" in result.err


# --- diff ------------------------------------------------------------------------------------

def test_diff_exit_codes(example, cli):
    same = cli("diff", example / SEQ / "sh010", example / SEQ / "sh010")
    assert same.code == 0 and "no differences" in same.out, same
    differ = cli("diff", example / SEQ / "sh010", example / SH020)
    assert differ.code == 1 and "resolution" in differ.out, differ
    as_json = cli("diff", example / SEQ / "sh010", example / SH020, "--json")
    assert as_json.code == 1 and '"same": false' in as_json.out
    write_tree(example, {f"{SH020}/landscape.yaml": "packages: [nosuchpackage]\n"})
    trouble = cli("diff", example / SEQ / "sh010", example / SH020)
    assert trouble.code == 2 and "nosuchpackage" in trouble.err
    assert "Traceback" not in trouble.err


# --- logs ------------------------------------------------------------------------------------

class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_logs_options():
    assert logs_options(False, _Stream(True)) == []
    assert logs_options(True, _Stream(True)) == ["-f"]
    assert logs_options(False, _Stream(False)) == ["--no-color"]
    assert logs_options(True, None) == ["-f", "--no-color"]


def test_logs_off_a_terminal_asks_compose_for_no_colour(example, cli, monkeypatch, tmp_path):
    """``landscape logs`` runs Compose (here a stand-in ``docker`` that records its
    arguments) with ``--no-color`` when stdout is not a terminal."""
    from landscape.engine.stack import stack_dir

    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv"
    (bindir / "docker").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {record}\n')
    (bindir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    folder = stack_dir(example, "lighthouse")
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text("services: {}\n")
    result = cli("logs", example / "projects/lighthouse", "-f")
    assert result.code == 0, result
    argv = record.read_text().split("\n")
    assert argv[-5:-1] == ["-f", str(folder / "compose.yaml"), "logs", "-f"] or \
        "--no-color" in argv, argv
    assert argv[argv.index("logs"):argv.index("logs") + 3] == ["logs", "-f", "--no-color"]
    assert "--follow" in cli("logs", "--help").out


# --- a gui tool without a display ----------------------------------------------------------

def _gui_python(example):
    root = example / "landscape.yaml"
    root.write_text(root.read_text() + "policy: {allow_gui: true}\n")
    write_tree(example, {f"{SEQ}/sh010/landscape.yaml":
                         "level: shot\ntools: {python: {gui: true}}\n"})


@pytest.mark.parametrize("mode", [[], ["--warm"], ["--host"]])
def test_a_gui_tool_without_a_display_says_so_first(example, cli, monkeypatch, mode):
    _gui_python(example)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = cli("launch", example / SEQ / "sh010", "--tool", "python", *mode, "--", "-c",
                 "print('started')")
    assert result.code == 1 and "Traceback" not in result.err, result
    assert "started" not in result.out
    err = [line for line in result.err.splitlines()
           if not line.startswith("note: --host")]  # --host's own note comes first
    assert err == ["error: tool 'python' asks for a display (gui: true), but neither "
                   "DISPLAY nor WAYLAND_DISPLAY is set (launch it from a desktop session, "
                   "or with DISPLAY naming an X server)"], result.err


def test_a_wayland_name_without_its_socket_is_named(example, cli, monkeypatch, tmp_path):
    _gui_python(example)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-9")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    result = cli("launch", example / SEQ / "sh010", "--tool", "python")
    assert result.code == 1 and "WAYLAND_DISPLAY='wayland-9' is no socket" in result.err


# --- a shot folder without its own landscape.yaml ------------------------------------------

def test_a_shot_without_a_file_gets_its_level_from_child_level(example, cli):
    (example / SEQ / "sh099").mkdir()
    for shot in (example / SEQ / "sh099", example / SEQ / "sh098"):  # a folder, and none
        result = cli("resolve", shot, "--tool", "python", "--json")
        assert result.code == 0, result
        import json

        data = json.loads(result.out)
        assert data["levels"] == {"project": "lighthouse", "sequence": "seq010",
                                  "shot": shot.name}
        assert data["workdir"] == str(shot / "work" / "python")
        assert data["env"]["LANDSCAPE_SHOT"] == shot.name
    explained = cli("resolve", example / SEQ / "sh099", "--explain")
    assert "shot=sh099" in explained.out and "seq010/landscape.yaml:4" in explained.out


def test_a_level_of_its_own_wins_over_child_level(example, cli):
    write_tree(example, {f"{SEQ}/sh097/landscape.yaml": "level: asset\n"})
    import json

    data = json.loads(cli("resolve", example / SEQ / "sh097", "--json").out)
    assert data["levels"] == {"project": "lighthouse", "sequence": "seq010", "asset": "sh097"}
    deeper = json.loads(cli("resolve", example / SEQ / "sh099/comp", "--json").out)
    assert deeper["levels"]["shot"] == "sh099"  # the grandchild is no shot of its own


def test_without_child_level_resolve_says_why(example, cli):
    seq = example / SEQ / "landscape.yaml"
    seq.write_text(seq.read_text().replace("child_level: shot", ""))
    result = cli("resolve", example / SEQ / "sh099", "--tool", "python")
    assert result.code == 0, result
    assert "sh099 has no landscape.yaml of its own" in result.out
    assert "child_level" in result.out and "shot" in result.out
    refused = cli("launch", example / SEQ / "sh099", "--tool", "python")
    assert refused.code == 1 and "child_level: shot" in refused.err


def test_check_knows_child_level_fields(studio, cli):
    root = studio({"p/landscape.yaml": "level: project\nchild_level: take\n"
                   "templates: {w: '{root}/{take}'}\n"})
    assert cli("check", root).code == 0


# --- resolve --explain: levels, storage, metadata ------------------------------------------

def test_explain_shows_where_metadata_and_storage_come_from(example, cli):
    write_tree(example, {f"{SH020}/landscape.yaml": """
        level: shot
        metadata:
          note: "[red]x[/red] \\e]52;c;AAAA\\a"
          render: {samples: 64}
    """})
    result = cli("resolve", example / SH020, "--explain")
    assert result.code == 0, result
    out = result.out
    line = next(x for x in out.splitlines() if "render.samples" in x)
    assert "64" in line and "sh020/landscape.yaml:4" in line
    line = next(x for x in out.splitlines() if "render.engine" in x)
    assert "studio/landscape.yaml:" in line  # inherited from the studio root
    line = next(x for x in out.splitlines() if x.strip().startswith("note:"))
    assert "[red]x[/red]" in line and "\x1b]52" not in out and "\\u001b]52" in line
    assert "sh020/landscape.yaml:3" in line
    line = next(x for x in out.splitlines() if "/projects (rw)" in x)
    assert "studio/landscape.yaml:" in line
    plain = cli("resolve", example / SH020).out
    assert "render.samples" not in plain and '"samples": 64' in plain


def test_help_lists_completion_and_debug(cli):
    out = cli("--help").out
    assert "--install-completion" in out and "--show-completion" in out


@pytest.fixture(autouse=True)
def _no_debug_leak():
    yield
    os.environ.pop("LANDSCAPE_DEBUG", None)


REPO_EXAMPLE = REPO / "examples" / "studio"
