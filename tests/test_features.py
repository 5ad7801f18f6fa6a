"""The feature catalog's services that need more than the workspace image — ``postgresql``
and ``syncthing`` — as compose data: their own image built from the base, a state folder,
a named user, hardening, and options that stay values (no Docker)."""

from __future__ import annotations

import os
import stat

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape.cascade import build_cascade
from landscape.engine import stack as stackmod
from landscape.engine.stack import (NONROOT, STATE_TARGET, compose_document, feature_images,
                                    feature_user, prepare_feature_state, state_dir)
from landscape.errors import EngineError, LandscapeError
from landscape.features import feature_settings
from landscape.plan import make_plan

PROJECT = "schema: landscape/v1\nlevel: project\npackages: [studio_pipeline-1.1]\n"


def enable(example, features: str):
    proj = example / "projects/lighthouse"
    (proj / "landscape.yaml").write_text(PROJECT + features)
    return proj


def document(proj):
    plan = make_plan(proj, workers=1)
    cascade = build_cascade(proj, ())
    return compose_document(plan, cascade), cascade, plan


def test_catalog_settings():
    pg, st_ = feature_settings("postgresql"), feature_settings("syncthing")
    assert pg.system_packages == ("postgresql",) and pg.state and pg.user
    assert st_.system_packages == ("syncthing",) and st_.state and st_.user
    assert feature_settings("dailies").system_packages == ()


def test_features_run_on_images_of_their_own_hardened_with_state_and_a_user(example):
    proj = enable(example, "features:\n  postgresql: {port: 15432}\n"
                           "  syncthing: {gui_port: 18384, sync_port: 22900}\n"
                           "  dailies: {port: 18080}\n")
    doc, cascade, plan = document(proj)
    images = feature_images(cascade)
    workspace_tags = {im.spec.tag for im in plan.images.values()}
    uid, gid = feature_user()
    for name, port in (("postgresql", "127.0.0.1:15432:5432"), ("syncthing",
                                                                 "127.0.0.1:18384:8384")):
        svc = doc["services"][name]
        assert svc["image"] == images[name].tag and svc["image"] not in workspace_tags
        assert images[name].system_packages == [name] and images[name].packages == []
        assert port in svc["ports"]
        assert svc["user"] == f"{uid}:{gid}" and svc["read_only"] is True
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
        assert svc["labels"]["io.landscape.role"] == "feature"
        binds = {v["target"]: v for v in svc["volumes"]}
        assert binds[STATE_TARGET]["source"] == str(state_dir(cascade.root, "lighthouse",
                                                              name))
        assert binds["/etc/passwd"]["read_only"] and binds["/etc/group"]["read_only"]
    assert doc["services"]["dailies"]["image"] in workspace_tags  # the workspace serves it
    # syncthing also gets the project's storage, read-write, at the host's paths
    targets = [v["target"] for v in doc["services"]["syncthing"]["volumes"]]
    assert any(t.endswith("/projects") for t in targets)
    yaml.safe_dump(doc)  # plain data


def test_a_root_stack_runs_its_named_user_features_unprivileged(monkeypatch):
    monkeypatch.setattr(os, "getuid", lambda: 0)
    monkeypatch.setattr(os, "getgid", lambda: 0)
    assert feature_user() == (NONROOT, NONROOT)
    monkeypatch.setattr(os, "getuid", lambda: 1234)
    monkeypatch.setattr(os, "getgid", lambda: 99)
    assert feature_user() == (1234, 99)


def test_features_with_the_same_packages_share_an_image_and_the_base_counts(example):
    proj = enable(example, "features: {postgresql: {}}\n")
    _, cascade, _ = document(proj)
    one = feature_images(cascade)["postgresql"]
    again = feature_images(build_cascade(proj, ()))["postgresql"]
    assert one.key == again.key
    (proj / "landscape.yaml").write_text(PROJECT + "image: {base: 'debian:bookworm'}\n"
                                         "features: {postgresql: {}}\n")
    other = feature_images(build_cascade(proj, ()))["postgresql"]
    assert other.key != one.key and other.base == "debian:bookworm"


def test_state_folders_and_passwords_are_made_once_and_private(example):
    proj = enable(example, "features: {postgresql: {}, syncthing: {}}\n")
    _, cascade, _ = document(proj)
    made = prepare_feature_state(cascade)
    assert sorted(p.name for p in made) == ["postgresql", "syncthing"]
    for d in made:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        pw = d / "password"
        assert stat.S_IMODE(pw.stat().st_mode) == 0o600 and len(pw.read_text()) >= 24
    before = (made[0] / "password").read_text()
    prepare_feature_state(cascade)
    assert (made[0] / "password").read_text() == before  # never regenerated
    passwd = (stackmod.stack_dir(cascade.root, "lighthouse") / "etc/passwd").read_text()
    uid, gid = feature_user()
    assert f":x:{uid}:{gid}:" in passwd and f":{STATE_TARGET}:" in passwd


def test_a_symlink_planted_as_a_state_folder_is_refused(example, tmp_path):
    proj = enable(example, "features: {postgresql: {}}\n")
    _, cascade, _ = document(proj)
    d = state_dir(cascade.root, "lighthouse", "postgresql")
    d.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    d.symlink_to(elsewhere)
    with pytest.raises(EngineError, match="not a folder of the stack"):
        prepare_feature_state(cascade)
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_planted_as_the_password_is_not_followed(example, tmp_path):
    proj = enable(example, "features: {postgresql: {}}\n")
    _, cascade, _ = document(proj)
    d = state_dir(cascade.root, "lighthouse", "postgresql")
    d.mkdir(parents=True)
    target = tmp_path / "victim"
    target.write_text("keep")
    (d / "password").symlink_to(target)
    prepare_feature_state(cascade)  # an existing entry is left alone, never written through
    assert target.read_text() == "keep"


@pytest.mark.parametrize("options, words", [
    ("{user: 'x; DROP TABLE'}", "not a valid value"),
    ("{database: 'a\"b'}", "not a valid value"),
    ("{port: 0}", "minimum"),
    ("{bind: 0.0.0.0}", "allowed_binds"),
    ("{color: red}", "color"),
])
def test_bad_options_name_file_line_and_key(example, options, words):
    proj = enable(example, f"features:\n  postgresql: {options}\n")
    with pytest.raises(LandscapeError) as e:
        document(proj)
    text = str(e.value)
    assert words in text and "landscape.yaml:" in text


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=40))
def test_any_option_text_is_refused_or_stays_a_value(example, text):
    proj = enable(example, "features:\n  postgresql: " + yaml.safe_dump(
        {"user": text, "database": "db"}, default_flow_style=True))
    try:
        doc, _, _ = document(proj)
    except LandscapeError:
        return
    svc = doc["services"]["postgresql"]
    assert svc["environment"]["PGUSER"] == text.replace("$", "$$")
    from landscape.features import load_feature

    script = load_feature("postgresql")["services"]["postgresql"]["command"]
    assert svc["command"] == [part.replace("$", "$$") for part in script]  # the catalog's own
