"""Environment actions over rez's environment, and path templates with level fields."""

import pytest

from landscape.envactions import EnvAction, apply_actions
from landscape.errors import ConfigError
from landscape.nodes import load_text
from landscape.templates import MissingField, expand_template, template_fields


def apply(environ, *actions):
    env = dict(environ)
    apply_actions(env, [EnvAction(v, op, val) for v, op, val in actions])
    return env


def test_set_expands_against_the_environment_as_it_stands():
    env = apply({"PYTHONPATH": "/pkg/python"},
                ("PYTHONPATH", "set", ["/studio/python", "${PYTHONPATH}"]))
    assert env["PYTHONPATH"] == "/studio/python:/pkg/python"


def test_unset_variable_in_a_list_leaves_no_empty_element():
    assert apply({}, ("P", "set", ["/a", "${NOPE}"]))["P"] == "/a"


def test_prepend_append_unset():
    env = apply({"PATH": "/usr/bin", "X": "1"},
                ("PATH", "prepend", "/a:/b"), ("PATH", "append", ["/c"]), ("X", "unset", None))
    assert env["PATH"] == "/a:/b:/usr/bin:/c"
    assert "X" not in env


def test_actions_apply_in_order_and_see_earlier_results():
    env = apply({}, ("A", "set", "one"), ("B", "set", "${A}-two"), ("A", "set", "three"))
    assert env == {"A": "three", "B": "one-two"}


def test_numbers_and_booleans_become_strings():
    assert apply({}, ("N", "set", 24), ("B", "set", True)) == {"N": "24", "B": "1"}


def templates(text):
    node = load_text(text, "/s/landscape.yaml")
    return dict(node.items())


def test_template_fields_and_nested_templates():
    t = templates("work: '{shotdir}/work/{tool}'\nshotdir: '{root}/{project}/{shot}'\n")
    out = expand_template(str(t["work"].value), {"root": "/r", "project": "p", "shot": "s",
                                                 "tool": "maya"}, t, t["work"])
    assert out == "/r/p/s/work/maya"
    assert template_fields("{a}/{b}") == ["a", "b"]
    with pytest.raises(ValueError, match="not a field name"):
        template_fields("{root.upper}")


def test_missing_field_names_the_template_location():
    t = templates("work: '{root}/{shot}'\n")
    with pytest.raises(MissingField) as e:
        expand_template(str(t["work"].value), {"root": "/r"}, t, t["work"])
    assert "/s/landscape.yaml:1:7" in str(e.value) and "{shot}" in str(e.value)


def test_template_cycle_is_an_error_named_from_its_start():
    t = templates("a: '{b}'\nb: '{a}'\n")
    with pytest.raises(ConfigError, match="template cycle: a -> b -> a"):
        expand_template(str(t["a"].value), {}, t, t["a"], ("templates", "a"), ("a",))
