"""Every merge strategy of the table, with and without each merge tag (docs/config.md)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.errors import ConfigError
from landscape.merge import CONFIG_STRATEGIES, Local, merge_maps, request_name
from landscape.nodes import load_text
from landscape.schema import CONFIG_SCHEMA


def cascade(*docs: str) -> dict:
    """Merge YAML documents in order (root first) with the config table; plain result."""
    values: dict = {}
    errors: list = []
    for i, doc in enumerate(docs):
        node = load_text(doc, f"/s/{'d/' * i}landscape.yaml")
        values = merge_maps(values, node, CONFIG_STRATEGIES, errors)
    if errors:
        raise errors[0]
    return {k: v.plain() for k, v in values.items()}


def test_every_schema_key_has_a_strategy():
    assert set(CONFIG_SCHEMA["properties"]) == set(CONFIG_STRATEGIES)


@pytest.mark.parametrize("req,name", [("maya-2024+<2025", "maya"), ("~maya", "maya"),
                                      ("!maya", "maya"), ("maya", "maya"),
                                      ("python==3.11", "python"), ("usd_core-24", "usd_core")])
def test_request_name(req, name):
    assert request_name(req) == name


# -- replace ------------------------------------------------------------------------------

def test_scalar_replaces():
    assert cascade("manifest: a", "manifest: b")["manifest"] == "b"


def test_remove_drops_a_replaced_key():
    assert "manifest" not in cascade("manifest: a", "manifest: !remove")


# -- packages: by name, in place -----------------------------------------------------------

def test_packages_replace_by_name_in_place_and_append_others():
    r = cascade("packages: [python-3.10, maya-2024, usd-23]",
                "packages: [python-3.10.2, nuke-15]")
    assert r["packages"] == ["python-3.10.2", "maya-2024", "usd-23", "nuke-15"]


def test_weak_and_conflict_requests_replace_by_name():
    r = cascade("packages: [python-3.10, maya-2024]", "packages: ['~python-3.11', '!maya']")
    assert r["packages"] == ["~python-3.11", "!maya"]


def test_packages_remove_by_name():
    r = cascade("packages: [python-3.10, maya-2024, usd]", "packages: !remove [maya]")
    assert r["packages"] == ["python-3.10", "usd"]


def test_packages_prepend_append_and_replace():
    base = "packages: [a-1, b-1]"
    assert cascade(base, "packages: !prepend [c-1, b-2]")["packages"] == ["c-1", "b-2", "a-1"]
    assert cascade(base, "packages: !append [a-2]")["packages"] == ["b-1", "a-2"]
    assert cascade(base, "packages: !replace [z-1]")["packages"] == ["z-1"]


def test_requests_of_one_name_in_one_file_are_all_kept():
    """rez reads one request list as a whole: a range and an exclusion of one family, or a
    request and its conflict, are both passed on (rez merges or reports them)."""
    r = cascade("packages: [python-2.6, usd, '!python-2.6.8', nada, '!nada']")
    assert r["packages"] == ["python-2.6", "usd", "!python-2.6.8", "nada", "!nada"]


def test_a_deeper_files_requests_of_a_name_replace_all_inherited_ones_in_place():
    r = cascade("packages: [a-1, python-2.6, '!python-2.6.8', b-1]",
                "packages: [c, '~python-2.7', b-2, python-2.7.1+]")
    assert r["packages"] == ["a-1", "~python-2.7", "python-2.7.1+", "b-2", "c"]


def test_requests_of_one_name_move_together_with_prepend_and_append():
    base = "packages: [a-1, b-1, b-2]"
    assert cascade(base, "packages: !prepend [b-3, '!b-3.1']")["packages"] == [
        "b-3", "!b-3.1", "a-1"]
    assert cascade(base, "packages: !append [a-2, '!a-2.1']")["packages"] == [
        "b-1", "b-2", "a-2", "!a-2.1"]
    assert cascade(base, "packages: !remove [b]")["packages"] == ["a-1"]


def test_storage_keeps_the_last_mount_of_a_target_within_a_file():
    r = cascade("storage: [{source: /a, target: /t}, {source: /b, target: /t}]")
    assert [m["source"] for m in r["storage"]] == ["/b"]


_NAMES = st.sampled_from(["a", "b", "c", "py", "usd_core"])
_REQUESTS = st.lists(st.tuples(st.sampled_from(["", "~", "!"]), _NAMES,
                               st.sampled_from(["", "-1", "-2+<3", "==1.0"])
                               ).map("".join), max_size=6)


@settings(max_examples=200, deadline=None)
@given(inherited=_REQUESTS, own=_REQUESTS)
def test_property_own_requests_all_kept_inherited_replaced_by_name(inherited, own):
    import yaml

    docs = [f"packages: {yaml.safe_dump(inherited, default_flow_style=True).strip()}",
            f"packages: {yaml.safe_dump(own, default_flow_style=True).strip()}"]
    merged = cascade(*docs)["packages"]
    names = {request_name(r) for r in own}
    kept = [r for r in inherited if request_name(r) not in names]
    assert sorted(merged) == sorted(own + kept)  # every own request, no replaced one
    assert [r for r in merged if request_name(r) not in names] == kept
    for name in names:  # one name's requests keep the file's order
        assert [r for r in merged if request_name(r) == name] == [
            r for r in own if request_name(r) == name]
    fresh = [r for r in own if request_name(r) not in {request_name(x) for x in inherited}]
    assert merged[len(merged) - len(fresh):] == fresh  # new names last, in the file's order
    if not inherited:
        assert merged == own


def test_unset_on_packages_is_an_error_with_location():
    with pytest.raises(ConfigError) as e:
        cascade("packages: [a]", "packages: !unset [a]")
    assert "/s/d/landscape.yaml:1:11" in str(e.value)
    assert "packages" in str(e.value) and "!unset" in str(e.value)


# -- env -----------------------------------------------------------------------------------

def env_ops(r: dict, var: str) -> list:
    return r["env"][var]


def test_env_set_drops_earlier_actions_and_prepend_append_accumulate():
    r = cascade("env: {A: x, P: /a}", "env: {A: y, P: !prepend /b}", "env: {P: !append /c}")
    assert env_ops(r, "A") == ["y"]
    assert env_ops(r, "P") == ["/a", "/b", "/c"]


def test_env_unset_and_remove():
    from landscape.tools import env_actions

    values, errors = {}, []
    for i, doc in enumerate(["env: {A: x, B: y}", "env: {A: !unset , B: !remove }"]):
        values = merge_maps(values, load_text(doc, f"/s/{i}.yaml"), CONFIG_STRATEGIES, errors)
    assert [(a.var, a.op) for a in env_actions(values["env"])] == [("A", "unset")]


def test_env_replace_whole_map():
    r = cascade("env: {A: x, B: y}", "env: !replace {C: z}")
    assert r["env"] == {"C": ["z"]}


# -- metadata: deep merge ------------------------------------------------------------------

def test_metadata_deep_merges_maps_and_replaces_lists_and_scalars():
    r = cascade("metadata: {fps: 24, res: [1920, 1080], render: {engine: C, samples: 8}}",
                "metadata: {res: [640, 272], render: {samples: 32}}")
    assert r["metadata"] == {"fps": 24, "res": [640, 272],
                             "render": {"engine": "C", "samples": 32}}


def test_metadata_remove_entry_replace_subtree_append_list():
    r = cascade("metadata: {a: {x: 1, y: 2}, b: 1, tags: [t1]}",
                "metadata: {a: !replace {z: 3}, b: !remove , tags: !append [t2]}")
    assert r["metadata"] == {"a": {"z": 3}, "tags": ["t1", "t2"]}


# -- tools and workflows: per entry, field by field ----------------------------------------

def test_tools_merge_field_by_field_keeping_parent_only_entries():
    r = cascade(
        "tools: {maya: {label: Maya, packages: [maya-2024], env: {A: '1'}, dirs: [scenes]},"
        " nuke: {packages: [nuke]}}",
        "tools: {maya: {packages: [mgear], env: {B: '2'}, dirs: [cache, scenes]}}")
    maya = r["tools"]["maya"]
    assert maya["label"] == "Maya"
    assert maya["packages"] == ["maya-2024", "mgear"]
    assert maya["env"] == {"A": ["1"], "B": ["2"]}
    assert maya["dirs"] == ["scenes", "cache"]
    assert "nuke" in r["tools"]


def test_tool_remove_drops_the_tool():
    r = cascade("tools: {maya: {label: M}, nuke: {label: N}}", "tools: {maya: !remove }")
    assert list(r["tools"]) == ["nuke"]


def test_tool_variants_merge_per_name():
    r = cascade("tools: {h: {variants: {fx: {packages: [a]}, sim: {label: S}}}}",
                "tools: {h: {variants: {fx: {packages: [b]}}}}")
    v = r["tools"]["h"]["variants"]
    assert v["fx"]["packages"] == ["a", "b"] and v["sim"] == {"label": "S"}


def test_workflows_merge_packages_by_name_and_env():
    r = cascade("workflows: {comp: {packages: [nuke-14, ocio], env: {A: x}}}",
                "workflows: {comp: {packages: [nuke-15], manifest: m2}}")
    wf = r["workflows"]["comp"]
    assert wf == {"packages": ["nuke-15", "ocio"], "env": {"A": ["x"]}, "manifest": "m2"}


# -- storage: by target ----------------------------------------------------------------------

def test_storage_by_target_with_relative_sources():
    r = cascade("storage: [{source: projects}, {source: /mnt/lib, target: /lib, mode: ro}]",
                "storage: [{source: /mnt/lib2, target: /lib}]")
    assert r["storage"] == [
        {"source": "/s/projects", "target": "/s/projects", "mode": "rw"},
        {"source": "/mnt/lib2", "target": "/lib", "mode": "rw"},
    ]


def test_storage_remove_by_target():
    r = cascade("storage: [{source: /a}, {source: /b}]", "storage: !remove [/a]")
    assert [m["target"] for m in r["storage"]] == ["/b"]


# -- image, rez, paths -----------------------------------------------------------------------

def test_image_base_replaces_system_packages_union_labels_merge():
    r = cascade("image: {base: a, system_packages: [x, y], labels: {l1: '1'}}",
                "image: {base: b, system_packages: [y, z], labels: {l2: '2'}}")
    assert r["image"] == {"base": "b", "system_packages": ["x", "y", "z"],
                          "labels": {"l1": "1", "l2": "2"}}


def test_deeper_packages_path_is_searched_first_relative_to_its_file():
    r = cascade("rez: {version: '3.4.0', packages_path: [packages]}",
                "rez: {packages_path: [pkgs]}")
    assert r["rez"]["packages_path"] == ["/s/d/pkgs", "/s/packages"]
    assert r["rez"]["version"] == "3.4.0"


def test_append_tag_puts_a_deeper_repository_last():
    r = cascade("manifests_path: [m]", "manifests_path: !append [m2]")
    assert r["manifests_path"] == ["/s/m", "/s/d/m2"]


def test_templates_replace_per_key_and_dirs_union():
    r = cascade("templates: {work: a, publish: p}\ndirs: [x]", "templates: {work: b}\ndirs: [y, x]")
    assert r["templates"] == {"work": "b", "publish": "p"}
    assert r["dirs"] == ["x", "y"]


def test_features_and_services_deep_merge_and_remove():
    r = cascade("features: {dailies: {port: 8080}, farm: {}}\nservices: {db: {image: x, ports: [1]}}",
                "features: {farm: !remove }\nservices: {db: {ports: [2]}}")
    assert r["features"] == {"dailies": {"port": 8080}}
    assert r["services"] == {"db": {"image": "x", "ports": [2]}}


# -- policy only narrows ---------------------------------------------------------------------

def test_policy_may_narrow():
    r = cascade("policy: {allow_gui: true, allowed_mounts: [/mnt]}",
                "policy: {allow_gui: false, allowed_mounts: [/mnt/projects]}")
    assert r["policy"] == {"allow_gui": False, "allowed_mounts": ["/mnt/projects"]}


@pytest.mark.parametrize("deeper", ["policy: {allow_gui: true}",
                                    "policy: {allowed_mounts: [/elsewhere]}"])
def test_policy_may_not_widen(deeper):
    with pytest.raises(ConfigError, match="policy may only narrow"):
        cascade("policy: {allow_gui: false, allowed_mounts: [/mnt]}", deeper)


def test_local_keys_are_not_merged():
    r = cascade("root: true\nlevel: studio\nname: S", "level: project")
    assert not any(k in r for k in ("root", "level", "name"))
    assert all(isinstance(CONFIG_STRATEGIES[k], Local) for k in ("root", "level", "parent", "name"))


def test_a_bad_tag_loses_only_that_key():
    values, errors = {}, []
    for i, doc in enumerate(["packages: [a]\nmanifest: m", "packages: !unset [b]\nmanifest: n"]):
        values = merge_maps(values, load_text(doc, f"/s/{i}.yaml"), CONFIG_STRATEGIES, errors)
    assert len(errors) == 1
    assert values["packages"].plain() == ["a"] and values["manifest"].plain() == "n"


def test_remove_with_one_name_or_none():
    assert cascade("packages: [a-1, b-1]", "packages: !remove a")["packages"] == ["b-1"]
    assert "packages" not in cascade("packages: [a-1]", "packages: !remove")
    assert cascade("storage: [{source: /p}, {source: /q}]",
                   "storage: !remove /p")["storage"][0]["target"] == "/q"
    assert "manifests_path" not in cascade("manifests_path: [m]", "manifests_path: !remove")


def test_a_tag_on_one_list_item_is_an_error():
    with pytest.raises(ConfigError, match="applies to a whole value"):
        cascade("packages: [maya]", "packages: [!remove maya]")


def test_every_bad_entry_is_reported_and_the_rest_merges():
    values, errors = {}, []
    docs = ["tools: {a: {packages: [x]}, b: {dirs: [y]}, c: {label: C}}\nmetadata: {m: 1}",
            "tools: {a: {packages: !unset [x]}, b: {dirs: !unset [y]}, c: {label: D}}\n"
            "env: {A: !append , B: ok}"]
    for i, doc in enumerate(docs):
        values = merge_maps(values, load_text(doc, f"/s/{i}.yaml"), CONFIG_STRATEGIES, errors)
    assert sorted(str(e).split(": ")[1] for e in errors) == [
        "env.A", "tools.a.packages", "tools.b.dirs"]
    assert values["tools"].plain()["c"] == {"label": "D"}
    assert values["env"].plain() == {"B": ["ok"]}
