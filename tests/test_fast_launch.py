"""The fast path of ``landscape launch`` (no Docker): its small argument parser agrees with
the Typer application on every command line it accepts, and gives back everything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.cli.fast import LaunchArgs, parse_launch

TOKENS = ["--tool", "-t", "--variant", "--add", "-a", "--env", "--root", "--warm", "--host",
          "--dev", "--",
          "--tool=blender", "--variant=night", "--root=/studio", "-tblender", "-t=x",
          "--help", "-h", "--bogus", "--warm=1", "-", "", "blender", "blender/render",
          "shot", "sh010", "-c", "pass", "X=1", "-x", "--debug", "/abs/path", "a b",
          "--env=Y=2", "--add=maya-2024", "--tool=", "ä", "-f", "1"]


def typer_parse(args: list[str]) -> LaunchArgs | None:
    """What the Typer application makes of ``launch ARGS`` (``None``: a usage error), in
    the fast parser's shape."""
    import click
    import typer.main

    from landscape.cli.app import app

    command = typer.main.get_command(app).commands["launch"]
    try:
        ctx = command.make_context("launch", list(args), resilient_parsing=False)
    except (click.exceptions.ClickException, click.exceptions.Exit):
        return None
    p = ctx.params
    if not p["tool"]:
        return None
    # Typer turns the raw values into the command's types (Path) when it calls it
    return LaunchArgs(context=Path(p["context"]), tool=p["tool"], variant=list(p["variant"]),
                      add=list(p["add"]), env=list(p["env"]), warm=p["warm"], dev=p["dev"],
                      root=Path(p["root"]) if p["root"] is not None else None,
                      args=list(p["args"] or []), host=p["host"])


@pytest.fixture(scope="module", autouse=True)
def _no_root_from_the_environment():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("LANDSCAPE_ROOT", raising=False)
        yield


#: what a command line can hold: any text but NUL (argv items are C strings)
ARGV_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | ARGV_TEXT, max_size=9))
def test_the_fast_parser_agrees_with_typer_or_gives_back(args):
    fast = parse_launch(args)
    if fast is not None:
        assert fast == typer_parse(args), args


@pytest.mark.parametrize("args", [
    ["shot", "--tool", "blender"],
    ["--tool=blender/render", "shot", "--", "-f", "1"],
    ["-t", "py", "--warm", "--dev", "shot", "--variant", "a", "--variant", "b", "--env", "X=1",
     "--add", "maya-2024", "-a", "nuke", "--root", "/s", "extra", "--", "--tool", "x"],
    ["shot", "--host", "-t", "py", "--", "-c", "pass"],
])
def test_plain_command_lines_take_the_fast_path(args):
    assert parse_launch(args) is not None
    assert parse_launch(args) == typer_parse(args)


@pytest.mark.parametrize("args", [
    ["shot"], ["--tool", "blender"], ["shot", "--help"], ["shot", "--tool", "-x"],
    ["shot", "-tblender"], ["shot", "--tool", "a", "--tool", "b"], ["shot", "--bogus"],
    ["shot", "--tool", "py", "-c", "pass"], ["", "--tool", "py"], ["shot", "--tool="],
    ["shot", "--tool", "py", "--warm", "--host"],
])
def test_anything_unusual_is_given_back(args):
    assert parse_launch(args) is None


def test_the_root_comes_from_the_environment_as_in_typer(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_ROOT", "/studio")
    args = ["shot", "--tool", "py"]
    assert parse_launch(args).root == Path("/studio") == typer_parse(args).root
    args = [*args, "--root", "/other"]
    assert parse_launch(args).root == Path("/other") == typer_parse(args).root
