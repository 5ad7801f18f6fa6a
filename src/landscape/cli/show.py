"""Human-readable views of resolved contexts and build plans (Rich)."""

from __future__ import annotations

import json
import os

from rich.table import Table

from ..context import ResolvedContext, image_base_environ
from ..errors import rel
from ..overrides import is_companion
from ..plan import BuildPlan
from .output import out, safe as escape


def _kv(key: str, value: str) -> None:
    out.print(f"[bold]{key:<10}[/] {escape(value)}")


def show_resolved(rc: ResolvedContext, explain: bool = False) -> None:
    """Print a resolved context: where it is, what it resolved to, and what a launch gets."""
    c = rc.cascade
    _kv("context", str(c.context) + "".join(f" [{v}]" for v in c.variants))
    if explain and c.levels:
        out.print("[bold]levels[/]")
        for lv in c.levels:
            _explained_line(f"{lv.level}={lv.value}", lv.origin.short)
    else:
        _kv("levels", ", ".join(f"{lv.level}={lv.value}" for lv in c.levels) or "-")
    _kv("files", "\n           ".join(rel(f.path) for f in c.files))
    setup = rc.selected
    _kv("tool", rc.tool or "- (the context's own environment; --tool T for a tool)")
    _kv("manifest", setup.manifest or "-")
    if setup.workflow:
        _kv("workflow", setup.workflow)
    _kv("layers", " → ".join(layer.name for layer in setup.layers))
    if explain:
        out.print("[bold]requests[/]")
        for n in setup.requests:
            out.print(f"  {escape(str(n.value)):<28} [dim]{escape(n.loc.short)}[/]")
    else:
        _kv("requests", " ".join(setup.request_strings) or "-")
    stacks = rc.solution.overrides
    table = Table("package", "version", "repository", box=None, padding=(0, 2, 0, 0))
    for p in rc.solution.packages:
        if is_companion(p.name):
            continue  # shown with the package it overrides
        version = p.version + (f"[{p.variant}]" if p.variant is not None else "")
        if p.name in stacks:
            version += f" + {len(stacks[p.name])} override(s)"
        table.add_row(escape(p.name), escape(version), escape(rel(p.repository)))
    out.print("[bold]packages[/]")
    out.print(table)
    for family, layers in stacks.items():
        base = next(p for p in rc.solution.packages if p.name == family)
        out.print(escape(f"  {family} {base.version} + overrides from "
                         + " → ".join(rel(layer.repository) for layer in layers)
                         + (" (deepest last)" if len(layers) > 1 else "")))
    _kv("image", f"{rc.image.tag}  ({rc.image.key[:19]}…, base {rc.image.base})")
    _kv("workdir", rc.workdir or f"- ({missing_level(rc)})")
    if explain:
        _explain_storage_metadata(rc)
    else:
        for m in rc.storage:
            same = m.source == m.target
            _kv("storage", m.source + ("" if same else f" → {m.target}") + f" ({m.mode})")
        if rc.metadata:
            _kv("metadata", json.dumps(rc.metadata, default=str))
    tools = rc.tools_json()
    _kv("tools", ", ".join(f"{n}" + (f" ({'/'.join(t['variants'])})" if t.get("variants") else "")
                            for n, t in tools.items()) or "-")
    shown = {k: v for k, v in rc.env.items() if not k.startswith("REZ_")}
    secrets = rc.secrets  # where each value will come from, never the value
    shown.update({s.name: s.masked() for s in secrets})
    out.print(f"[bold]env[/]       [dim]({len(rc.env)} variables; REZ_* hidden; "
              "--json shows all)[/]")
    actions: dict[str, list[str]] = {}
    if explain:
        for a in rc.solution.env_actions(image_base_environ()) + setup.env_actions():
            actions.setdefault(a.var, []).append(f"{a.op} @ {a.origin}")
        for s in secrets:
            actions[s.name] = [f"secret @ {s.location.short}"]
    for k in sorted(shown):
        out.print(escape(f"  {k}={shown[k]}"), end="")
        if k in actions:
            out.print("  [dim]" + escape("; ".join(actions[k])) + "[/]")
        else:
            out.print()


def _explained_line(text: str, origin: str, width: int = 28) -> None:
    """``  TEXT  file:line`` (both escaped: config values are untrusted)."""
    out.print(f"  {escape(text):<{width}} [dim]{escape(origin)}[/]")


def _explain_storage_metadata(rc: ResolvedContext) -> None:
    """Storage mounts and metadata (dotted keys) with the ``file:line`` each came from — the
    text of ``resolve --explain``'s ``storage`` and ``metadata`` (docs/json.md)."""
    data = rc.to_json(explain=True)
    if data["storage"]:
        out.print("[bold]storage[/]")
        for item in data["storage"]:
            m = item["value"]
            same = m["source"] == m["target"]
            _explained_line(m["source"] + ("" if same else f" → {m['target']}")
                            + f" ({m['mode']})", item["from"])
    if rc.metadata:
        out.print("[bold]metadata[/]")
        for key, leaf in _leaves(data["metadata"]):
            value = json.dumps(leaf["value"], default=str)
            _explained_line(f"{key}: {value}", leaf["from"])
            if leaf.get("items_from"):  # a list merged from several files: each item's
                for i, where in enumerate(leaf["items_from"]):
                    _explained_line(f"  [{i}]", where)


def _leaves(tree: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """The ``{"value", "from"}`` leaves of an explained map, by dotted key."""
    out: list[tuple[str, dict]] = []
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and "from" in v and "value" in v and set(v) <= {
                "value", "from", "items_from"}:
            out.append((key, v))
        elif isinstance(v, dict):
            out.extend(_leaves(v, key + "."))
    return out


def missing_level(rc: ResolvedContext) -> str:
    """Why ``rc`` (whose selected tool's working directory is ``None``) has no working
    directory: the template's missing field, and — for a folder without a config file of
    its own — that nothing declares the folder's level (no ``child_level`` above it)."""
    from ..context import workdir_of
    from ..errors import LandscapeError

    try:
        workdir_of(rc.cascade, rc.selected, strict=True)
        why = "its template needs a level this context lacks"
    except LandscapeError as e:
        why = e.message
    c = rc.cascade
    if not any(f.dir == c.context for f in c.files):
        why += (f"; {c.context.name} has no landscape.yaml of its own, and the folder above "
                "it names no `child_level` for its sub-folders, so it has no level")
    return why


def show_plan(p: BuildPlan) -> None:
    """Print a plan: images (tag, state, packages, contexts) and contexts that failed."""
    for key, im in p.images.items():
        state = {True: "[green]exists[/]", False: "[yellow]to build[/]", None: "?"}[im.exists]
        out.print(f"[bold]{im.spec.tag}[/]  {state}  [dim]{key[:19]}…[/]")
        out.print("  packages: " + escape(" ".join(x.qualified for x in im.spec.packages)))
        out.print("  os:       " + escape(" ".join(im.spec.system_packages)))
        names = [os.path.relpath(c.path, p.top) + "".join(f"[{v}]" for v in c.variants)
                 for c in im.contexts]
        out.print(f"  contexts ({len(names)}): " + escape(", ".join(names)))
    for c in p.failed:
        out.print(f"[red]✗ {escape(c.label)}[/]")
        for e in c.errors:
            out.print("    " + escape(str(e)))
    if p.engine_error:
        out.print(f"[yellow]which images exist is unknown: {escape(p.engine_error)}[/]")
    todo = sum(1 for im in p.images.values() if im.exists is False)
    out.print(f"{len(p.contexts)} contexts → {len(p.images)} images ({todo} to build), "
              f"{len(p.failed)} contexts failed")


def show_diff(d: dict) -> None:
    """Print a diff: ``-`` lines for context A, ``+`` lines for context B, per section."""
    out.print(f"[bold]a[/] {escape(d['a'])}\n[bold]b[/] {escape(d['b'])}"
              + (f"\n[bold]tool[/] {escape(d['tool'])}" if d.get("tool") else ""))
    if d["same"]:
        out.print("no differences")
        return
    for section in ("packages", "requests", "manifest", "image", "workdir", "metadata",
                    "tools", "storage", "env"):
        changes = d.get(section)
        if not changes:
            continue
        out.print(f"[bold]{section}[/]")
        for key, change in changes.items():
            for side, colour, mark in (("a", "red", "-"), ("b", "green", "+")):
                if change[side] is not None:
                    value = change[side] if isinstance(change[side], str) else \
                        json.dumps(change[side], default=str)
                    out.print(f"  [{colour}]{mark} {escape(key)}: {escape(value)}[/]")
