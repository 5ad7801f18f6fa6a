"""A shot folder without its own ``landscape.yaml``, launched in a real container: its
sequence's ``child_level: shot`` gives it its level and the ``work`` template's working
directory (docs/config.md, Levels and templates)."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import landscape_exe

pytestmark = pytest.mark.docker


def test_a_new_shot_folder_launches(built):
    studio, _ = built
    shot = studio / "projects/lighthouse/seq010/sh099"
    shot.mkdir()
    try:
        r = subprocess.run(
            [*landscape_exe(), "launch", str(shot), "--tool", "python", "--", "-c",
             "import json, os; print(json.dumps([os.getcwd(), os.environ['LANDSCAPE_SHOT'], "
             "json.load(open(os.environ['LANDSCAPE_CONTEXT_FILE']))['levels']]))"],
            capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        cwd, shot_name, levels = json.loads(r.stdout.strip().splitlines()[-1])
        assert cwd == str(shot / "work" / "python") and shot_name == "sh099"
        assert levels == {"project": "lighthouse", "sequence": "seq010", "shot": "sh099"}
        # the same launch again comes from the resolve cache (the fast path): the same answer
        again = subprocess.run(r.args, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0 and again.stdout == r.stdout, again.stderr
    finally:
        subprocess.run(["rm", "-rf", str(shot)])
