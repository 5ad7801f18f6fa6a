"""Layers of one tool's environment: manifest → context → workflow → tool → variant → CLI."""

import pytest

from landscape.cascade import build_cascade
from landscape.context import Extras
from landscape.errors import ConfigError, LandscapeError
from landscape.tools import compose, tool_paths

STUDIO = {
    "landscape.yaml": """
        root: true
        rez: {packages_path: [packages]}
        manifests_path: [manifests]
        manifest: base
        packages: [python-3.11, usd-23]
        env: {A: context, P: !prepend /ctx}
        workflows:
          comp: {packages: [nuke-14, ocio], env: {A: workflow}}
          lookdev: {manifest: next, packages: [mtlx]}
        tools:
          nuke:
            workflow: comp
            packages: [nuke-15]
            env: {P: !append /tool}
          houdini:
            command: houdini -foreground
            args: [--x]
            packages: [houdini-20]
            variants:
              fx:
                packages: [fxlib]
                command: [houdini, fx]
                variants:
                  sim: {packages: [simlib, houdini-20.5]}
          standalone: {override: true, packages: [tool-1], env: {A: alone}}
          look: {workflow: lookdev}
    """,
    "manifests/base.yaml": """
        packages: [python-3.10, usd-22, ocio-2.1]
        env: {A: manifest, M: base}
        workflows:
          comp: {packages: [nuke-13]}
    """,
    "manifests/next.yaml": """
        extends: base
        packages: [usd-24]
        env: {M: next}
    """,
}


@pytest.fixture
def cascade(studio):
    root = studio(STUDIO)
    return build_cascade(root / "shot")


def reqs(setup):
    return setup.request_strings


def env(setup):
    return [(a.var, a.op, a.value) for a in setup.env_actions()]


def test_manifest_is_the_lowest_layer_and_context_replaces_by_name_in_place(cascade):
    s = compose(cascade, None)
    assert reqs(s) == ["python-3.11", "usd-23", "ocio-2.1"]
    assert s.manifest == "base"
    assert [layer.name for layer in s.layers] == ["manifest base", "context"]


def test_workflow_and_tool_layers_in_order(cascade):
    s = compose(cascade, "nuke")
    assert [layer.name for layer in s.layers] == [
        "manifest base", "manifest base workflow comp", "context", "workflow comp", "tool nuke"]
    # manifest workflow nuke-13 → workflow nuke-14 → tool nuke-15, all in one place
    assert reqs(s) == ["python-3.11", "usd-23", "ocio", "nuke-15"]
    assert ("A", "set", "workflow") in env(s)
    assert [a for a in env(s) if a[0] == "P"] == [("P", "prepend", "/ctx"),
                                                  ("P", "append", "/tool")]


def test_workflow_switches_manifest_which_extends_another(cascade):
    s = compose(cascade, "look")
    assert s.manifest == "next"
    assert reqs(s) == ["python-3.11", "usd-23", "ocio-2.1", "mtlx"]
    assert ("M", "set", "next") in env(s)


def test_nested_variants_inherit_from_their_parents(cascade):
    s = compose(cascade, "houdini/fx/sim")
    assert [layer.name for layer in s.layers][-3:] == ["tool houdini", "variant houdini/fx",
                                                       "variant houdini/fx/sim"]
    assert reqs(s)[-3:] == ["houdini-20.5", "fxlib", "simlib"]
    assert s.command == ["houdini", "fx", "--x"]
    assert compose(cascade, "houdini").command == ["houdini", "-foreground", "--x"]


def test_override_drops_the_layers_below(cascade):
    s = compose(cascade, "standalone")
    assert reqs(s) == ["tool-1"]
    assert env(s) == [("A", "set", "alone")]
    assert s.manifest is None


def test_command_line_extras_are_the_highest_layer(cascade):
    s = compose(cascade, "nuke", Extras(["nuke-16", "extra"], ["A=cli"]).layer())
    assert reqs(s)[-2:] == ["nuke-16", "extra"]
    assert [a for a in env(s) if a[0] == "A"] == [("A", "set", "cli")]


def test_tool_paths_list_tools_and_nested_variants(cascade):
    assert tool_paths(cascade.node("tools")) == [
        "nuke", "houdini", "houdini/fx", "houdini/fx/sim", "standalone", "look"]


def test_unknown_tool_variant_workflow_and_manifest(studio):
    root = studio({**STUDIO, "shot/landscape.yaml": "tools: {bad: {workflow: nope}}\n"
                                                   "manifest: missing\n"})
    c = build_cascade(root / "shot")
    with pytest.raises(LandscapeError, match="unknown tool 'maya'"):
        compose(c, "maya")
    with pytest.raises(LandscapeError, match="has no variant 'x'"):
        compose(c, "houdini/x")
    with pytest.raises(ConfigError, match="manifest 'missing' not found"):
        compose(c, None)


def test_remove_in_a_higher_layer_drops_what_lower_layers_asked_for(studio):
    root = studio({**STUDIO, "shot/landscape.yaml": """
        env: {KEEP: k}
        workflows: {comp: {packages: !remove [usd]}}
        tools:
          houdini:
            env: {P: !remove , KEEP: !remove }
            variants: {fx: {packages: !remove [houdini, python]}}
          standalone: !remove
    """})
    c = build_cascade(root / "shot")
    nuke = compose(c, "nuke")
    assert "usd-23" not in reqs(nuke) and "python-3.11" in reqs(nuke)
    fx = compose(c, "houdini/fx")
    assert reqs(fx) == ["usd-23", "ocio-2.1", "fxlib"]  # houdini-20 and python removed
    assert not any(a[0] in ("P", "KEEP") for a in env(fx))  # context actions forgotten
    assert ("KEEP", "set", "k") in env(compose(c, "nuke"))
    # named again in a deeper file: no longer removed
    root2 = studio({**STUDIO, "shot/landscape.yaml": "workflows: {comp: {packages: !remove [usd]}}\n",
                    "shot/deeper/landscape.yaml": "workflows: {comp: {packages: [usd-24]}}\n"})
    assert "usd-24" in reqs(compose(build_cascade(root2 / "shot/deeper"), "nuke"))


def test_tools_removed_at_a_deeper_level(studio):
    root = studio({**STUDIO, "shot/landscape.yaml": "tools: {nuke: !remove , houdini: !remove }\n"})
    assert tool_paths(build_cascade(root / "shot").node("tools")) == ["standalone", "look"]


def test_manifest_workflow_with_override_replaces_the_manifests_own(studio):
    root = studio({**STUDIO, "manifests/base.yaml": """
        packages: [python-3.10, usd-22, ocio-2.1]
        env: {M: base}
        workflows:
          comp: {override: true, packages: [nuke-13], env: {W: comp}}
    """})
    s = compose(build_cascade(root / "shot"), "nuke")
    assert [layer.name for layer in s.layers][:2] == ["manifest base workflow comp", "context"]
    # the manifest's own packages are gone; nuke keeps the place it took in the lowest layer
    assert reqs(s) == ["nuke-15", "python-3.11", "usd-23", "ocio"]
    assert not any(a[0] == "M" for a in env(s))


def test_variant_inheritance_order_parent_fields_then_each_variant(studio):
    root = studio({**STUDIO, "shot/landscape.yaml": """
        tools:
          houdini:
            env: {LEVEL: !append tool-shot}
            variants:
              fx:
                env: {LEVEL: !append fx-shot}
                variants: {sim: {env: {LEVEL: !append sim-shot}}}
    """, "landscape.yaml": STUDIO["landscape.yaml"].replace(
        "houdini:\n            command", "houdini:\n            env: {LEVEL: tool}\n            command")})
    s = compose(build_cascade(root / "shot"), "houdini/fx/sim")
    assert [a for a in env(s) if a[0] == "LEVEL"] == [
        ("LEVEL", "set", "tool"), ("LEVEL", "append", "tool-shot"),
        ("LEVEL", "append", "fx-shot"), ("LEVEL", "append", "sim-shot")]


def test_a_switched_manifest_is_traced_to_the_workflow(cascade):
    s = compose(cascade, "look")
    assert s.manifest == "next"
    assert s.manifest_from.line == 9  # `lookdev: {manifest: next, …}` in the root file
