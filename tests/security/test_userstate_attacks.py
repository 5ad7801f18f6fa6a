"""Attacks on the user's state at launch (docs/security.md): a file below the studio root
cannot set the root's launch settings or secrets, nor make a launch read a host file such
as /etc/shadow into a container; hostile project and tool names cannot lead a persistent
home out of its root; a link or another user's folder planted in a shared home root or
audit folder is never used."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks import plant, refused
from landscape import grammar
from landscape.context import resolve
from landscape.engine import audit, home as homes, secrets as sec
from landscape.engine.launch import launch_spec
from landscape.errors import LandscapeError
from landscape.userstate import UserState
from test_userstate import SH010, add_to_root, secret, tool_secrets

def test_launch_keys_and_top_level_secrets_are_the_roots_alone(example, cli):
    plant(example, f"{SH010}/landscape.yaml", """
        level: shot
        launch: {home: host, audit: /tmp}
        secrets: {TOKEN: {from_env: GITHUB_TOKEN}}
    """)
    err = refused(cli("check", example))
    assert "sh010/landscape.yaml:2:1: launch: launch may only be set in the studio root" in err
    assert "sh010/landscape.yaml:3:1: secrets: secrets may only be declared in the studio " \
           "root's landscape.yaml" in err


@pytest.mark.parametrize("entry", ["{from_file: /etc/shadow}", "{from_file: ~/.ssh/id_rsa}",
                                   "{from_env: AWS_SECRET_ACCESS_KEY}",
                                   "{from_env: GITHUB_TOKEN, as: file}"])
def test_a_file_below_the_root_declares_no_secret(example, cli, entry):
    """A shot file could otherwise pick any variable or readable file of the user's and
    hand it to a command it sets: a tool's, or a variant's, secrets below the root are
    refused at their line, and the context is not launched."""
    plant(example, f"{SH010}/landscape.yaml", f"""
        level: shot
        tools:
          python:
            variants:
              v: {{secrets: {{S: {entry}}}}}
    """)
    refused(cli("check", example), "sh010/landscape.yaml:5:", "tools.python.variants.v."
            "secrets: secrets may only be declared in the studio root's landscape.yaml")
    refused(cli("resolve", example / SH010, "--tool", "python/v", "--json"),
            "secrets may only be declared")


def test_secret_rules_and_types_are_checked(example, cli):
    original = (example / "landscape.yaml").read_text()
    tool_secrets(example, "      both: {from_env: X, from_file: ~/x}\n"
                 "      mode: {from_env: X, as: volume}\n      \"a-b\": {from_env: X}\n")
    err = refused(cli("check", example))
    assert "tools.python.secrets.both: a secret needs exactly one of from_env and from_file" \
        in err
    assert "tools.python.secrets.mode.as: must be one of 'env', 'file'" in err
    assert "invalid name 'a-b'" in err
    (example / "landscape.yaml").write_text(original)
    add_to_root(example, "secrets: {HOME: {from_env: X}}\n")
    refused(cli("check", example), "secrets.HOME: HOME is the launching user's "
            "own and cannot be a secret")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_any_name_is_one_safe_component(name):
    part = grammar.folder_name(name)
    assert part not in (".", "..") and "/" not in part and "\0" not in part
    assert part.isprintable() and 0 < len(part) <= 64
    assert (part == name) == bool(grammar.FOLDER_NAME.fullmatch(name))


@pytest.mark.parametrize("project,tool", [("..", "python"), ("a/../../../etc", ".."),
                                          ("lighthouse", "../../../../tmp/x"), ("x\ny", "/"),
                                          ("p" * 300, "t" * 300), (".", "~")])
def test_hostile_project_and_tool_names_stay_below_the_home_root(tmp_path, project, tool):
    state = UserState(home_root=str(tmp_path / "homes"))
    (tmp_path / "homes").mkdir()
    folder = homes.persistent_folder(state, "artist", project, tool)
    homes.prepare_home(state, str(folder), "artist", project, tool)
    assert folder.is_dir() and folder.parent.parent.parent == tmp_path / "homes"
    assert os.path.realpath(folder).startswith(str(tmp_path / "homes") + "/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["homes"]


def test_a_planted_link_or_another_users_folder_in_a_shared_home_root_is_refused(tmp_path):
    shared = tmp_path / "homes"
    shared.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (shared / "artist").symlink_to(tmp_path / "elsewhere")
    state = UserState(home_root=str(shared))
    folder = homes.persistent_folder(state, "artist", "lighthouse", "python")
    with pytest.raises(LandscapeError, match="is not a folder"):
        homes.prepare_home(state, str(folder), "artist", "lighthouse", "python")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    if os.getuid() == 0:
        (shared / "artist").unlink()
        (shared / "artist").mkdir()
        os.chown(shared / "artist", 4321, 4321)
        with pytest.raises(LandscapeError, match="belongs to another user"):
            homes.prepare_home(state, str(folder), "artist", "lighthouse", "python")


def test_a_home_root_over_trusted_config_is_refused(example):
    add_to_root(example, "launch: {home_root: packages}\n")
    with pytest.raises(LandscapeError, match="trusted config or code"):
        launch_spec(resolve(example / SH010, tool="python"), [])


def test_a_fifo_or_a_huge_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(LandscapeError, match="not a regular file"):
        sec.read_secrets([secret("~/fifo")], {})
    (tmp_path / "big").write_bytes(b"x" * (sec.MAX_SIZE + 1))
    with pytest.raises(LandscapeError, match="larger than"):
        sec.read_secrets([secret("~/big")], {})
    (tmp_path / "bin").write_bytes(b"\xff\x00")
    with pytest.raises(LandscapeError, match="NUL"):
        sec.read_secrets([secret("~/bin")], {})
    assert sec.read_secrets([secret("~/bin", as_file=True)], {}).files["S"] == b"\xff\x00"


def test_another_users_file_or_a_link_is_never_appended_to(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    now = time.time()
    target = folder / audit.file_name(now, "artist", "ws1")
    target.symlink_to(tmp_path / "victim")
    with pytest.raises(OSError):
        audit.open_file(str(folder), now, "artist", "ws1")
    assert not (tmp_path / "victim").exists()
    if os.getuid() == 0:
        target.unlink()
        target.write_text("")
        os.chown(target, 4321, 4321)
        with pytest.raises(OSError, match="another user"):
            audit.open_file(str(folder), now, "artist", "ws1")


