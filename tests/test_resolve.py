"""Resolving contexts with real rez solves against real package repositories (no Docker)."""

import json

import pytest

from conftest import package
from landscape.context import Extras, parse_time, resolve
from landscape.errors import LandscapeError, ResolveError

SH020 = "projects/lighthouse/seq010/sh020"
SH010 = "projects/lighthouse/seq010/sh010"


def test_example_shot_resolves_to_spec_section_4_shape(example):
    rc = resolve(example / SH020, tool="blender")
    data = json.loads(json.dumps(rc.to_json()))
    assert list(data) == ["context", "variants", "root", "levels", "files", "manifest", "tool",
                          "requests", "packages", "env", "metadata", "tools", "storage",
                          "workdir", "image"]
    assert data["levels"] == {"project": "lighthouse", "sequence": "seq010", "shot": "sh020"}
    assert data["manifest"] == "vfx2024" and data["tool"] == "blender"
    assert data["requests"] == ["python-3.11", "studio_pipeline-1.0", "blender-3.4"]
    versions = {p["name"]: p["version"] for p in data["packages"]}
    assert versions == {"python": "3.11", "studio_pipeline": "1.0.0", "blender": "3.4.1"}
    assert all(p["repository"] == str(example / "packages") for p in data["packages"])
    assert data["metadata"]["resolution"] == [640, 272]
    assert data["metadata"]["fps"] == 25
    assert data["env"]["LANDSCAPE_SHOT"] == "sh020"
    assert data["env"]["STUDIO_PIPELINE_VERSION"] == "1.0.0"
    assert data["env"]["BLENDER_USER_SCRIPTS"] == "/landscape/packages/studio_pipeline/1.0.0/blender"
    assert data["workdir"] == str(example / SH020 / "work/blender")
    assert data["storage"] == [{"source": str(example / "projects"),
                                "target": str(example / "projects"), "mode": "rw"}]
    assert data["image"]["key"].startswith("sha256:")
    assert data["image"]["tag"] == "landscape/lighthouse:" + data["image"]["key"][7:19]
    assert data["tools"]["blender"]["variants"] == ["render"]


def test_contexts_that_resolve_alike_share_an_image_key(example):
    keys = {s: resolve(example / f"projects/lighthouse/{s}").image.key
            for s in ("seq010/sh010", "seq020/sh030", "seq020/sh040", "assets/lamp")}
    assert len(set(keys.values())) == 1
    assert resolve(example / SH020).image.key not in keys.values()


def test_per_context_values_do_not_change_the_image_key(example):
    a = resolve(example / SH010, tool="blender")
    b = resolve(example / SH010, tool="python", variants=["lighting"])
    assert a.metadata != b.metadata
    assert a.image.key == b.image.key


def test_image_key_follows_package_payload_content(example):
    before = resolve(example / SH010).image.key
    import landscape.imagekey as ik

    script = example / "packages/studio_pipeline/1.1.0/python/studio_pipeline/__init__.py"
    script.write_text(script.read_text() + "\n# changed\n")
    ik._DIGESTS.clear()
    assert resolve(example / SH010).image.key != before


def test_unsolvable_request_fails_with_rezs_reason_naming_the_tool(example):
    (example / SH010 / "landscape.yaml").write_text("level: shot\npackages: [studio_pipeline-9]\n")
    with pytest.raises(ResolveError) as e:
        resolve(example / SH010, tool="python")
    msg = str(e.value)
    assert "studio_pipeline-9" in msg
    assert "landscape.yaml:2" in msg  # the request's origin


def test_unknown_package_family_is_a_resolve_error(example):
    with pytest.raises(ResolveError, match="nosuchpkg"):
        resolve(example / SH010, tool="python", extras=Extras(["nosuchpkg"]))


def test_command_line_extras(example):
    rc = resolve(example / SH010, tool="python", extras=Extras(["studio_pipeline-1.0"],
                                                                ["EXTRA=${STUDIO}-x"]))
    assert [p.qualified for p in rc.solution.packages if p.name == "studio_pipeline"] == \
        ["studio_pipeline-1.0.0"]
    assert rc.env["EXTRA"] == "example-x"


def test_time_excludes_packages_released_after_it(example):
    # studio_pipeline 1.1.0 has timestamp 1730000000, 1.0.0 has 1700000000
    (example / SH010 / "landscape.yaml").write_text("level: shot\npackages: [studio_pipeline]\n")
    assert {p.qualified for p in resolve(example / SH010).solution.packages} >= \
        {"studio_pipeline-1.1.0"}
    old = resolve(example / SH010, time="2024-01-01")
    assert "studio_pipeline-1.0.0" in {p.qualified for p in old.solution.packages}


def test_parse_time_forms():
    now = 1_800_000_000
    assert parse_time("1700000000") == 1700000000
    assert parse_time(1700000000) == 1700000000
    assert parse_time("-1d", now) == now - 86400
    assert parse_time("-6h", now) == now - 6 * 3600
    assert parse_time("-30m", now) == now - 1800
    assert parse_time("2024-01-01") == 1704067200
    assert parse_time("2024-01-01T12:00:00+02:00") == 1704103200
    assert parse_time(None) is None
    with pytest.raises(ValueError, match="relative time"):
        parse_time("yesterday")


def test_env_actions_apply_over_rezs_environment(studio):
    root = studio({
        "p/landscape.yaml": """
            level: project
            packages: [lib]
            env:
              PYTHONPATH: [/studio/python, "${PYTHONPATH}"]
              LIBVAR: !append extra
        """})
    package(root / "packages", "lib", "1.0", commands="""
        env.PYTHONPATH.prepend("{root}/python")
        env.LIBVAR = "base"
    """)
    rc = resolve(root / "p")
    assert rc.env["PYTHONPATH"] == "/studio/python:/landscape/packages/lib/1.0/python"
    assert rc.env["LIBVAR"] == "base:extra"
    assert rc.env["LANDSCAPE_PROJECT"] == "p"


#: A studio root that trusts the package.py files of repositories its project ``p`` adds.
TRUSTING_ROOT = """
    root: true
    rez: {packages_path: [packages]}
    policy: {trusted_repositories: [p]}
"""


def test_deeper_repository_is_searched_first(studio):
    root = studio({"landscape.yaml": TRUSTING_ROOT,
                   "p/landscape.yaml": "level: project\nrez: {packages_path: [pkgs]}\n"
                                       "packages: [tool]\n"})
    package(root / "packages", "tool", "1.0")
    package(root / "p/pkgs", "tool", "1.0", commands="env.FROM = 'project'")
    rc = resolve(root / "p")
    assert rc.solution.packages[0].repository == str(root / "p/pkgs")
    assert rc.env["FROM"] == "project"


def test_mount_of_docker_socket_needs_the_policy(studio):
    root = studio({"p/landscape.yaml": "storage: [{source: /var/run/docker.sock}]\n"})
    with pytest.raises(LandscapeError, match="is outside policy.allowed_mounts"):
        resolve(root / "p")


def test_workdir_is_none_when_the_template_needs_a_missing_level(example):
    rc = resolve(example / "projects/lighthouse", tool="blender")
    assert rc.workdir is None
    lamp = resolve(example / "projects/lighthouse/assets/lamp", tool="blender")
    assert lamp.workdir == str(example / "projects/lighthouse/assets/lamp/work/blender")


def test_explain_gives_origins(example):
    data = resolve(example / SH020, tool="blender").to_json(explain=True)
    req = {r["value"]: r["from"] for r in data["requests"]}
    assert req["studio_pipeline-1.0"] == f"{example / SH020}/landscape.yaml:5"
    assert data["metadata"]["resolution"]["from"] == f"{example / SH020}/landscape.yaml:7"
    assert data["env"]["PROJECT_CODE"]["actions"][0]["from"].endswith(
        "lighthouse/landscape.yaml:10")


def test_staging_and_dev_paths_are_searched_first_only_when_asked(studio):
    root = studio({"landscape.yaml": TRUSTING_ROOT, "p/landscape.yaml": """
        level: project
        packages: [tool]
        rez: {staging_path: [staging], dev_path: [dev]}
    """})
    package(root / "packages", "tool", "1.0", commands="env.FROM = 'released'")
    package(root / "p/staging", "tool", "1.0", commands="env.FROM = 'staging'")
    package(root / "p/dev", "tool", "1.0", commands="env.FROM = 'dev'")
    assert resolve(root / "p").env["FROM"] == "released"
    assert resolve(root / "p", staging=True).env["FROM"] == "staging"
    assert resolve(root / "p", staging=True, dev=True).env["FROM"] == "dev"


def test_relative_time_excludes_a_package_released_after_it(studio):
    import time as _time

    now = int(_time.time())
    root = studio({"p/landscape.yaml": "level: project\npackages: [tool]\n"})
    package(root / "packages", "tool", "1.0", timestamp=now - 10 * 86400)
    package(root / "packages", "tool", "2.0", timestamp=now - 3600)  # released an hour ago
    assert [p.version for p in resolve(root / "p").solution.packages] == ["2.0"]
    rc = resolve(root / "p", time="-1d")
    assert [p.version for p in rc.solution.packages] == ["1.0"]
    assert rc.timestamp is not None and now - 86400 - 5 <= rc.timestamp <= now - 86400 + 5
    assert rc.solution.rez_context.timestamp == rc.timestamp  # really passed to rez
