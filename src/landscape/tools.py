"""Tools and the layers of one tool's environment (docs/config.md).

A tool path is ``blender`` or ``blender/render`` (a variant, nesting as ``fx/sim``). Its
effective definition is the tool merged with each variant on the way (a variant inherits
everything from its parent, fields merging with :data:`landscape.merge.TOOL_FIELDS`).

Its environment is built from layers, lowest first: manifest (and the manifest's entry for
the tool's workflow) → context (the cascade's ``packages``/``env``) → workflow → tool →
each variant → command-line extras. Packages merge by name across layers (a layer's own
requests are all kept, several of one name included: rez reads them as one request list),
env actions accumulate; a layer with ``override: true`` drops every layer below it. :func:`compose`
returns a :class:`ToolSetup` with the final request list and env actions, every item still
carrying the file and line that set it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Callable

from .cascade import Cascade
from .envactions import EnvAction
from .errors import ConfigError, LandscapeError, Location
from .manifests import Manifest, load_manifest
from .merge import ENV, PACKAGES, VARIANT_OVER_TOOL
from .nodes import Node

#: Setup name of the context's own environment (no tool). Outside the grammar of tool names
#: (which start with a letter, digit or ``_``), so no config can name a tool like it.
CONTEXT_TOOL = ".context"


@dataclass
class Layer:
    """One layer: a ``name`` for ``--explain`` (``manifest vfx2024``, ``tool blender``), its
    ``packages`` node, its ``env`` node in merged form (variable → list of action nodes, as
    :class:`landscape.merge.Env` makes it) and whether it ``override``s the layers below."""

    name: str
    packages: Node | None = None
    env: Node | None = None
    override: bool = False


@dataclass
class ToolSetup:
    """A tool (or the context itself) ready to solve.

    ``path`` is the tool path (``blender/render``) or :data:`CONTEXT_TOOL`; ``node`` the
    effective tool definition (``None`` for the context); ``layers`` the layers used (after
    overrides); ``requests`` the final request nodes; ``env`` the merged env-action node
    (variable → list of action nodes); ``manifest`` the manifest name used.
    """

    path: str
    node: Node | None
    layers: list[Layer]
    requests: list[Node]
    env: Node | None
    manifest: str | None
    workflow: str | None = None
    manifest_from: Location | None = None

    @property
    def name(self) -> str:
        """The tool's name without variants (``blender`` for ``blender/render``)."""
        return self.path.split("/", 1)[0]

    @property
    def request_strings(self) -> list[str]:
        return [str(n.value) for n in self.requests]

    def field(self, key: str, default: Any = None) -> Any:
        """Plain value of a field of the effective tool definition."""
        n = self.node.get(key) if self.node is not None else None
        return n.plain() if n is not None else default

    def field_node(self, key: str) -> Node | None:
        """The node of a field of the effective tool definition (for its location)."""
        return self.node.get(key) if self.node is not None else None

    @property
    def command(self) -> list[str]:
        """The tool's argv: ``command`` (a string is split with shlex) then ``args``.
        Raises :class:`ConfigError` at the ``command`` when shlex cannot split it."""
        cmd = self.field("command")
        if cmd is None:
            argv = [self.name]
        elif isinstance(cmd, str):
            try:
                argv = shlex.split(cmd)
            except ValueError as e:  # an unbalanced quote
                n = self.field_node("command")
                raise ConfigError(f"command {cmd!r} cannot be split into arguments: {e}",
                                  n.loc if n is not None else None,
                                  ("tools", *self.path.split("/"), "command")) from None
        else:
            argv = [str(c) for c in cmd]
        return argv + [str(a) for a in self.field("args", [])]

    def env_actions(self) -> list[EnvAction]:
        """The env actions of all layers, in application order."""
        return env_actions(self.env)


def env_actions(env: Node | None) -> list[EnvAction]:
    """Flatten a merged env node into :class:`EnvAction` objects, in application order
    (variables in first-set order, each with its accumulated actions)."""
    out: list[EnvAction] = []
    if env is None:
        return out
    for var, actions in env.items():
        for a in actions.value:
            if a.tag == "remove":
                continue  # a marker: earlier actions on this variable were forgotten
            op = {None: "set", "replace": "set"}.get(a.tag, a.tag)
            value = a.plain() if op != "unset" else None
            out.append(EnvAction(var, op, value, a.loc.short))
    return out


def tool_paths(tools: Node | None) -> list[str]:
    """Every tool path of a merged ``tools`` node: tools and their (nested) variants."""
    out: list[str] = []

    def walk(prefix: str, node: Node) -> None:
        out.append(prefix)
        variants = node.get("variants")
        for name, child in (variants.items() if variants is not None else ()):
            walk(f"{prefix}/{name}", child)

    for name, node in (tools.items() if tools is not None else ()):
        walk(name, node)
    return out


def _without_variants(node: Node) -> Node:
    return node.with_value({k: v for k, v in node.items() if k != "variants"})


def effective_tool(cascade: Cascade, path: str) -> tuple[Node, list[tuple[str, Node]]]:
    """The effective definition of tool ``path`` and its own nodes per level.

    Returns ``(merged_node, [(layer_name, own_node), …])`` — the tool first, then each
    variant. Raises :class:`ConfigError` for an unknown tool or variant, naming the known
    ones.
    """
    tools = cascade.node("tools")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise LandscapeError("empty tool name")
    known = list(tools.value) if tools is not None else []
    if tools is None or parts[0] not in tools.value:
        raise LandscapeError(f"unknown tool {parts[0]!r} for {cascade.context}",
                             hint="known tools: " + (", ".join(known) or "none"))
    own = tools.value[parts[0]]
    merged = _without_variants(own)  # already merged by the cascade
    chain = [(f"tool {parts[0]}", own)]
    scope = own
    for i, v in enumerate(parts[1:], start=1):
        variants = scope.get("variants")
        if variants is None or v not in variants.value:
            names = list(variants.value) if variants is not None else []
            raise LandscapeError(f"tool {'/'.join(parts[:i])!r} has no variant {v!r}",
                                 hint="variants: " + (", ".join(names) or "none"))
        vnode = variants.value[v]
        merged = VARIANT_OVER_TOOL.merge(merged, _without_variants(vnode),
                                         ("tools", *parts[:i], v))
        chain.append((f"variant {'/'.join(parts[:i + 1])}", vnode))
        scope = vnode
    return merged, chain


ManifestLoader = Callable[[str, Location | None], Manifest]


def manifest_loader(cascade: Cascade) -> ManifestLoader:
    """A memoised loader of manifests along the cascade's ``manifests_path``.

    A folder that a file below the studio root adds must lie inside the studio, and a
    manifest file must really (symlinks resolved) lie inside the studio or a folder the root
    names: a manifest is read and its content may show in errors. Raises
    :class:`ConfigError` at the entry that breaks this when a manifest is loaded."""
    from .policy import real, under

    node = cascade.node("manifests_path")
    items = node.value if node is not None and node.is_list else []
    search = [str(n.value) for n in items]
    inside = [real(cascade.root)] + [real(p) for p in cascade.root_paths("manifests_path")]
    outside = [n for n in items if not any(under(real(str(n.value)), d) for d in inside)]
    cache: dict[str, Manifest] = {}

    def load(name: str, at: Location | None) -> Manifest:
        if outside:
            n = outside[0]
            raise ConfigError(f"manifest folder {n.value} is outside the studio root",
                              n.loc, ("manifests_path",))
        if name not in cache:
            cache[name] = load_manifest(name, search, at, inside)
        return cache[name]

    return load


def _flag(node: Node | None, key: str) -> bool:
    n = node.get(key) if node is not None else None
    return bool(n is not None and n.value is True)


def compose(cascade: Cascade, path: str | None, extras: Layer | None = None,
            manifests: ManifestLoader | None = None) -> ToolSetup:
    """Compose the layers of tool ``path`` (``None``: the context's own environment).

    Raises :class:`ConfigError`/:class:`LandscapeError` for unknown tools, variants,
    workflows or manifests, and for merge-tag misuse inside a layer.
    """
    manifests = manifests or manifest_loader(cascade)
    node: Node | None = None
    chain: list[tuple[str, Node]] = []
    workflow_name: str | None = None
    workflow: Node | None = None
    if path is not None:
        node, chain = effective_tool(cascade, path)
        wf = node.get("workflow")
        if wf is not None:
            workflow_name = str(wf.value)
            workflows = cascade.node("workflows")
            workflow = workflows.get(workflow_name) if workflows is not None else None

    manifest_node = cascade.node("manifest")
    manifest_name = str(manifest_node.value) if manifest_node is not None else None
    manifest_at = manifest_node.loc if manifest_node is not None else None
    if workflow is not None and workflow.get("manifest") is not None:
        manifest_name = str(workflow.get("manifest").value)
        manifest_at = workflow.get("manifest").loc

    layers: list[Layer] = []
    manifest_workflow: Node | None = None
    if manifest_name:
        m = manifests(manifest_name, manifest_at)
        layers.append(Layer(f"manifest {manifest_name}", m.node("packages"), m.node("env")))
        mwfs = m.node("workflows")
        if workflow_name and mwfs is not None:
            manifest_workflow = mwfs.get(workflow_name)
            if manifest_workflow is not None:
                layers.append(Layer(f"manifest {manifest_name} workflow {workflow_name}",
                                    manifest_workflow.get("packages"),
                                    manifest_workflow.get("env"),
                                    _flag(manifest_workflow, "override")))
    layers.append(Layer("context", cascade.node("packages"), cascade.node("env")))
    if workflow_name is not None:
        if workflow is None and manifest_workflow is None:
            wf = node.get("workflow")
            known = list(cascade.node("workflows").value) if cascade.node("workflows") else []
            raise ConfigError(f"unknown workflow {workflow_name!r}", wf.loc,
                              ("tools", *path.split("/"), "workflow"),
                              hint="known workflows: " + (", ".join(known) or "none"))
        if workflow is not None:
            layers.append(Layer(f"workflow {workflow_name}", workflow.get("packages"),
                                workflow.get("env"), _flag(workflow, "override")))
    for name, own in chain:
        layers.append(Layer(name, own.get("packages"), own.get("env"), _flag(own, "override")))
    if extras is not None:
        layers.append(extras)

    cut = max((i for i, layer in enumerate(layers) if layer.override), default=0)
    layers = layers[cut:]
    requests: Node | None = None
    env: Node | None = None
    for layer in layers:
        lpath = ("layer", layer.name)
        if layer.packages is not None:
            requests = PACKAGES.merge(requests, layer.packages, lpath + ("packages",))
        if layer.env is not None:
            env = ENV.extend(env, layer.env)
    return ToolSetup(
        path=path or CONTEXT_TOOL, node=node, layers=layers,
        requests=list(requests.value) if requests is not None else [],
        env=env, manifest=manifest_name
        if any(layer.name.startswith("manifest") for layer in layers) else None,
        workflow=workflow_name, manifest_from=manifest_at)
