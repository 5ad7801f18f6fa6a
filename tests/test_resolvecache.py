"""The resolve cache: an unchanged context is read back; any changed input gives a fresh
resolve; a corrupt, foreign or unwritable cache is never trusted and never fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import landscape
from landscape import resolvecache, rezsolve
from landscape.context import resolve
from landscape.launchinputs import LaunchInputs

from conftest import REPO, package

SH020 = "projects/lighthouse/seq010/sh020"


def cached(ctx: Path, tool: str = "blender", time_: str | None = None) -> tuple[dict, bool]:
    """``(resolve --json answer, whether a fresh resolve ran)`` through the cache."""
    ran = []

    def make() -> dict:
        ran.append(True)
        rezsolve.clear_caches()  # an in-process resolve must see the disk as it is now
        rc = resolve(ctx, tool=tool, time=time_)
        return {"json": rc.to_json(), "launch": rc.launch_inputs().to_record()}

    req = resolvecache.request("resolve", ctx, tool=tool, time=time_)
    return resolvecache.resolved(req, "json", make), bool(ran)


def _later(path: Path, text: str) -> None:
    """Rewrite ``path`` so its stat surely differs (coarse file-system clocks)."""
    time.sleep(0.01)
    path.write_text(text)


def test_an_unchanged_context_is_read_back_identical(example):
    first, ran = cached(example / SH020)
    assert ran
    again, ran = cached(example / SH020)
    assert not ran and again == first
    rezsolve.clear_caches()
    assert resolve(example / SH020, tool="blender").to_json() == again


def edit_shot(root: Path) -> None:
    f = root / SH020 / "landscape.yaml"
    _later(f, f.read_text().replace("packages: [studio_pipeline-1.0]",
                                    "packages: [studio_pipeline-1.1]"))


def add_intermediate_file(root: Path) -> None:
    (root / "projects/landscape.yaml").write_text("schema: landscape/v1\nenv: {LEVEL: all}\n")


def release_package(root: Path) -> None:
    package(root / "packages", "studio_pipeline", "1.0.5", requires=("python-3.11",))


def edit_definition(root: Path) -> None:
    f = root / "packages/blender/3.4.1/package.py"
    _later(f, f.read_text() + "\n# edited\n")


def edit_payload(root: Path) -> None:
    f = next((root / "packages/studio_pipeline/1.0.0/python").rglob("*.py"))
    _later(f, f.read_text() + "\n# edited\n")


def edit_manifest(root: Path) -> None:
    f = root / "manifests/vfx2024.yaml"
    _later(f, f.read_text().replace('"2024"', '"2025"'))


def bump_version(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landscape, "__version__", landscape.__version__ + ".post1")


@pytest.mark.parametrize("change", [edit_shot, add_intermediate_file, release_package,
                                    edit_definition, edit_payload, edit_manifest,
                                    bump_version])
def test_every_kind_of_input_gives_a_fresh_resolve(example, change, monkeypatch):
    before, _ = cached(example / SH020)
    assert not cached(example / SH020)[1]
    if change is bump_version:
        change(example, monkeypatch)
    else:
        change(example)
    after, ran = cached(example / SH020)
    assert ran, f"{change.__name__}: the cache answered"
    if change is not bump_version:
        assert after != before


def test_time_is_part_of_the_request_and_a_relative_time_is_never_kept(example):
    cached(example / SH020)
    assert cached(example / SH020, time_="2030-01-01")[1]
    assert not cached(example / SH020, time_="2030-01-01")[1]
    assert cached(example / SH020, time_="-1d")[1]
    assert cached(example / SH020, time_="-1d")[1]  # moves with the clock: never cached


def test_a_host_variable_and_a_symlink_target_are_inputs(example, tmp_path, monkeypatch):
    store_a, store_b = tmp_path / "a", tmp_path / "b"
    store_a.mkdir()
    store_b.mkdir()
    link = tmp_path / "store"
    link.symlink_to(store_a)
    root = example / "landscape.yaml"
    root.write_text(root.read_text().replace(
        "storage:\n  - source: projects\n",
        "storage:\n  - source: projects\n  - source: ${LS_TEST_STORE}\n    target: /store\n"))
    monkeypatch.setenv("LS_TEST_STORE", str(link))
    first, _ = cached(example / SH020)
    assert {"source": str(store_a), "target": "/store", "mode": "rw"} in first["storage"]
    link.unlink()
    link.symlink_to(store_b)
    second, ran = cached(example / SH020)
    assert ran and {"source": str(store_b), "target": "/store", "mode": "rw"} in \
        second["storage"]
    monkeypatch.setenv("LS_TEST_STORE", str(store_a))
    assert cached(example / SH020)[1]


def _entry(ctx: Path) -> Path:
    req = resolvecache.request("resolve", ctx, tool="blender")
    return resolvecache._entry_path(resolvecache.request_key(req))


@pytest.mark.parametrize("garbage", ["", "{not json", "[]", '{"request": 1}',
                                     '{"request": null, "inputs": {}, "answers": {}}'])
def test_a_corrupt_entry_is_ignored_and_rewritten(example, garbage):
    first, _ = cached(example / SH020)
    _entry(example / SH020).write_text(garbage)
    again, ran = cached(example / SH020)
    assert ran and again == first
    assert not cached(example / SH020)[1]


def test_a_foreign_entry_is_never_trusted(example):
    """Another request's entry copied over this one's (or a forged answer with stale inputs)."""
    cached(example / SH020)
    other = example / "projects/lighthouse/seq010/sh010"
    cached(other)
    _entry(example / SH020).write_text(_entry(other).read_text())
    again, ran = cached(example / SH020)
    assert ran and again["context"] == str(example / SH020)
    entry = json.loads(_entry(example / SH020).read_text())
    entry["answers"]["json"]["env"]["PLANTED"] = "yes"
    entry["inputs"]["paths"][str(example / SH020 / "landscape.yaml")] = "0" * 64
    _entry(example / SH020).write_text(json.dumps(entry))
    third, ran = cached(example / SH020)
    assert ran and "PLANTED" not in third["env"]


def test_launch_inputs_read_back_equal(example):
    rc = resolve(example / SH020, tool="blender/render")
    inputs = rc.launch_inputs()
    back = LaunchInputs.from_record(json.loads(json.dumps(inputs.to_record())))
    assert back.to_record() == inputs.to_record()
    assert back.image.key == rc.image.key and back.image.tag == rc.image.tag


def test_an_unwritable_cache_warns_once_and_resolves(example, tmp_path, monkeypatch, cli):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(resolvecache, "_warned", False)
    a = cli("resolve", example / SH020, "--tool", "blender", "--json")
    b = cli("resolve", example / "projects/lighthouse/seq010/sh010", "--json")
    assert a.code == 0 and b.code == 0, (a, b)
    assert json.loads(a.out)["tool"] == "blender"
    warnings = (a.err + b.err).count("the resolve cache is off")
    assert warnings == 1, a.err + b.err


def test_a_cached_resolve_does_not_import_rez(example, tmp_path):
    """The whole command, twice, in fresh processes: the second never imports rez."""
    env = {**os.environ, "LANDSCAPE_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO / "src")}
    probe = ("import sys\nfrom landscape.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write('REZ=%s' % ('rez' in sys.modules))\n")
    args = [sys.executable, "-c", probe, "resolve", str(example / SH020), "--tool", "blender",
            "--json"]
    first = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    second = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert "REZ=True" in first.stderr
    assert "REZ=False" in second.stderr, second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)


def test_env_extras_are_part_of_the_request(example):
    """`--env X=1` then `--env X=2` (or none): three requests, three answers."""
    from landscape.context import Extras

    seen = []
    for env in (["X=1"], ["X=2"], []):
        req = resolvecache.request("launch", example / SH020, tool="python", env=env)
        inputs = resolvecache.launch_inputs(req, lambda env=env: resolve(
            example / SH020, tool="python", extras=Extras((), env)))
        seen.append(inputs.env.get("X"))
    assert seen == ["1", "2", None]


def test_an_entry_others_may_write_is_never_trusted(example):
    first, _ = cached(example / SH020)
    entry = _entry(example / SH020)
    entry.chmod(0o666)
    assert cached(example / SH020)[1]  # resolved again, and rewritten as the user's own
    assert entry.stat().st_mode & 0o777 == 0o600
    assert not cached(example / SH020)[1]
    entry.parent.chmod(0o777)
    try:
        assert cached(example / SH020)[1]
    finally:
        entry.parent.chmod(0o755)


def test_a_parent_redirect_target_that_goes_away_gives_a_fresh_resolve(example):
    """The folder a ``parent:`` leads to is an input: once it is gone, the cached answer
    is not used and the fresh resolve reports the missing folder."""
    target = example / "projects/lighthouse/seq010/elsewhere"
    target.mkdir()
    shot = example / "projects/lighthouse/seq010/shx"
    shot.mkdir()
    (shot / "landscape.yaml").write_text("parent: ../elsewhere\nlevel: shot\n")
    _first, ran = cached(shot)
    assert ran
    _again, ran = cached(shot)
    assert not ran
    target.rmdir()
    from landscape.errors import LandscapeError

    with pytest.raises(LandscapeError, match="parent directory .* does not exist"):
        cached(shot)
