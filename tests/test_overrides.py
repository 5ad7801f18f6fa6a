"""Override packages (docs/config.md) with three real repositories and real rez solves.

The studio repository is the root's (package.py, trusted); the project and shot
repositories are added by deeper files inside ``policy.allowed_repositories``, so they hold
declarative package.yaml definitions, as a studio's shot folders would."""

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
        policy: {allowed_repositories: [proj]}
    """,
    "proj/landscape.yaml": "level: project\nrez: {packages_path: [packages]}\n",
    "proj/shot/landscape.yaml": "level: shot\nrez: {packages_path: [packages]}\n",
}


def override(repo, name, requires=(), commands=""):
    """An unversioned, declarative override package ``repo/name/package.yaml``."""
    d = package(repo, name, "", requires=tuple(requires), commands=commands, yaml=True,
                override=True)
    (d / "payload.txt").write_text(f"payload of {repo.parent.name}\n")
    return d


#: A studio root letting its project ``p`` add declarative repositories.
ALLOWING_ROOT = """
    root: true
    rez: {packages_path: [packages]}
    policy: {allowed_repositories: [p]}
"""


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
    assert [layer.repository for layer in layers] == [str(three_repos / "proj/packages"),
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
    root = studio({"landscape.yaml": ALLOWING_ROOT,
                   "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [tool]\n"})
    package(root / "packages", "tool", "1.0", commands="env.FROM = 'studio'")
    package(root / "p/pkgs", "tool", "1.0", commands="env.FROM = 'project'", yaml=True)
    rc = resolve(root / "p")
    assert rc.env["FROM"] == "project"  # first match wins, as in rez
    assert rc.solution.overrides == {}


def test_override_without_a_real_package_is_a_clear_error(studio):
    root = studio({"landscape.yaml": ALLOWING_ROOT, "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [lonely]\n"})
    override(root / "p/pkgs", "lonely")
    with pytest.raises(ResolveError, match="lonely: only override packages were found"):
        resolve(root / "p")


def test_versioned_override_that_shadows_a_real_package_is_refused(studio):
    root = studio({"landscape.yaml": ALLOWING_ROOT,
                   "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [tool]\n"})
    package(root / "packages", "tool", "1.0")
    package(root / "p/pkgs", "tool", "1.0", yaml=True, override=True)
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


def test_override_over_a_repository_reached_through_a_symlink(studio, tmp_path):
    root = studio({"landscape.yaml": ALLOWING_ROOT, "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [maya]\n"})
    real = tmp_path / "real-repo"
    package(real, "maya", "2024.2", commands="env.MAYA_STACK = 'maya'")
    (root / "packages").rename(tmp_path / "unused")
    (root / "packages").symlink_to(real)
    override(root / "p/pkgs", "maya", (), "env.MAYA_STACK.append('proj')")
    assert resolve(root / "p").env["MAYA_STACK"] == "maya:proj"


def test_override_only_family_pulled_in_as_a_dependency_is_a_clear_error(studio):
    root = studio({"landscape.yaml": ALLOWING_ROOT, "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [app]\n"})
    package(root / "packages", "app", "1.0", requires=("lonely",))
    override(root / "p/pkgs", "lonely")
    with pytest.raises(ResolveError, match="lonely: only override packages were found"):
        resolve(root / "p")


def test_weak_request_of_an_override_only_family_does_not_hide_the_real_error(studio):
    root = studio({"landscape.yaml": ALLOWING_ROOT, "p/landscape.yaml": "rez: {packages_path: [pkgs]}\n"
                                       "packages: ['~lonely', nosuch]\n"})
    override(root / "p/pkgs", "lonely")
    with pytest.raises(ResolveError) as e:
        resolve(root / "p")
    assert "nosuch" in str(e.value) and "only override" not in str(e.value)


def test_a_conflict_from_an_overrides_requires_names_the_override(three_repos):
    (three_repos / "proj/shot/landscape.yaml").write_text(
        "level: shot\nrez: {packages_path: [packages]}\npackages: [mgear-3]\n")
    package(three_repos / "packages", "mgear", "3.0")
    with pytest.raises(ResolveError) as e:
        resolve(three_repos / "proj/shot")
    assert "with the override packages maya from" in str(e.value)
    assert str(three_repos / "proj/shot/packages/maya/package.yaml") in str(e.value)


def test_env_actions_name_the_override_package(three_repos):
    data = resolve(three_repos / "proj/shot").to_json(explain=True)
    origins = [a["from"] for a in data["env"]["MAYA_STACK"]["actions"]]
    assert origins == ["package maya-2024.2",
                       f"override package {three_repos}/proj/packages/maya/package.yaml",
                       f"override package {three_repos}/proj/shot/packages/maya/package.yaml"]


def test_clear_caches_sees_an_override_removed_in_a_running_process(three_repos):
    import shutil

    from landscape.rezsolve import clear_caches

    assert resolve(three_repos / "proj").env["MAYA_STACK"] == "maya-2024.2:project"
    shutil.rmtree(three_repos / "proj/packages/maya")
    clear_caches()
    assert resolve(three_repos / "proj").env["MAYA_STACK"] == "maya-2024.2"


def test_package_py_overrides_work_in_a_repository_the_root_trusts(studio):
    root = studio({"landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        policy: {trusted_repositories: [p]}
    """, "p/landscape.yaml": "rez: {packages_path: [pkgs]}\npackages: [maya]\n"})
    package(root / "packages", "maya", "2024.2", commands="env.MAYA_STACK = 'maya'")
    package(root / "p/pkgs", "maya", "", override=True,
            commands="env.MAYA_STACK.append('trusted')")
    assert resolve(root / "p").env["MAYA_STACK"] == "maya:trusted"
