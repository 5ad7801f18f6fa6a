"""The service feature catalog (``compose/``): compose fragments as data.

A feature is a compose fragment (``compose/<name>.yaml``) that a project enables with
``features: {<name>: {options…}}``. It is loaded with a YAML safe loader that knows two
tags: ``!var NAME`` — replaced by the value of ``NAME`` (a string, number, list or mapping:
as a value, never as text) — and ``!format "…{option}…"`` — a string built from the
feature's options after they were validated. ``x-landscape.options`` is the JSON Schema of
the options (types, ranges, defaults); a project's options are validated against it and
mistakes reported at ``file:line:col``. An option named ``bind`` is the address ports are
published on, judged by ``policy.allowed_binds``.

Used by ``check`` (options and bindings) and by the stack (:mod:`landscape.engine.stack`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import ConfigError, ErrorGroup, LandscapeError, Location, flatten
from .nodes import Node
from .policy import Policy
from .resources import data_dir


class _Var:
    """A ``!var NAME`` placeholder of a catalog fragment."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Format:
    """A ``!format "…{option}…"`` string of a catalog fragment."""

    def __init__(self, text: str) -> None:
        self.text = text


class _CatalogLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus the two catalog tags."""


_CatalogLoader.add_constructor("!var", lambda loader, node: _Var(loader.construct_scalar(node)))
_CatalogLoader.add_constructor("!format",
                               lambda loader, node: _Format(loader.construct_scalar(node)))


def is_feature(name: str) -> bool:
    """Whether the catalog has feature ``name``."""
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name)) and \
        (data_dir("compose") / f"{name}.yaml").is_file()


def load_feature(name: str, at: Location | None = None) -> dict:
    """The catalog fragment of feature ``name`` (``compose/<name>.yaml``) as data, with its
    placeholders. Raises :class:`ConfigError` at ``at`` for a feature not in the catalog."""
    path = data_dir("compose") / f"{name}.yaml"
    if not is_feature(name):
        known = sorted(p.stem for p in data_dir("compose").glob("*.yaml"))
        raise ConfigError(f"unknown feature {name!r}", at, ("features", name),
                          hint="catalog: " + (", ".join(known) or "empty"))
    with open(path) as f:
        return yaml.load(f, Loader=_CatalogLoader) or {}  # noqa: S506 - a SafeLoader subclass


def feature_options(name: str, node: Node) -> dict:
    """The options of feature ``name`` as a project set them (``node``), validated against
    the feature's ``x-landscape.options`` schema, with its defaults filled in. Raises
    :class:`~landscape.errors.ErrorGroup`/:class:`ConfigError` naming ``file:line:col``."""
    from .schema import validate

    fragment = load_feature(name, node.loc)
    schema = (fragment.get("x-landscape") or {}).get("options") or {"type": "object",
                                                                    "maxProperties": 0}
    options = node if node.is_map else Node({}, node.loc, key_locs={})
    wrapped = Node({"features": Node({name: options}, node.loc, key_locs={name: node.loc})},
                   node.loc, key_locs={"features": node.loc})
    full = {"type": "object", "properties": {"features": {
        "type": "object", "properties": {name: schema}}}}
    ErrorGroup.raise_if_any(validate(wrapped, full))
    values = {k: v.get("default") for k, v in (schema.get("properties") or {}).items()
              if isinstance(v, dict) and "default" in v}
    values.update(options.plain())
    return values


def _substitute(value: Any, variables: dict[str, Any], options: dict) -> Any:
    if isinstance(value, _Var):
        head, _, rest = value.name.partition(".")
        if head == "options" and rest in options:
            return options[rest]
        if value.name not in variables:
            raise LandscapeError(f"catalog fragment asks for unknown variable {value.name!r}")
        return variables[value.name]
    if isinstance(value, _Format):
        try:
            return value.text.format(**options)
        except (KeyError, IndexError, ValueError) as e:
            raise LandscapeError(f"catalog fragment: bad !format {value.text!r}: {e}") from None
    if isinstance(value, dict):
        return {k: _substitute(v, variables, options) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, options) for v in value]
    return value


def checked_options(name: str, node: Node, policy: Policy) -> dict:
    """:func:`feature_options`, with the ``bind`` option judged by ``policy.allowed_binds``.
    Raises :class:`ConfigError` (or a group) at the feature's options."""
    options = feature_options(name, node)
    if "bind" in options:
        bind_node = node.get("bind") if node.is_map else None
        error = policy.bind_error(str(options["bind"]), (bind_node or node).loc,
                                  ("features", name, "bind"))
        if error is not None:
            raise error
    return options


def feature_errors(features: Node | None, policy: Policy) -> list[LandscapeError]:
    """Every problem of a merged ``features`` node: features missing from the catalog,
    options the feature's schema refuses, bindings the policy forbids."""
    errors: list[LandscapeError] = []
    for name, node in (features.items() if features is not None else ()):
        if node.value is False or not is_feature(name):
            continue  # an unknown feature is reported where it is written (``check``)
        try:
            checked_options(name, node, policy)
        except LandscapeError as e:
            errors += flatten(e)
    return errors


@dataclass(frozen=True)
class FeatureSettings:
    """What a catalog fragment asks of Landscape besides its services (``x-landscape``):
    ``system_packages`` — Debian packages of an image built for the feature from the base
    (``image: {system_packages: […]}``; empty: the feature runs on the workspace image);
    ``state`` — a state folder of its own, mounted at ``/state``, with a generated password
    file; ``user`` — ``/etc/passwd`` and ``/etc/group`` naming the stack's user (programs
    such as ``initdb`` refuse a user id without a name)."""

    system_packages: tuple[str, ...] = ()
    state: bool = False
    user: bool = False


def feature_settings(name: str) -> FeatureSettings:
    """The :class:`FeatureSettings` of catalog feature ``name``. Raises
    :class:`LandscapeError` for a catalog entry whose image packages are not Debian package
    names (the catalog ships with Landscape; this guards a broken install)."""
    from . import grammar

    meta = (load_feature(name).get("x-landscape") or {})
    packages = tuple((meta.get("image") or {}).get("system_packages") or ())
    bad = [p for p in packages if not grammar.is_debian_package(p)]
    if bad:
        raise LandscapeError(f"catalog feature {name!r}: not Debian package names: "
                             f"{', '.join(map(repr, bad))}")
    return FeatureSettings(packages, bool(meta.get("state")), bool(meta.get("user")))


def enabled_features(features: Node | None) -> list[tuple[str, Node]]:
    """``(name, options node)`` of each feature a merged ``features`` node enables (a
    feature set to ``false`` is off), in file order."""
    return [(name, node) for name, node in (features.items() if features is not None else ())
            if node.value is not False]


def render_feature(name: str, node: Node, variables: dict[str, Any], policy: Policy) -> dict:
    """The compose fragment of feature ``name`` for a project: options validated and
    ``bind`` judged (:func:`checked_options`), placeholders replaced by values. Raises
    :class:`ConfigError` (or a group) at the feature's options."""
    options = checked_options(name, node, policy)
    fragment = load_feature(name, node.loc)
    fragment.pop("x-landscape", None)
    return _substitute(fragment, variables, options)
