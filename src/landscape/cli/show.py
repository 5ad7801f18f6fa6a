"""Human-readable views of resolved contexts and build plans (Rich)."""

from __future__ import annotations

import json
import os

from rich.markup import escape
from rich.table import Table

from ..context import ResolvedContext
from ..errors import rel
from ..plan import BuildPlan
from .output import out


def _kv(key: str, value: str) -> None:
    out.print(f"[bold]{key:<10}[/] {escape(value)}")


def show_resolved(rc: ResolvedContext, explain: bool = False) -> None:
    """Print a resolved context: where it is, what it resolved to, and what a launch gets."""
    c = rc.cascade
    _kv("context", str(c.context) + "".join(f" [{v}]" for v in c.variants))
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
    table = Table("package", "version", "repository", box=None, padding=(0, 2, 0, 0))
    for p in rc.solution.packages:
        table.add_row(p.name, p.version + (f"[{p.variant}]" if p.variant is not None else ""),
                      rel(p.repository))
    out.print("[bold]packages[/]")
    out.print(table)
    _kv("image", f"{rc.image.tag}  ({rc.image.key[:19]}…, base {rc.image.base})")
    _kv("workdir", rc.workdir or "- (its template needs a level this context lacks)")
    for m in rc.storage:
        same = m["source"] == m["target"]
        _kv("storage", f"{m['source']}" + ("" if same else f" → {m['target']}") + f" ({m['mode']})")
    if rc.metadata:
        _kv("metadata", json.dumps(rc.metadata, default=str))
    tools = rc.tools_json()
    _kv("tools", ", ".join(f"{n}" + (f" ({'/'.join(t['variants'])})" if t.get("variants") else "")
                            for n, t in tools.items()) or "-")
    shown = {k: v for k, v in rc.env.items() if not k.startswith("REZ_")}
    out.print(f"[bold]env[/]       [dim]({len(rc.env)} variables; REZ_* hidden; --json shows all)[/]")
    actions: dict[str, list] = {}
    for a in setup.env_actions():
        actions.setdefault(a.var, []).append(a)
    for k in sorted(shown):
        line = f"  {k}={shown[k]}"
        out.print(escape(line), end="")
        if explain and k in actions:
            out.print("  [dim]" + escape("; ".join(f"{a.op} @ {a.origin}" for a in actions[k]))
                      + "[/]")
        else:
            out.print()


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
