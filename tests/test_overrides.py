"""Override packages (SPEC §2.8) with three real repositories and real rez solves."""

import json

import pytest

from conftest import package
from landscape.context import resolve
from landscape.errors import ResolveError

OVERRIDE_STUDIO = {
    "landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        packages: [maya]
    """,
    "proj/landscape.yaml": "level: project\nrez: {packages_path: [packages]}\n",
    "proj/shot/landscape.yaml": "level: shot\nrez: {packages_path: [packages]}\n",
}


def override(repo, name, requires=(), commands=""):
    """An unversioned override package ``repo/name/package.py``."""
    d = repo / name
    d.mkdir(parents=True, exist_ok=True)
    body = [f'name = "{name}"', "override = True", f"requires = {list(requires)!r}"]
    if commands:
        body.append("def commands():\n" + "\n".join("    " + c for c in commands.splitlines()))
    (d / "package.py").write_text("\n".join(body) + "\n")
    (d / "payload.txt").write_text(f"payload of {repo.parent.name}\n")
    return d


@pytest.fixture
def three_repos(studio):
    root = studio(OVERRIDE_STUDIO)
    studio_repo, project_repo, shot_repo = (root / "packages", root / "proj/packages",
                                            root / "proj/shot/packages")
    package(studio_repo, "maya", "2023.1", commands="env.MAYA_STACK = 'maya-2023.1'")
    package(studio_repo, "maya", "2024.2", commands="""
        env.MAYA_STACK = 'maya-2024.2'
        env.MAYA_LOCATION = '{root}'
    """)
    package(studio_repo, "studio_shelf", "1.0")
    package(studio_repo, "mgear", "4.2")
    override(project_repo, "maya", ["studio_shelf"],
             "env.MAYA_STACK.append('project')\nenv.PROJECT_PAYLOAD = '{root}/payload.txt'")
    override(shot_repo, "maya", ["mgear-4"],
             "env.MAYA_STACK.append('shot')\nenv.MAYA_ENABLE_LEGACY_VIEWPORT = '1'")
    return root


def test_overrides_stack_onto_the_first_real_match(three_repos):
    rc = resolve(three_repos / "proj/shot")
    names = {p.name: p.version for p in rc.solution.packages}
    assert names["maya"] == "2024.2"  # the first non-override match, with its version rules
    assert names["studio_shelf"] == "1.0" and names["mgear"] == "4.2"  # overrides' requires
    # commands: the real package's first, then each override, the deepest repository last
    assert rc.env["MAYA_STACK"] == "maya-2024.2:project:shot"
    assert rc.env["MAYA_ENABLE_LEGACY_VIEWPORT"] == "1"
    assert rc.env["MAYA_LOCATION"] == "/landscape/packages/maya/2024.2"
    layers = rc.solution.overrides["maya"]
    assert [l.repository for l in layers] == [str(three_repos / "proj/packages"),
                                              str(three_repos / "proj/shot/packages")]
    # {root} of an override points at its own (copied) payload
    companion = next(p for p in rc.solution.packages if p.name == layers[0].companion)
    assert rc.env["PROJECT_PAYLOAD"] == f"{companion.image_base}/payload.txt"
    assert (open(f"{companion.base}/payload.txt").read() == "payload of proj\n")


def test_override_follows_the_version_rules_of_the_request(three_repos):
    (three_repos / "proj/shot/landscape.yaml").write_text(
        "level: shot\nrez: {packages_path: [packages]}\npackages: [maya-2023]\n")
    rc = resolve(three_repos / "proj/shot")
    assert rc.env["MAYA_STACK"] == "maya-2023.1:project:shot"


def test_only_the_project_override_applies_at_the_project(three_repos):
    rc = resolve(three_repos / "proj")
    assert rc.env["MAYA_STACK"] == "maya-2024.2:project"
    assert "mgear" not in {p.name for p in rc.solution.packages}


def test_without_override_packages_rez_first_match_is_unchanged(studio):
    root = studio({"p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [tool]\n"})
    package(root / "packages", "tool", "1.0", commands="env.FROM = 'studio'")
    package(root / "p/pkgs", "tool", "1.0", commands="env.FROM = 'project'")
    rc = resolve(root / "p")
    assert rc.env["FROM"] == "project"  # first match wins, as in rez
    assert rc.solution.overrides == {}


def test_override_without_a_real_package_is_a_clear_error(studio):
    root = studio({"p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [lonely]\n"})
    override(root / "p/pkgs", "lonely")
    with pytest.raises(ResolveError, match="lonely: only override packages were found"):
        resolve(root / "p")


def test_versioned_override_that_shadows_a_real_package_is_refused(studio):
    root = studio({"p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [tool]\n"})
    package(root / "packages", "tool", "1.0")
    package(root / "p/pkgs", "tool", "1.0", extra="override = True")
    with pytest.raises(ResolveError, match="would hide it from rez; give the override no version"):
        resolve(root / "p")


def test_explain_shows_the_override_stack(three_repos, cli):
    r = cli("resolve", three_repos / "proj/shot", "--json", "--explain")
    assert r.code == 0, r
    stack = json.loads(r.out)["overrides"]["maya"]
    assert stack["base"] == {"version": "2024.2", "repository": str(three_repos / "packages")}
    assert [layer["repository"] for layer in stack["stack"]] == [
        str(three_repos / "proj/packages"), str(three_repos / "proj/shot/packages")]
    assert stack["stack"][1]["requires"] == ["mgear-4"]
    text = cli("resolve", three_repos / "proj/shot", "--explain").out
    assert "maya 2024.2 + overrides from" in text and "(deepest last)" in text
