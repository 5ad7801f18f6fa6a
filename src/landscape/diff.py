"""``landscape diff``: what differs between two resolved contexts (docs/commands.md).

Compares packages (name → version and repository, from rez's solutions — not rez's
``get_resolve_diff``, which breaks when the contexts search different packages paths),
requests, environment, metadata (flattened to dotted
keys), tool definitions, storage, working directory, manifest and image key. Every entry
is ``{"a": value or None, "b": value or None}``; ``None`` means absent on that side.
"""

from __future__ import annotations

from typing import Any

from .context import ResolvedContext, jsonable
from .overrides import is_companion


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _changes(a: dict, b: dict) -> dict[str, dict]:
    return {k: {"a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)}


def _packages(solution) -> dict[str, str]:
    """name → ``version[variant] (repository)``; override companions are folded into the
    package they override (``+ overrides from …``)."""
    out = {}
    for p in solution.packages:
        if is_companion(p.name):
            continue
        text = p.version + (f"[{p.variant}]" if p.variant is not None else "") + \
            f" ({p.repository})"
        if p.name in solution.overrides:
            text += " + overrides from " + ", ".join(
                layer.repository for layer in solution.overrides[p.name])
        out[p.name] = text
    return out


def _tools(rc: ResolvedContext) -> dict[str, Any]:
    """Every tool's fields, requests, resolved packages and env actions as dotted keys."""
    out: dict[str, Any] = {}
    for path, setup in rc.setups.items():
        if setup.node is None:
            continue
        fields = {k: n.plain() for k, n in setup.node.items() if k not in ("env", "variants")}
        fields["requests"] = setup.request_strings
        fields["packages"] = _packages(rc.solutions[path])
        fields["env"] = {}
        for a in setup.env_actions():
            fields["env"].setdefault(a.var, []).append(
                a.op if a.op == "unset" else f"{a.op} {a.value}")
        out.update(_flatten(jsonable(fields), path))
    return out


def diff(a: ResolvedContext, b: ResolvedContext) -> dict:
    """The differences between ``a`` and ``b`` by section; sections without a difference are
    left out. ``same`` says whether nothing differs."""
    sections = {
        "packages": _changes(_packages(a.solution), _packages(b.solution)),
        "requests": _changes({"requests": a.selected.request_strings},
                             {"requests": b.selected.request_strings}),
        "env": _changes(a.env, b.env),
        "metadata": _changes(_flatten(jsonable(a.metadata)), _flatten(jsonable(b.metadata))),
        "tools": _changes(_tools(a), _tools(b)),
        "storage": _changes({m.target: m.to_json() for m in a.storage},
                            {m.target: m.to_json() for m in b.storage}),
        "workdir": _changes({"workdir": a.workdir}, {"workdir": b.workdir}),
        "manifest": _changes({"manifest": a.selected.manifest}, {"manifest": b.selected.manifest}),
        "image": _changes({"key": a.image.key, "tag": a.image.tag},
                          {"key": b.image.key, "tag": b.image.tag}),
    }
    out: dict[str, Any] = {"a": str(a.cascade.context), "b": str(b.cascade.context),
                           "tool": a.tool}
    out.update({k: v for k, v in sections.items() if v})
    out["same"] = not any(sections.values())
    return out
