"""Property-based tests: arbitrary strings fed into every value that reaches a generated
artifact — the Dockerfile, image labels, the compose file, the container configuration,
``/etc/passwd`` — and into the parsers of config text. Each artifact must parse back to
exactly the intended structure, or the value must be refused with a Landscape error."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from landscape import grammar
from landscape.errors import LandscapeError, Location

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(min_size=0, max_size=40)
#: text biased towards the characters that break generated files
NASTY = st.text(alphabet=st.sampled_from(list("aZ09-_.:/=$\"'\\ \n\r\t{}[]#,&*!|>%@`;()<~") +
                                         ["\x00", "é", "\u2028"]), max_size=30)
ANY = st.one_of(TEXT, NASTY)

def instructions(dockerfile: str) -> list[str]:
    """The instruction keywords of a Dockerfile (comments dropped, continuations joined)."""
    logical, current = [], ""
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line
        if line.endswith("\\"):
            current = current[:-1]
            continue
        logical.append(current)
        current = ""
    return [line.split()[0] for line in logical]


@pytest.fixture(scope="module")
def spec_fields(tmp_path_factory):
    from conftest import EXAMPLE
    from landscape.context import resolve

    studio = tmp_path_factory.mktemp("props") / "studio"
    shutil.copytree(EXAMPLE, studio, ignore=shutil.ignore_patterns(".landscape", "work"))
    spec = resolve(studio / "projects/lighthouse/seq010/sh020").image
    return {k: getattr(spec, k) for k in ("project", "base", "system_packages", "rez_version",
                                          "packages", "tools", "repositories", "labels")}


@SETTINGS
@given(packages=st.lists(ANY, max_size=4), base=ANY, rez=ANY,
       labels=st.dictionaries(ANY, ANY, max_size=3))
@example(packages=["jq"], base="0", rez="0", labels={"a": "b\nLABEL x=1"})  # gets generated
def test_dockerfile_keeps_its_structure_or_refuses(spec_fields, packages, base, rez, labels):
    from landscape.imagekey import ImageSpec
    from landscape.recipe import image_labels, render_dockerfile

    fields = dict(spec_fields, system_packages=["python3", *packages], base=base,
                  rez_version=rez, labels=labels)
    try:
        spec = ImageSpec(**fields)
    except LandscapeError:
        return  # refused: nothing was generated
    assert all(grammar.is_debian_package(p) for p in packages)
    text = render_dockerfile(spec)
    kinds = instructions(text)
    # the structure of the example shot's own Dockerfile (one COPY per package layer)
    assert kinds == instructions(render_dockerfile(ImageSpec(**spec_fields))), text
    assert [line for line in text.splitlines() if line.startswith("FROM")] == [
        f"FROM {base} AS fetch", f"FROM {base}"]
    written = image_labels(spec)
    for key, value in labels.items():
        assert written[key] == value  # labels travel as data, unchanged
    for key in written:
        assert key not in text or key.startswith("io.landscape") is False


@SETTINGS
@given(data=st.recursive(ANY, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(ANY, children, max_size=3)), max_leaves=8))
def test_compose_values_round_trip_through_yaml(data):
    from landscape.engine.stack import escape_interpolation

    doc = {"version": "3.8", "services": {"s": {"image": "x", "environment": {"A": data},
                                                "command": [data] if isinstance(data, str)
                                                else ["x"]}}}
    escaped = escape_interpolation(doc)
    assert yaml.safe_load(yaml.safe_dump(escaped)) == escaped

    def unescape(v):
        if isinstance(v, str):
            return v.replace("$$", "$")
        if isinstance(v, dict):
            return {k: unescape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [unescape(x) for x in v]
        return v
    assert unescape(escaped) == doc

    def values(v):
        if isinstance(v, dict):
            return [x for item in v.values() for x in values(item)]
        if isinstance(v, list):
            return [x for item in v for x in values(item)]
        return [v]
    assert all("$" not in v.replace("$$", "") for v in values(escaped) if isinstance(v, str))


@SETTINGS
@given(values=st.dictionaries(st.sampled_from(["project", "project_dir", "root",
                                               "workspace_image", "user"]), ANY),
       port=st.one_of(st.integers(), ANY), bind=ANY)
def test_feature_fragments_substitute_values_not_text(values, port, bind):
    from landscape.features import load_feature, render_feature
    from landscape.nodes import from_plain
    from landscape.policy import Policy

    variables = {"project": "p", "root": "/r", "project_dir": "/r/p", "workspace_image": "i",
                 "uid": 1, "gid": 1, "user": "1:1", "storage": [], "storage_ro": []}
    variables.update(values)
    node = from_plain({"port": port, "bind": bind}, Location("/r/p/landscape.yaml", 1, 1))
    policy = Policy("/r", "/r/landscape.yaml", ("/r",), ("/r",), allowed_binds=(str(bind),))
    try:
        fragment = render_feature("dailies", node, variables, policy)
    except LandscapeError:
        return
    template = load_feature("dailies")
    template.pop("x-landscape")
    assert set(fragment["services"]["dailies"]) == set(template["services"]["dailies"])
    service = fragment["services"]["dailies"]
    assert service["command"][-1] == variables["project_dir"]
    assert service["image"] == variables["workspace_image"]
    assert service["ports"] == [f"{bind}:{port}:8080"]
    assert grammar.is_ip_address(bind) and isinstance(port, int)


@SETTINGS
@given(env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), ANY,
                           max_size=4),
       source=ANY, target=ANY, label=ANY, arg=ANY)
def test_container_configuration_carries_values_as_data(env, source, target, label, arg):
    from landscape.engine.launch import LaunchSpec, container_config

    spec = LaunchSpec(image="img", argv=["/landscape/bin/landscape-enter", "/w", "0", arg],
                      uid=1000, gid=1000, group_add=[], environment=env,
                      binds=[("/" + source.replace("\x00", ""), "/" + target.replace("\x00", ""),
                              "ro")], home="/home/a", labels={"io.landscape.context": label})
    try:
        config = container_config(spec, [])
    except LandscapeError:  # a NUL in a value cannot be carried: refused, never cut
        assert any("\x00" in v for v in env.values())
        return
    sent = json.loads(json.dumps(config))  # what the engine receives
    got_env = dict(item.partition("=")[::2] for item in sent["Env"])
    assert got_env == env
    assert sent["Cmd"] == spec.argv
    assert sent["Labels"] == {"io.landscape.context": label}
    mount = sent["HostConfig"]["Mounts"][0]
    assert mount["Source"] == spec.binds[0][0] and mount["Target"] == spec.binds[0][1]


@SETTINGS
@given(user=ANY, home=ANY)
def test_passwd_has_one_line_per_entry(user, home):
    from landscape.engine.launch import user_entries

    try:
        passwd, group = user_entries(1000, 1000, user, home, [1000])
    except ValueError:
        return
    lines = passwd.splitlines()
    assert len(lines) == 2 and all(len(line.split(":")) == 7 for line in lines)
    assert lines[1].split(":")[0] == user


@SETTINGS
@given(text=st.one_of(ANY, st.text(max_size=200)))
def test_config_text_parses_or_is_refused(text):
    from landscape.nodes import Node, load_text

    try:
        node = load_text(text, "/s/landscape.yaml")
    except LandscapeError as e:
        assert str(e)
        return
    assert node is None or isinstance(node, Node)


@SETTINGS
@given(text=ANY)
def test_templates_expand_or_are_refused(text):
    from landscape.templates import expand_template

    try:
        out = expand_template(text, {"root": "/r", "shot": "sh"}, {})
    except LandscapeError:
        return
    assert isinstance(out, str) and len(out) <= len(text) + 10 * text.count("{")


@SETTINGS
@given(text=ANY)
def test_grammar_tokens_cannot_leave_their_token(text):
    for check in (grammar.is_image_reference, grammar.is_debian_package, grammar.is_user_name):
        if check(text):
            assert not any(c.isspace() or c in "\"'\\$`;&|<>#\x00" for c in text), (check, text)
    if grammar.check_label_key(text) is None:
        assert grammar.LABEL_KEY.match(text) and not grammar.is_reserved_label(text)


@SETTINGS
@given(name=ANY, image=ANY, value=ANY)
def test_declared_services_serialise_to_the_intended_mapping(name, image, value):
    from landscape.nodes import from_plain
    from landscape.policy import Policy, service_checks

    policy = Policy("/r", "/r/landscape.yaml", ("/r",), ("/r",))
    node = from_plain({"image": image, "environment": {"V": value}, "command": [value],
                       "labels": {"com.example.x": value}}, Location("/r/p/landscape.yaml", 1, 1))
    svc, errors = service_checks(policy, name, node, "/r/p")
    assert not errors
    assert yaml.safe_load(yaml.safe_dump(svc)) == {"image": image, "environment": {"V": value},
                                                   "command": [value],
                                                   "labels": {"com.example.x": value}}


@SETTINGS
@given(pins=st.dictionaries(ANY, ANY, max_size=4), mirror=st.one_of(st.none(), ANY))
def test_build_arguments_are_grammar_checked_or_refused(spec_fields, pins, mirror):
    from landscape.engine.buildcontext import BuildOptions, build_args
    from landscape.imagekey import ImageSpec

    spec = ImageSpec(**spec_fields)
    try:
        args = build_args(spec, BuildOptions(pins=pins, apt_mirror=mirror))
    except LandscapeError:
        return
    for item in args["LANDSCAPE_OS_PACKAGES"].split():
        name, _, version = item.partition("=")
        assert grammar.is_debian_package(name) and grammar.is_debian_version(version)
    assert args["LANDSCAPE_APT_MIRROR"] == (mirror or "")
    assert not any(c in args["LANDSCAPE_APT_MIRROR"] for c in " \n\"'$`;")
