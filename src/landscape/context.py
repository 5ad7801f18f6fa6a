"""The resolved context: one context's cascade, solved with rez, ready to build and launch.

:func:`resolve` takes a context path (and tool, variants, command-line extras, time) and
returns a :class:`ResolvedContext`: the exact packages of every tool of the context (each
solved by rez), the image spec and key they share, and for the selected tool the final
environment as it will be inside the container — rez's environment for the packages,
then the ``LANDSCAPE_*`` variables, then every env action in layer and cascade order —
with metadata, storage and the working directory. :meth:`ResolvedContext.to_json` gives
docs/json.md's shape (with provenance when ``explain``).
"""

from __future__ import annotations

import functools
import os
import re
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from .cascade import Cascade, build_cascade, warm_idle
from .envactions import apply_actions
from .merge import ENV, request_name
from .errors import ConfigError, ErrorGroup, LandscapeError, Location, ResolveError, flatten
from .identity import user_name
from .launchinputs import CONTEXT_FILE, LaunchInputs, StorageMount
from .memo import note, table
from .imagekey import (CORE_SYSTEM_PACKAGES, DEFAULT_BASE, DEFAULT_REZ_VERSION, ImageSpec,
                       union_packages)
from .nodes import Node, from_plain
from .paths import real
from .payloads import BAKE, delivery_of, dev_repositories, payload_mounts, root_delivery
from .rezsolve import IMAGE_PATH, Solution
from .templates import MissingField, expand_template
from .tools import CONTEXT_TOOL, Layer, ToolSetup, compose, manifest_loader, tool_paths
from .userstate import SecretSpec, UserState, launch_settings, secret_specs
from .names import (VAR_CONTEXT, VAR_CONTEXT_FILE, VAR_IMAGE, VAR_ROOT, VAR_TOOL, VAR_VARIANTS,
                     VAR_WORKDIR, level_variable)

CLI = Location("<command line>")


#: Variables a launch sets itself from the launching user; config cannot change them.
IDENTITY_VARIABLES = ("USER", "LOGNAME", "HOME")


def image_base_environ(user: str | None = None) -> dict[str, str]:
    """The environment a container starts from, before rez: the image's PATH and locale,
    and the invoking user's names (``USER``, ``LOGNAME``, ``HOME``)."""
    user = user or user_name()
    home = "/root" if os.getuid() == 0 else f"/home/{user}"
    return {"PATH": IMAGE_PATH, "LANG": "C.UTF-8", "USER": user, "LOGNAME": user,
            "HOME": home}


def parse_time(value: str | int | float | None, now: float | None = None) -> int | None:
    """``--time`` / ``rez.time`` → epoch seconds (docs/config.md): an epoch number, an ISO date or
    date-time (UTC when no zone is given), or a relative time ``-10d``, ``-6h``, ``-30m``,
    ``-45s``, ``-2w``. ``None``/empty → no limit. Raises ``ValueError`` with the accepted forms.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(dt.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp())
    text = str(value).strip()
    if text.lstrip("-").isdigit() and not text.startswith("-"):
        return int(text)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text.startswith("-") and text[-1:] in units and text[1:-1].replace(".", "", 1).isdigit():
        note("uncacheable", f"the relative time {text!r} moves with the clock")
        now = _time.time() if now is None else now
        try:
            return int(now - float(text[1:-1]) * units[text[-1]])
        except (OverflowError, ValueError):
            raise ValueError(f"bad time {text!r}: too far back") from None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use epoch seconds, an ISO date or date-time, "
                         "or a relative time like -10d, -6h, -30m") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


@dataclass
class Extras:
    """Command-line extras, the highest layer: ``-a PKG`` requests and ``--env K=V``."""

    packages: Sequence[str] = ()
    env: Sequence[str] = ()

    def layer(self) -> Layer | None:
        """The command-line layer (``None`` without extras). Raises :class:`LandscapeError`
        for an ``--env`` that is not ``NAME=VALUE``."""
        if not self.packages and not self.env:
            return None
        env: dict[str, str] = {}
        for item in self.env:
            k, eq, v = item.partition("=")
            if not eq or not k.isidentifier():
                raise LandscapeError(f"--env {item!r}: expected NAME=VALUE, NAME made of "
                                     "letters, digits and _")
            env[k] = v
        return Layer("command line",
                     from_plain(list(self.packages), CLI) if self.packages else None,
                     ENV.merge(None, from_plain(env, CLI), ("--env",)) if env else None)


@dataclass
class ResolvedContext:
    """One resolved context (the "resolved context" of README.md).

    ``setups`` holds every tool path of the context (and :data:`CONTEXT_TOOL`), ``solutions``
    rez's answer for each; ``selected`` is the tool asked for (or the context). ``image`` is
    the spec shared by all of them. ``env`` is the selected setup's final container
    environment; ``workdir`` its working directory (``None`` when its template needs a level
    this context lacks).
    """

    cascade: Cascade
    tool: str | None
    setups: dict[str, ToolSetup]
    solutions: dict[str, Solution]
    image: ImageSpec
    env: dict[str, str]
    workdir: str | None
    dirs: list[str]
    storage: list[StorageMount]
    timestamp: int | None
    #: what the context's policy refuses: mounts (left out of ``storage``) and tools asking
    #: for a display, GPUs or capabilities it forbids (see :func:`policy_errors`)
    policy_errors: list[LandscapeError] = field(default_factory=list)
    #: the real paths of the dev repositories (``--dev``; empty otherwise): their packages
    #: are not in the image but mounted at launch (:mod:`landscape.payloads`)
    dev: frozenset[str] = frozenset()

    @property
    def selected(self) -> ToolSetup:
        return self.setups[self.tool or CONTEXT_TOOL]

    @property
    def secrets(self) -> list[SecretSpec]:
        """The secrets a launch of the selected tool gets (declarations only: the studio
        root's top-level ``secrets``, then the tool's; :func:`landscape.userstate.secret_specs`).
        Without a tool, the root's."""
        root = self.cascade.files[0] if self.cascade.files else None
        return secret_specs(root.node if root is not None else None,
                            str(self.cascade.root_file),
                            self.selected.field_node("secrets") if self.tool else None,
                            self.tool or "")

    @property
    def solution(self) -> Solution:
        return self.solutions[self.tool or CONTEXT_TOOL]

    @property
    def project(self) -> str:
        return self.cascade.project

    @property
    def metadata(self) -> dict:
        return self.cascade.plain("metadata", {})

    @functools.cached_property
    def _variant_paths(self) -> dict[str, list[str]]:
        """Each tool path → the paths below it (``render`` below ``blender``), sorted: one
        pass over :attr:`setups` (a file may define thousands of tools)."""
        below: dict[str, list[str]] = {}
        for p in self.setups:
            parts = p.split("/")
            for i in range(1, len(parts)):
                below.setdefault("/".join(parts[:i]), []).append("/".join(parts[i:]))
        for names in below.values():
            names.sort()
        return below

    def _tool_entry(self, path: str) -> dict:
        setup = self.setups[path]
        entry = {"label": setup.field("label", path), "command": setup.command,
                 "gui": bool(setup.field("gui", False)), "gpu": bool(setup.field("gpu", False))}
        for key in ("category", "icon", "workflow"):
            if setup.field(key) is not None:
                entry[key] = setup.field(key)
        variants = self._variant_paths.get(path)
        if variants:
            entry["variants"] = variants
        return entry

    def tools_json(self) -> dict:
        """docs/json.md ``tools``: presentation and launch fields of each top-level tool."""
        return {path: self._tool_entry(path) for path in self.setups
                if path != CONTEXT_TOOL and "/" not in path}

    def tools_explained(self) -> dict:
        """Every tool and variant, each field ``{"value", "from"}``: the values ``tools``
        shows (``command`` is the argv with ``args``; ``from`` is ``default`` when no file
        set the field), then every other field of its definition."""
        out = {}
        for path, setup in self.setups.items():
            if setup.node is None:
                continue
            fields = {}
            for key, value in self._tool_entry(path).items():
                node = setup.field_node(key)
                fields[key] = {"value": value, "from": node.loc.short if node is not None
                               else ("derived" if key == "variants" else "default")}
            for key, node in setup.node.items():
                if key not in fields and key not in ("env", "variants"):
                    fields[key] = _explained(node)
            out[path] = fields
        return out

    def _package_json(self, p: Any) -> dict:
        """docs/json.md ``packages`` item, with ``delivery`` (``mount`` or ``dev``) when the
        package's folder is mounted at launch rather than baked."""
        out = p.to_json()
        kind = delivery_of(p, self.image, self.dev)
        if kind != BAKE:
            out["delivery"] = kind
        return out

    def to_json(self, explain: bool = False) -> dict:
        """docs/json.md's shape. With ``explain``, values carry ``{"value", "from"}`` and env
        variables the list of actions that built them."""
        c = self.cascade
        setup = self.selected
        data: dict[str, Any] = {
            "context": str(c.context),
            "variants": list(c.variants),
            "root": str(c.root),
            "levels": c.level_values,
            "files": [str(f.path) for f in c.files],
            "manifest": setup.manifest,
            "tool": self.tool,
            "requests": setup.request_strings,
            "packages": [self._package_json(p) for p in self.solution.packages],
            "env": dict(sorted({**self.env, **{s.name: s.masked() for s in self.secrets}
                                }.items())),
            "metadata": jsonable(self.metadata),
            "tools": self.tools_json(),
            "storage": [m.to_json() for m in self.storage],
            "workdir": self.workdir,
            "image": self.image.to_json(),
        }
        if explain:
            data["requests"] = [{"value": str(n.value), "from": n.loc.short}
                                for n in setup.requests]
            data["layers"] = [layer.name for layer in setup.layers]
            actions: dict[str, list[dict]] = {}
            for a in self.solution.env_actions(image_base_environ()) + setup.env_actions():
                actions.setdefault(a.var, []).append(a.to_json())
            data["env"] = {k: ({"value": v, "actions": actions[k]} if k in actions
                               else {"value": v, "from": _env_origin(k)})
                           for k, v in sorted(self.env.items())}
            for secret in self.secrets:  # the declaration, never the value
                data["env"][secret.name] = {"value": secret.masked(),
                                            "from": secret.location.short}
            data["env"] = dict(sorted(data["env"].items()))
            data["overrides"] = {
                family: {"base": next({"version": p.version, "repository": p.repository}
                                      for p in self.solution.packages if p.name == family),
                         "stack": [layer.to_json() for layer in layers]}
                for family, layers in self.solution.overrides.items()}
            data["tools"] = self.tools_explained()
            md = c.node("metadata")
            data["metadata"] = _explained(md) if md is not None else {}
            st = c.node("storage")
            data["storage"] = [{"value": m.to_json(), "from": n.loc.short}
                               for m, n in zip(self.storage, st.value if st else [])]
            data["levels"] = {lv.level: {"value": lv.value, "from": lv.origin.short}
                              for lv in c.levels}
            data["manifest"] = {"value": setup.manifest,
                                "from": setup.manifest_from.short if setup.manifest_from
                                else None} if setup.manifest else None
        return data


    def launch_inputs(self) -> "LaunchInputs":
        """What launching the selected tool takes from this context (see
        :class:`LaunchInputs`). Raises :class:`LandscapeError` without a selected tool."""
        from .recipe import image_labels  # deferred: renders the Dockerfile (Jinja2)

        if self.tool is None:
            raise LandscapeError("launch needs a tool: --tool NAME")
        setup = self.selected
        parts = self.tool.split("/")
        errors = [e for e in self.policy_errors if _concerns_tool(e, parts)]
        try:
            command = setup.command
        except ConfigError:  # already among ``errors``: policy_errors splits every command
            command = []
        workdir_error = None
        if self.workdir is None:
            try:
                workdir_of(self.cascade, setup, strict=True)
            except LandscapeError as e:
                workdir_error = e.message
            else:  # pragma: no cover - workdir_of agrees with itself
                workdir_error = "its template needs a level this context does not have"
        try:
            caps, caps_error = self.cascade.policy.tool_capabilities(
                setup.field("capabilities", [])), None
        except ConfigError as e:
            caps, caps_error = [], e.message
        try:
            registry, registry_error = self.cascade.studio_image().get("registry"), None
        except ConfigError as e:
            registry, registry_error = None, str(e)
        root_file = self.cascade.files[0] if self.cascade.files else None
        try:
            idle, idle_error = warm_idle(root_file.node if root_file else None), None
        except ConfigError as e:
            idle, idle_error = None, str(e)
        user_state = self.user_state()
        payloads, payload_errors = payload_mounts(self.solution.packages, self.image, self.dev)
        return LaunchInputs(
            context=str(self.cascade.context), tool=self.tool, command=command,
            gui=bool(setup.field("gui", False)), gpu=bool(setup.field("gpu", False)),
            cap_add=caps, cap_error=caps_error, pids_limit=self.cascade.policy.pids_limit,
            workdir=self.workdir, workdir_error=workdir_error, dirs=list(self.dirs),
            env=dict(self.env), storage=list(self.storage), image=self.image,
            project_dir=str(self.cascade.project_dir), registry=registry,
            registry_error=registry_error, errors=errors + payload_errors,
            context_json=self.to_json(), root=str(self.cascade.root), warm_idle=idle,
            warm_idle_error=idle_error, image_labels=image_labels(self.image),
            user_state=user_state, payloads=payloads, render=_render_keys(setup))

    def user_state(self) -> UserState:
        """The studio root's settings for the user's state at launch (home, audit trail) and
        the launch's secret declarations (:class:`~landscape.userstate.UserState`); a
        setting that cannot be used — an unset ``${VAR}``, a ``home_root`` that would let a
        container write the studio's trusted config or code — is its ``error``."""
        root_file = self.cascade.files[0] if self.cascade.files else None
        secrets = tuple(self.secrets)
        try:
            home, home_root, audit, required = launch_settings(
                root_file.node if root_file else None, str(self.cascade.root))
        except ConfigError as e:
            return UserState(secrets=secrets, error=str(e))
        error = None
        if home_root is not None:
            from .policy import real, under

            canonical = real(home_root)
            for p in self.cascade.policy.protected:
                if under(p, canonical) or under(canonical, p):
                    error = (f"launch.home_root {home_root} would let containers change {p}, "
                             "which holds the studio's trusted config or code")
                    break
        return UserState(home, home_root, audit, required, secrets, error)


def _render_keys(setup: Any) -> dict:
    """The render keys of a tool setup (``frames``, ``outputs``, ``verify``) as
    ``{key: {"value": plain value, "from": "file:line:col"}}`` (absent keys left out)."""
    out = {}
    for key in ("frames", "outputs", "verify"):
        node = setup.field_node(key)
        if node is not None:
            out[key] = {"value": node.plain(), "from": f"{node.loc.file}:{node.loc.line}:"
                                                      f"{node.loc.col}"}
    return out


def _concerns_tool(error: LandscapeError, parts: list[str]) -> bool:
    """Whether a policy error of the context stops launching the tool ``parts``
    (``["blender", "render"]``): refused mounts do, and the tool's own (or its parents')
    requests do."""
    path = error.key_path
    if not path or path[0] != "tools":
        return True
    named = [p for p in path[1:-1] if isinstance(p, str)]  # the tool the error is about
    return parts[:len(named)] == named


def _env_origin(var: str) -> str:
    if var.startswith("LANDSCAPE_"):
        return "landscape"
    if var.startswith("REZ_"):
        return "rez"
    return "image"  # the container's base environment (PATH, LANG, USER, HOME)


def _explained(node: Node) -> Any:
    """``{"value", "from"}`` at each leaf of a map node (lists are leaves; a list merged from
    several files also gives ``items_from``)."""
    if node.is_map:
        return {k: _explained(v) for k, v in node.items()}
    out = {"value": jsonable(node.plain()), "from": node.loc.short}
    if node.is_list and any(n.loc.file != node.loc.file for n in node.value):
        out["items_from"] = [n.loc.short for n in node.value]  # merged from several files
    return out


def jsonable(value: Any) -> Any:
    """``value`` with YAML dates and times as ISO strings (JSON has no such type)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def package_paths(cascade: Cascade, staging: bool = False, dev: bool = False) -> list[str]:
    """The rez packages path of a context: ``rez.dev_path`` (with ``dev``), then
    ``rez.staging_path`` (with ``staging``), then ``rez.packages_path``; deeper files'
    repositories first within each.

    Every repository is put to the policy first (:meth:`landscape.policy.Policy.repository_trust`):
    one the studio root does not name must lie in ``policy.allowed_repositories`` (then only
    declarative ``package.yaml`` definitions are accepted, checked by
    :func:`landscape.declarative.validate_repository` before rez may read it) or in
    ``policy.trusted_repositories``. Raises :class:`~landscape.errors.ErrorGroup` /
    :class:`ConfigError` naming the ``file:line:col`` of each refused entry and each refused
    definition, or when the path is empty.
    """
    from .declarative import validate_repository

    rez = cascade.node("rez")
    keys = (["dev_path"] if dev else []) + (["staging_path"] if staging else []) + \
        ["packages_path"]
    entries: list[Node] = []
    for key in keys:
        n = rez.get(key) if rez is not None else None
        entries += [(key, item) for item in (n.value if n is not None and n.is_list else [])]
    if not entries:
        raise ConfigError("no package repositories: set rez.packages_path",
                          Location(str(cascade.files[0].path)) if cascade.files else None,
                          ("rez", "packages_path"))
    policy = cascade.policy
    root_named = cascade.root_paths("rez", "packages_path", "staging_path", "dev_path")
    errors: list[LandscapeError] = []
    paths: list[str] = []
    for key, item in entries:
        path = str(item.value)
        if path in paths:
            continue
        try:
            trust = policy.repository_trust(path, root_named, item.loc, ("rez", key))
        except ConfigError as e:
            errors.append(e)
            continue
        if trust == "declarative":
            errors += validate_repository(path)
        paths.append(path)
    ErrorGroup.raise_if_any(errors)
    return paths


def storage_mounts(cascade: Cascade) -> tuple[list[StorageMount], list[LandscapeError]]:
    """The context's storage mounts (:class:`~landscape.launchinputs.StorageMount`) and the
    errors of those the policy refuses (docs/security.md,
    :meth:`landscape.policy.Policy.mount_source`). Refused mounts are left out of the list,
    so they can never be mounted.
    """
    node = cascade.node("storage")
    policy = cascade.policy
    out: list[dict] = []
    errors: list[LandscapeError] = []
    for m in (node.value if node is not None else []):
        mount = {k: str(v.value) for k, v in m.items()}
        loc = m.get("source").loc
        try:
            source = policy.mount_source(mount["source"], loc, ("storage", "source"),
                                         writable=mount.get("mode", "rw") != "ro")
            tnode = m.get("target")
            target = policy.mount_target(mount.get("target", mount["source"]),
                                         tnode.loc if tnode is not None else loc,
                                         ("storage", "target"))
        except ConfigError as e:
            errors.append(e)
            continue
        out.append(StorageMount(source, target, mount.get("mode", "rw")))
    return out, errors


def policy_errors(cascade: Cascade, setups: Iterable[ToolSetup]) -> list[LandscapeError]:
    """What the tools ``setups`` ask for that the context's policy forbids (gui, gpu,
    capabilities), env actions on :data:`IDENTITY_VARIABLES`, and tool commands that cannot
    be split (a string ``command`` with an unbalanced quote)."""
    setups = list(setups)
    memo = table("policy_errors")
    key = (id(cascade.policy), tuple(id(s) for s in setups))
    if memo is not None and key in memo:
        return []  # only answers without errors are kept: errors name the context
    policy = cascade.policy
    errors: list[LandscapeError] = []
    for setup in setups:
        for var, actions in (setup.env.items() if setup.env is not None else ()):
            if var in IDENTITY_VARIABLES:
                first = actions.value[0] if actions.is_list and actions.value else actions
                errors.append(ConfigError(
                    f"{var} is the launching user's own and cannot be set by config",
                    first.loc, ("env", var)))
        if setup.path == CONTEXT_TOOL:
            continue
        try:
            _ = setup.command  # raises for a command shlex cannot split
        except ConfigError as e:
            errors.append(e)
        errors += policy.tool_errors(setup.path, {k: setup.field_node(k) for k in
                                                  ("gui", "gpu", "capabilities")},
                                     str(cascade.context))
    # a variant inherits its tool's request: one error per place a request is written
    seen: set[tuple] = set()
    unique = []
    for e in errors:
        mark = (str(e.location), e.key_path[-1:] if e.key_path else ())
        if mark not in seen:
            seen.add(mark)
            unique.append(e)
    if memo is not None and not unique:
        memo[key] = (cascade.policy, setups)  # keeps the ids of the key alive
    return unique


def context_fields(cascade: Cascade, tool: str | None) -> dict[str, str]:
    """Template fields of a context (docs/config.md): root, each level, user, tool."""
    fields = {"root": str(cascade.root), "user": user_name()}
    fields.update(cascade.level_values)
    if tool:
        fields["tool"] = tool.split("/", 1)[0]
    return fields


def workdir_of(cascade: Cascade, setup: ToolSetup, strict: bool = False) -> str | None:
    """The working directory of ``setup``: its ``workdir`` (a template name or string), else
    the ``work`` template when there is one, else the context directory. ``None`` when the
    template needs a level this context does not have — with ``strict``, that
    :class:`~landscape.templates.MissingField` error (naming the field) is raised instead."""
    templates_node = cascade.node("templates")
    templates = dict(templates_node.items()) if templates_node is not None else {}
    wd = setup.field_node("workdir")
    name = None
    if wd is not None and str(wd.value) in templates:
        name = str(wd.value)
    elif wd is None and "work" in templates and setup.path != CONTEXT_TOOL:
        name = "work"
    if name is not None:
        text, node, path, stack = str(templates[name].value), templates[name], \
            ("templates", name), (name,)
    elif wd is not None:
        text, node, path, stack = str(wd.value), wd, \
            ("tools", *setup.path.split("/"), "workdir"), ()
    else:
        return str(cascade.context)
    fields = context_fields(cascade, setup.path if setup.path != CONTEXT_TOOL else None)
    try:
        return os.path.normpath(expand_template(text, fields, templates, node, path, stack))
    except MissingField:
        if strict:
            raise
        return None


def system_packages(cascade: Cascade, setups: Iterable[ToolSetup]) -> list[str]:
    """OS packages of an image: rez's needs, ``image.system_packages``, each tool's."""
    out = list(CORE_SYSTEM_PACKAGES)
    out += [str(p) for p in (cascade.plain("image", {}) or {}).get("system_packages", [])]
    for s in setups:
        out += [str(p) for p in s.field("system_packages", [])]
    return list(dict.fromkeys(out))


@dataclass
class ContextSolve:
    """What a context's merged config values give, whatever folder the context is:
    the package ``paths`` searched, the ``timestamp`` of ``rez.time``/``--time``, every
    tool's ``setups`` and rez ``solutions``, the shared ``image`` spec, the ``storage`` mounts
    the policy allows and the errors of those it ``refused`` (see :func:`storage_mounts`),
    and the real paths of the ``dev`` repositories searched (``--dev``).
    :func:`solve_context` makes it; contexts that share these inputs share one."""

    paths: list[str]
    timestamp: int | None
    setups: dict[str, ToolSetup]
    solutions: dict[str, Solution]
    image: ImageSpec
    storage: list[StorageMount]
    refused: list[LandscapeError]
    dev: frozenset[str] = frozenset()


#: Top-level keys :func:`solve_context` never reads: contexts that differ only in these (a
#: shot's frame range, its templates) share one solve within a :func:`landscape.memo.scope`.
SOLVE_NEUTRAL_KEYS = frozenset({"metadata", "templates", "dirs", "features", "services"})


def _solve_memo_key(cascade: Cascade, tool: str | None, time: str | int | None,
                    staging: bool, dev: bool) -> tuple:
    """The memo key of a solve: the options, the studio root file and project, and the
    identity of every merged value the solve reads. :func:`landscape.cascade.build_cascade`
    hands sibling contexts the very same node objects for what they inherit unchanged."""
    values = tuple((k, id(v)) for k, v in sorted(cascade.values.items())
                   if k not in SOLVE_NEUTRAL_KEYS)
    return (tool, str(time), staging, dev, id(cascade.files[0]) if cascade.files else None,
            cascade.root, cascade.project, values)


def solve_context(cascade: Cascade, tool: str | None = None, extras_layer: Layer | None = None,
                  time: str | int | None = None, staging: bool = False, dev: bool = False
                  ) -> ContextSolve:
    """Solve every tool of ``cascade`` with rez and make the image spec (see :func:`resolve`,
    whose errors it raises). Within a :func:`landscape.memo.scope` (``plan``, ``check``)
    an answer without command-line extras is memoised by :func:`_solve_memo_key`, so the
    thousands of shots of a sequence that only set metadata are solved once."""
    from .rezsolve import solve  # deferred: imports rez

    memo = table("solve_context") if extras_layer is None else None
    key = _solve_memo_key(cascade, tool, time, staging, dev) if memo is not None else None
    if memo is not None:
        hit = memo.get(key)
        if hit is not None:
            return hit[1]
    dev_repos = frozenset(real(d) for d in dev_repositories(cascade)) if dev else frozenset()
    paths = package_paths(cascade, staging, dev)
    for p in paths:
        note("repositories", p)
    rez_cfg = cascade.plain("rez", {}) or {}
    try:
        timestamp = parse_time(time if time is not None else rez_cfg.get("time"))
    except ValueError as e:
        raise LandscapeError(str(e)) from None
    manifests = manifest_loader(cascade)
    setups: dict[str, ToolSetup] = {}
    solutions: dict[str, Solution] = {}
    selected = tool or CONTEXT_TOOL
    # The selected setup first: its own error is the one to report.
    setups[selected] = compose(cascade, tool, extras_layer, manifests)
    solutions[selected] = _solve(setups[selected], paths, timestamp, solve)
    failures: dict[str, tuple[LandscapeError, list[str]]] = {}
    for path in [CONTEXT_TOOL] + tool_paths(cascade.node("tools")):
        if path == selected:
            continue
        try:
            setups[path] = compose(cascade, None if path == CONTEXT_TOOL else path,
                                   None, manifests)
            solutions[path] = _solve(setups[path], paths, timestamp, solve)
        except LandscapeError as e:
            for item in flatten(e):  # one report per distinct reason, naming every tool
                reason = getattr(item, "reason", None) or item.message
                failures.setdefault(reason, (item, []))[1].append(path)
    if failures:
        raise ErrorGroup(
            _also(item, names) for item, names in failures.values())

    image_cfg = cascade.plain("image", {}) or {}
    # dev packages are never in the image (so an edit never needs a build): it holds the
    # others, and bakes the rez setup of only the tools without a dev package
    is_dev = (lambda pkg: real(pkg.repository) in dev_repos) \
        if dev_repos else (lambda pkg: False)
    packages = [pkg for pkg in union_packages([s.packages for s in solutions.values()])
                if not is_dev(pkg)]
    delivery = root_delivery(cascade)
    image = ImageSpec(
        project=cascade.project,
        base=str(image_cfg.get("base") or DEFAULT_BASE),
        system_packages=system_packages(cascade, setups.values()),
        rez_version=str(rez_cfg.get("version") or DEFAULT_REZ_VERSION),
        packages=packages,
        tools={p: [pkg.exact_request for pkg in s.packages] for p, s in solutions.items()
               if not any(is_dev(pkg) for pkg in s.packages)},
        repositories=paths,
        labels={str(k): str(v) for k, v in (image_cfg.get("labels") or {}).items()},
        mounted=sorted({pkg.qualified for pkg in packages if delivery.mode(pkg) == "mount"}),
    )
    storage, refused = storage_mounts(cascade)
    result = ContextSolve(paths, timestamp, setups, solutions, image, storage, refused,
                          dev_repos)
    if memo is not None:
        memo[key] = (cascade.values, result)  # the values keep the ids of the key alive
    return result


def resolve(context: str | Path, *, tool: str | None = None, variants: Sequence[str] = (),
            extras: Extras | None = None, time: str | int | None = None,
            staging: bool = False, dev: bool = False, root: Path | None = None,
            cascade: Cascade | None = None, enforce_policy: bool = True) -> ResolvedContext:
    """Resolve ``context`` (docs/commands.md ``resolve``); see the module doc.

    Every tool of the context is solved (the image holds them all, :func:`solve_context`);
    command-line ``extras`` apply to the selected tool only. Raises
    :class:`~landscape.errors.ErrorGroup` / :class:`ConfigError` for config problems and
    :class:`ResolveError` (rez's reason, naming the tool) when a request cannot be solved.

    Policy (:mod:`landscape.policy`): every refused mount and every tool asking for what the
    policy forbids is collected in :attr:`ResolvedContext.policy_errors`. With
    ``enforce_policy`` (the default) those of the storage and of the selected tool are
    raised; ``check`` passes ``False`` to report them all at once.
    """
    cascade = cascade or build_cascade(context, variants, root)
    extras_layer = (extras or Extras()).layer()
    if tool is not None:
        tool = "/".join(p for p in tool.split("/") if p)
    solved = solve_context(cascade, tool, extras_layer, time, staging, dev)
    setups, solutions, image = solved.setups, solved.solutions, solved.image
    selected = tool or CONTEXT_TOOL
    selected_errors = solved.refused + policy_errors(cascade, [setups[selected]])
    if enforce_policy:
        ErrorGroup.raise_if_any(selected_errors)
    refused = selected_errors + policy_errors(
        cascade, [s for p, s in setups.items() if p != selected])
    setup = setups[selected]
    workdir = workdir_of(cascade, setup)
    env = image_base_environ()
    env.update(solutions[selected].environ(env))
    env.update(landscape_variables(cascade, tool, image, workdir))
    apply_actions(env, setup.env_actions())
    # the tool's dirs, then the context's (created in the tool's working directory)
    dirs = [str(d) for d in setup.field("dirs", [])] + \
        ([str(d) for d in cascade.plain("dirs", [])] if tool else [])
    return ResolvedContext(cascade, tool, setups, solutions, image, env, workdir,
                           list(dict.fromkeys(dirs)), solved.storage, solved.timestamp,
                           refused, solved.dev)


def landscape_variables(cascade: Cascade, tool: str | None, image: ImageSpec,
                        workdir: str | None) -> dict[str, str]:
    """The ``LANDSCAPE_*`` variables of a launch: root, context, one per level
    (``LANDSCAPE_SHOT=sh020``), tool, variants, workdir, image and the context file."""
    out = {VAR_ROOT: str(cascade.root), VAR_CONTEXT: str(cascade.context),
           VAR_CONTEXT_FILE: CONTEXT_FILE, VAR_IMAGE: image.tag}
    for lv in cascade.levels:
        out[level_variable(lv.level)] = lv.value
    if tool:
        out[VAR_TOOL] = tool
    if cascade.variants:
        out[VAR_VARIANTS] = ",".join(cascade.variants)
    if workdir:
        out[VAR_WORKDIR] = workdir
    return out


def _also(error: LandscapeError, paths: list[str]) -> LandscapeError:
    """``error`` noting that the other setups ``paths[1:]`` fail the same way."""
    if len(paths) > 1:
        others = ", ".join("the context" if p == CONTEXT_TOOL else repr(p) for p in paths[1:])
        error.message += f" (the same for {others})"
    return error


def _solve(setup: ToolSetup, paths: list[str], timestamp: int | None, solve) -> Solution:
    """Solve ``setup``'s requests; errors name the tool and where the culprit requests were
    written (those whose package rez names, else all)."""
    from .rezsolve import check_request

    errors = []
    for n in setup.requests:
        problem = check_request(str(n.value))
        if problem:
            errors.append(ConfigError(f"bad package request {n.value!r}: {problem}", n.loc))
    ErrorGroup.raise_if_any(errors)
    try:
        return solve(setup.request_strings, paths, timestamp)
    except ResolveError as e:
        what = "the context" if setup.path == CONTEXT_TOOL else f"tool {setup.path!r}"
        reason = getattr(e, "reason", e.message)
        named = [n for n in setup.requests
                 if re.search(rf"\b{re.escape(request_name(str(n.value)))}\b", reason)]
        origins = "; ".join(f"{n.value} from {n.loc.short}" for n in (named or setup.requests))
        err = ResolveError(f"{what}: {e.message}", hint=f"requested: {origins}" if origins
                           else None)
        err.reason = reason
        raise err from None

