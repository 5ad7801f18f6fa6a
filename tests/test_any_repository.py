"""Landscape resolves exactly as rez does over rez repositories not written for Landscape.

The repositories are ``tests/data/anyrez`` (its README lists what each family exercises:
many conflicting versions, variants, ``package.yaml``, single-file families, ``@early`` and
``@late`` functions, unversioned packages, weak and conflict requests). For each request
list of :data:`CASES` the same requests are put in a context's ``landscape.yaml`` and go
through Landscape's real path (config files → cascade → ``landscape.context.resolve``, and
the CLI), and the answer is compared with ``rez.resolved_context.ResolvedContext`` on the
same requests and repositories: the same packages, versions and variants in the same
order, the same variables from the packages' ``commands``, or a failure on both sides —
Landscape's as one line, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, landscape_exe, remove_image
from landscape.context import Extras, resolve
from landscape.errors import LandscapeError, ResolveError

DATA = REPO / "tests" / "data" / "anyrez"

#: Request lists, each as one file's ``packages`` (comments there say what rez does).
CASES = yaml.safe_load((DATA / "cases.yaml").read_text())

#: Variables the repositories' ``commands`` set (no host paths in them).
PACKAGE_VARIABLES = ("LUMEN_FROM", "PYTHON_VERSION", "GEAR_VERSION", "WEAVE_TOOLS", "TINKER")


def case_id(requests: list[str]) -> str:
    return " ".join(requests)


@pytest.fixture(scope="module")
def anyrez(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of ``tests/data/anyrez`` (one per module: contexts are added to it)."""
    dest = tmp_path_factory.mktemp("anyrez") / "studio"
    shutil.copytree(DATA, dest, symlinks=True)
    return dest


def repositories(root: Path) -> list[str]:
    """The packages path the root file gives, in search order."""
    return [str(root / "repos/local"), str(root / "repos/central")]


def context_with(root: Path, requests: list[str], name: str | None = None) -> Path:
    """A context folder below ``root`` whose file requests ``requests`` (one list)."""
    folder = root / (name or "ctx-" + "".join(c if c.isalnum() else "_" for c in
                                               case_id(requests)))
    folder.mkdir(exist_ok=True)
    (folder / "landscape.yaml").write_text(yaml.safe_dump({"packages": requests}))
    return folder


def rez_answer(requests: list[str], paths: list[str]) -> tuple[bool, list[tuple], dict]:
    """rez's own answer: ``(success, [(name, version, variant index)], package variables)``;
    an exception counts as a failure, as ``rez-env`` would fail."""
    from rez.resolved_context import ResolvedContext

    try:
        ctx = ResolvedContext(requests, package_paths=paths, add_implicit_packages=False)
    except Exception:  # noqa: BLE001 - any failure of rez is a failure to compare
        return False, [], {}
    if not ctx.success:
        return False, [], {}
    packages = [(v.name, str(v.version), v.index) for v in ctx.resolved_packages]
    env = ctx.get_environ(parent_environ={"PATH": "/usr/bin:/bin"})
    return True, packages, {k: env[k] for k in PACKAGE_VARIABLES if k in env}


@pytest.mark.parametrize("requests", CASES, ids=case_id)
def test_landscape_resolves_as_rez_does(anyrez, requests):
    ok, packages, variables = rez_answer(requests, repositories(anyrez))
    ctx = context_with(anyrez, requests)
    if not ok:
        with pytest.raises(LandscapeError) as e:
            resolve(ctx)
        assert "\n" not in str(e.value)
        return
    rc = resolve(ctx)
    assert rc.selected.request_strings == requests  # every request of the file, in order
    assert [(p.name, p.version, p.variant) for p in rc.solution.packages] == packages
    assert {k: rc.env[k] for k in PACKAGE_VARIABLES if k in rc.env} == variables
    assert all(p.repository in repositories(anyrez) for p in rc.solution.packages)


@pytest.mark.parametrize("requests", CASES, ids=case_id)
def test_cli_resolve_answers_as_rez_does(anyrez, cli, requests):
    ok, packages, _ = rez_answer(requests, repositories(anyrez))
    r = cli("resolve", context_with(anyrez, requests), "--json")
    if ok:
        assert r.code == 0, r
        got = [(p["name"], p["version"], p["variant"]) for p in json.loads(r.out)["packages"]]
        assert got == packages
    else:
        assert r.code == 1, r
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.err
        assert "Traceback" not in r.err


def test_plan_of_the_whole_table_answers_as_rez_does(tmp_path):
    """``landscape.plan.make_plan`` over a project holding one context per request list:
    each context resolves (or fails) as rez does, and each image holds exactly the union of
    its contexts' packages."""
    from landscape.plan import make_plan

    studio = tmp_path / "studio"
    shutil.copytree(DATA, studio, symlinks=True)
    project = studio / "table"
    project.mkdir()
    (project / "landscape.yaml").write_text("level: project\n")
    expected = {}
    for i, requests in enumerate(CASES):
        expected[project / f"c{i:02}"] = rez_answer(requests, repositories(studio))
        context_with(project, requests, f"c{i:02}")
    plan = make_plan(project)
    by_path = {pc.path: pc for pc in plan.contexts if pc.path != project}
    assert set(by_path) == set(expected)
    alone = {}
    for path, (ok, packages, _) in expected.items():
        pc = by_path[path]
        assert (pc.image is not None) == ok, (path, pc.errors)
        if ok:  # the plan keeps the image; the context resolved alone gives the same key
            alone[path] = resolve(path)
            assert alone[path].image.key == pc.key
            assert [(p.name, p.version, p.variant)
                    for p in alone[path].solution.packages] == packages
        else:
            assert pc.errors and all("\n" not in str(e) for e in pc.errors)
    for image in plan.images.values():
        held = {(p.name, p.version, p.variant) for p in image.spec.packages}
        assert held == {(p.name, p.version, p.variant) for pc in image.contexts
                        for s in (alone.get(pc.path) or resolve(pc.path)).solutions.values()
                        for p in s.packages}


def test_exact_requests_pin_what_was_resolved(anyrez):
    """The image's tool setups are exact requests (``name==version``, ``nada==`` when
    unversioned): rez solving them again finds the very same packages and variants."""
    rc = resolve(context_with(anyrez, ["nada", "vapor", "gear", "prism", "lumen-2.1"]))
    exact = rc.image.tools[".context"]
    assert "nada==" in exact and "vapor==" in exact and "gear==1.1" in exact
    ok, packages, _ = rez_answer(exact, repositories(anyrez))
    assert ok and sorted(packages) == sorted(
        (p.name, p.version, p.variant) for p in rc.solution.packages)


def test_unversioned_and_single_file_packages_have_image_paths(anyrez):
    rc = resolve(context_with(anyrez, ["nada", "gear-2", "bolt"]))
    by_name = {p.name: p for p in rc.solution.packages}
    central = anyrez / "repos/central"
    assert (by_name["nada"].base, by_name["nada"].image_base) == (
        str(central / "nada"), "/landscape/packages/nada")
    assert rc.env["NADA_ROOT"] == "/landscape/packages/nada"
    assert rc.env["PYTHONPATH"].split(":")[0] == "/landscape/packages/nada/python"
    gear, bolt = by_name["gear"], by_name["bolt"]
    assert gear.single_file and gear.base == str(central / "gear.py")
    assert (gear.layout, gear.image_base) == ("gear.py", "/landscape/packages/gear.py")
    assert bolt.single_file and bolt.layout == "bolt.yaml"
    assert not by_name["python"].single_file
    assert by_name["python"].layout == "python/3.11.6"
    assert rc.env["GEAR_VERSION"] == "2.0"


# -- one file's requests are one list; names replace inherited entries ------------------------

def test_requests_of_one_file_are_all_kept_and_replace_inherited_ones(anyrez):
    parent = anyrez / "seq"
    parent.mkdir(exist_ok=True)
    (parent / "landscape.yaml").write_text("packages: [lumen-1, halo]\n")
    shot = context_with(parent, ["lumen-2", "!lumen-2.3"], "shot")
    rc = resolve(shot)
    assert rc.selected.request_strings == ["lumen-2", "!lumen-2.3", "halo"]
    assert {p.name: p.version for p in rc.solution.packages}["lumen"] == "2.2.0"
    deeper = context_with(shot, ["lumen-1.2"], "take")
    assert resolve(deeper).selected.request_strings == ["lumen-1.2", "halo"]


def test_a_tool_layer_keeps_all_its_requests_of_a_name(anyrez):
    root_file = anyrez / "landscape.yaml"
    saved = root_file.read_text()
    try:
        root_file.write_text(saved + "    variants:\n      plain:\n"
                             "        packages: [nada, '!nada']\n")
        ctx = context_with(anyrez, ["nada"], "tool-layer")
        with pytest.raises(ResolveError) as e:
            resolve(ctx, tool="py/plain")
        assert "(nada <--!--> !nada)" in str(e.value)
    finally:
        root_file.write_text(saved)


def test_command_line_requests_of_one_name_are_one_list(anyrez):
    ctx = context_with(anyrez, ["lumen"], "cli-extras")
    rc = resolve(ctx, extras=Extras(["python-3", "!python-3.12"]))
    assert rc.selected.request_strings == ["lumen", "python-3", "!python-3.12"]
    assert {p.name: p.version for p in rc.solution.packages} == {
        "python": "3.11.6", "halo": "2.4", "lumen": "2.3.0"}


def test_an_unquoted_conflict_request_is_a_clear_error(anyrez, cli):
    ctx = anyrez / "unquoted"
    ctx.mkdir()
    (ctx / "landscape.yaml").write_text("packages:\n  - python-3\n  - !python-3.12\n")
    r = cli("resolve", ctx)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r
    assert "landscape.yaml:3:5: packages[1]: unknown tag !python-3.12" in r.err
    assert "quote a rez conflict request: '!python-3.12'" in r.err


# -- failures: rez's behaviour, one line, no definition rez would not load ---------------------

@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A copy of the studio whose central repository gains definitions that misbehave."""
    dest = tmp_path / "studio"
    shutil.copytree(DATA, dest, symlinks=True)
    return dest


def _definition(repo: Path, name: str, version: str, body: str) -> Path:
    d = repo / name / version
    d.mkdir(parents=True)
    (d / "package.py").write_text(f'name = "{name}"\nversion = "{version}"\n{body}')
    return d / "package.py"


def test_a_failed_solve_loads_no_definition_rez_does_not_load(hostile, cli):
    """``hollow-1`` requires a missing family. rez loads hollow 1.0 only; Landscape's
    diagnosis of the failure must not load hollow 0.5 (whose body leaves a witness) nor
    hollow 0.4 (which does not even parse)."""
    central = hostile / "repos/central"
    witness = hostile / "loaded.txt"
    _definition(central, "hollow", "1.0", 'requires = ["nosuch"]\n')
    _definition(central, "hollow", "0.5", f"open({str(witness)!r}, 'w').close()\n")
    _definition(central, "hollow", "0.4", "this is not python(\n")
    ok, _, _ = rez_answer(["hollow-1"], repositories(hostile))
    assert not ok and not witness.exists()
    r = cli("resolve", context_with(hostile, ["hollow-1"]))
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r
    assert "package family not found: nosuch" in r.err and "Traceback" not in r.err
    assert not witness.exists()


def test_an_unloadable_definition_rez_skips_does_not_break_a_solve(hostile):
    """``lumen-2.0`` comes from the central repository; the local repository searched before
    it holds a lumen whose definition does not load. rez never needs it, nor may Landscape
    (its override scan reads earlier repositories)."""
    _definition(hostile / "repos/local", "lumen", "0.1", "raise RuntimeError('no')\n")
    ok, packages, _ = rez_answer(["lumen-2.0"], repositories(hostile))
    rc = resolve(context_with(hostile, ["lumen-2.0"]))
    assert ok and [(p.name, p.version, p.variant) for p in rc.solution.packages] == packages


@pytest.mark.parametrize("body, words", [
    ("@early()\ndef requires():\n    return ['python-' + str(1 / 0)]\n",
     "ZeroDivisionError: division by zero (raised in {file}:5, in requires)"),
    ("@late()\ndef requires():\n    return ['python-' + str(1 / 0)]\n",
     "SourceCodeExecError: Failed to execute <{file}:requires>: ZeroDivisionError"),
    ("requires = [\n", "ResourceError: Problem loading {file}"),
    ("def commands():\n    env.X = str(1 / 0)\n", "Error in commands in package '{file}"),
], ids=["early", "late", "syntax", "commands"])
def test_a_definition_whose_code_fails_is_a_one_line_error(hostile, cli, body, words):
    definition = _definition(hostile / "repos/central", "faulty", "1.0", body)
    r = cli("resolve", context_with(hostile, ["faulty"]))
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    assert words.format(file=definition) in r.err


def test_subprocess_resolve_of_a_failing_definition_prints_no_traceback(hostile):
    _definition(hostile / "repos/central", "faulty", "1.0",
                "@late()\ndef requires():\n    raise KeyError('x')\n")
    r = subprocess.run([*landscape_exe(), "resolve", str(context_with(hostile, ["faulty"]))],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- an image holding an unversioned package, a single-file family and unversioned variants --

@pytest.mark.docker
def test_image_with_unversioned_and_single_file_packages_bakes_and_launches(base_image, cli,
                                                                             tmp_path):
    """The build bakes the tool's exact requests (``nada==``, ``vapor==``, ``gear==2.0``)
    with rez inside the image and checks it finds what the host found; the launch imports
    the unversioned package's payload."""
    from landscape.engine.images import build_image

    studio = tmp_path / "studio"
    shutil.copytree(DATA, studio, symlinks=True)
    ctx = context_with(studio, ["python-3.11", "nada", "gear-2", "vapor"], "shot")
    rc = resolve(ctx, tool="py")
    assert sorted(rc.image.tools["py"]) == ["gear==2.0", "halo==2.6", "nada==",
                                            "python==3.11.6", "vapor=="]
    result = build_image(rc.image, log=lambda line: None)
    try:
        assert result.tag == rc.image.tag
        r = cli("launch", ctx, "--tool", "py", "--", "-c",
                "import os, nada; print(nada.WHERE, os.environ['GEAR_VERSION'], "
                "os.environ['NADA_ROOT'], os.environ['REZ_USED_RESOLVE'])")
        assert r.code == 0, r
        assert r.out.strip().splitlines()[-1].split(" ", 4) == [
            "an", "unversioned", "rez", "package", "2.0 /landscape/packages/nada "
            + " ".join(p.qualified for p in rc.solution.packages)]
    finally:  # built without a studio label: removed by its exact id
        remove_image(result.id)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), traceback_text=st.booleans())
def test_property_rez_words_are_one_line(text, traceback_text):
    """Whatever an exception raised in a definition says (a SourceCodeExecError embeds a
    whole traceback), Landscape's reason is one line starting with the exception's type."""
    from landscape.rezsolve import rez_words

    if traceback_text:
        text = f"Failed to execute <x>: Traceback (most recent call last):\n  {text}\nE: bad"
    words = rez_words(ValueError(text), ["/nonexistent"])
    assert words.startswith("ValueError") and "\n" not in words and "\r" not in words
