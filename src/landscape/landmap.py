"""The Landscape map: one picture of a project — its config files, its contexts grouped by
image, the images (key and package set), the tools, the stack's services and their volumes.

:func:`map_graph` turns a :class:`~landscape.plan.BuildPlan`, the project's
:class:`~landscape.cascade.Cascade` and the stack's compose document (a plain dict, as
:func:`landscape.engine.stack.compose_document` makes it; ``None`` when the stack cannot be
written, with ``stack_error`` saying why) into a Graphviz graph (the ``graphviz`` Python
package's :class:`graphviz.Digraph`); :func:`render` lays it out with Graphviz's ``dot`` into
SVG (or returns the DOT source).

Readable at studio scale: contexts are not drawn one by one but **grouped** — one node per
(level, image) pair, with its count and its first and last context (a project of 10,000
shots on one image is one node ``shot × 10,000``); each level's config files are one node
listing at most :data:`FILES_SHOWN` of them and the count of the rest; broken contexts are
one red node per level, listing the first errors with their ``file:line``. Clusters hold
each level's files and each level's contexts.

Every text that reaches the graph comes from config files (hostile): node identifiers are
made here (``f1``, ``c3``…) and never from text, and every label goes through
:func:`label` — control characters dropped, each line cut to :data:`WIDTH` characters and
passed through :func:`graphviz.escape` (a backslash or ``<…>`` in a name is shown as it is,
never read as a DOT escape or an HTML-like label), the lines joined with DOT's ``\\l``
(left-justified line break); the ``graphviz`` package quotes the result. Graphviz writes SVG
with XML escaping of its own.
"""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .errors import LandscapeError

if TYPE_CHECKING:  # the graphviz package is imported when a map is drawn
    import graphviz

    from .cascade import Cascade
    from .plan import BuildPlan, PlannedContext

#: config files listed by name in a level's node; the rest are counted
FILES_SHOWN = 6
#: packages listed in an image's node; the rest are counted
PACKAGES_SHOWN = 12
#: broken contexts listed (with their first error) in a level's broken node
BROKEN_SHOWN = 3
#: lines of one broken context's error
ERROR_LINES = 4
#: characters of one label line (the rest is cut with …)
WIDTH = 72
#: seconds ``dot`` may take
DOT_TIMEOUT = 300

_COLOURS = {"file": "#e8eef7", "context": "#eef7e8", "image": "#fff4d6", "tool": "#f1e8f7",
            "service": "#e6f3f5", "volume": "#f5f5f5", "broken": "#fde2e1"}


def clean(text: object) -> str:
    """``text`` as one printable line of at most :data:`WIDTH` characters (control and
    other non-printable characters dropped, the rest cut with ``…``)."""
    s = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return s if len(s) <= WIDTH else s[:WIDTH - 1] + "…"


def label(*lines: object) -> str:
    """A multi-line DOT label: each line :func:`clean`, escaped with :func:`graphviz.escape`
    (backslashes and ``<…>`` lose any meaning to Graphviz) and ended by ``\\l``."""
    import graphviz

    return graphviz.nohtml("".join(str(graphviz.escape(clean(line))) + r"\l"
                                   for line in lines))


@dataclass
class ContextGroup:
    """The contexts of one ``level`` on one image ``key`` (``None``: the broken ones):
    ``paths`` relative to the project (``seq010/sh020``, ``.`` for the project itself),
    with their first error for broken ones (``errors``)."""

    level: str
    key: str | None
    paths: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _relative(path: Path, top: Path) -> str:
    try:
        rel = os.path.relpath(path, top)
    except ValueError:
        rel = str(path)
    return rel


def _depth(c: "PlannedContext", top: Path) -> int:
    rel = _relative(c.path, top)
    return 0 if rel == "." else rel.count(os.sep) + 1


def depth_levels(contexts: Iterable["PlannedContext"], top: Path) -> dict[int, str]:
    """Depth below ``top`` → the level most contexts at that depth declare (what a broken
    context, whose level is unknown, is drawn as)."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in contexts:
        if c.level:
            counts[_depth(c, top)][c.level] += 1
    return {d: max(names, key=lambda n: names[n]) for d, names in counts.items()}


def context_level(c: "PlannedContext", top: Path, by_depth: dict[int, str]) -> str:
    """The level a context is drawn at: the one its folder declares; for a broken one, the
    level of its depth (``by_depth``: :func:`depth_levels`); else its depth below ``top``
    (``depth 2``; ``top`` itself is ``project``)."""
    if c.level:
        return c.level
    d = _depth(c, top)
    if c.errors and d in by_depth:
        return by_depth[d]
    return "project" if d == 0 else f"depth {d}"


def group_contexts(contexts: Iterable["PlannedContext"], top: Path, root: Path | None = None
                   ) -> list[ContextGroup]:
    """The contexts grouped by (level, image key) in first-seen order (levels as
    :func:`context_level` says); broken contexts are grouped by level with key ``None``.
    Paths are relative to ``top``; ``top`` itself is named by its folder; paths in error
    texts are made relative to the studio ``root``."""
    contexts = list(contexts)
    by_depth = depth_levels(contexts, top)
    groups: dict[tuple[str, str | None], ContextGroup] = {}
    for c in contexts:
        rel = _relative(c.path, top)
        rel = top.name if rel == "." else rel
        variants = "".join(f" [{v}]" for v in c.variants)
        level = context_level(c, top, by_depth)
        key = None if c.errors else c.key
        g = groups.setdefault((level, key), ContextGroup(level, key))
        g.paths.append(rel + variants)
        if c.errors and len(g.errors) < BROKEN_SHOWN:
            g.errors.append(f"{rel}{variants}: {c.errors[0]}")
            if root is not None:
                g.errors[-1] = g.errors[-1].replace(str(root) + os.sep, "")
    return list(groups.values())


def _files_by_level(project: "Cascade", contexts: Iterable["PlannedContext"], top: Path
                    ) -> dict[str, list[str]]:
    """Config files by level: the project's own chain (studio → project) and each context's
    own files, relative to the studio root."""
    from .cascade import CONFIG_NAME

    root = project.root
    out: dict[str, list[str]] = defaultdict(list)
    seen: set[Path] = set()
    chain_levels = {lv.directory: lv.level for lv in project.levels}
    contexts = list(contexts)
    by_depth = depth_levels(contexts, top)
    for f in project.files:
        if f.path in seen:
            continue
        seen.add(f.path)
        level = "studio" if f.dir == root else chain_levels.get(f.dir, "project")
        out[level].append(_relative(f.path, root))
    for c in contexts:
        f = c.path / CONFIG_NAME
        if f in seen:
            continue
        seen.add(f)
        out[context_level(c, top, by_depth)].append(_relative(f, root))
    return out


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def map_graph(plan: "BuildPlan", project: "Cascade", stack: dict | None,
              stack_error: str | None = None) -> "graphviz.Digraph":
    """The map of ``plan`` (its contexts and images), ``project`` (its config files and
    tools) and the compose document ``stack`` (its services and volumes; ``None`` with
    ``stack_error``: drawn as one node saying why). Returns a :class:`graphviz.Digraph`
    (left to right); nothing is rendered here. Node counts stay bounded by levels × images +
    services + volumes, whatever the number of contexts."""
    import graphviz

    from .tools import tool_paths

    g = graphviz.Digraph("landscape", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25",
        "ranksep": "0.9", "label": label(f"Landscape map: project {project.project}"),
        "labelloc": "t"}, node_attr={"shape": "box", "style": "rounded,filled",
                                     "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"color": "#777777", "arrowsize": "0.6", "fontname": "Helvetica",
                   "fontsize": "8"})
    top = plan.top
    ids = iter(range(1, 1 << 62))

    def node(graph: Any, kind: str, *lines: object, **attrs: str) -> str:
        name = f"{kind[0]}{next(ids)}"
        graph.node(name, label(*lines), fillcolor=_COLOURS[kind], **attrs)
        return name

    groups = group_contexts(plan.contexts, top, project.root)
    levels_in_order: list[str] = []
    for lv in ["studio", *[lv.level for lv in project.levels]]:
        if lv not in levels_in_order:
            levels_in_order.append(lv)
    for grp in groups:
        if grp.level not in levels_in_order:
            levels_in_order.append(grp.level)

    # config files, one cluster per level
    files = _files_by_level(project, plan.contexts, top)
    file_nodes: dict[str, str] = {}
    with g.subgraph(name="cluster_files") as fc:
        fc.attr(label=label("config files"), style="dashed", color="#99aacc")
        for lv in [*levels_in_order, ""]:
            names = files.get(lv)
            if not names:
                continue
            shown = names[:FILES_SHOWN]
            more = [f"… {len(names) - len(shown):,} more"] if len(names) > len(shown) else []
            file_nodes[lv] = node(fc, "file", f"{lv or 'other'}: {_count(len(names), 'file')}",
                                  *shown, *more, shape="note")
        chain = [file_nodes[lv] for lv in [*levels_in_order, ""] if lv in file_nodes]
        for a, b in zip(chain, chain[1:]):
            fc.edge(a, b, style="dotted", arrowhead="none")

    # images
    image_nodes: dict[str, str] = {}
    with g.subgraph(name="cluster_images") as ic:
        ic.attr(label=label("images"), style="dashed", color="#ccaa66")
        for key, im in sorted(plan.images.items(), key=lambda kv: kv[1].spec.tag):
            spec = im.spec
            pkgs = [p.qualified for p in spec.packages]
            shown = pkgs[:PACKAGES_SHOWN]
            more = [f"… {len(pkgs) - len(shown)} more packages"] if len(pkgs) > len(shown) \
                else []
            state = {True: "built", False: "not built", None: ""}[im.exists]
            image_nodes[key] = node(
                ic, "image", spec.tag, f"key {key.removeprefix('sha256:')[:16]}",
                f"base {spec.base}",
                f"{_count(len(im.contexts), 'context')}" + (f", {state}" if state else ""),
                *shown, *more,
                f"{_count(len(spec.system_packages), 'system package')}", shape="box3d")

    # contexts, one cluster per level
    for i, lv in enumerate(levels_in_order):
        mine = [grp for grp in groups if grp.level == lv]
        if not mine:
            continue
        with g.subgraph(name=f"cluster_level_{i}") as lc:
            lc.attr(label=label(f"level {lv}"), style="rounded", color="#88aa88")
            for grp in mine:
                n = len(grp.paths)
                ends = grp.paths if n <= 3 else [grp.paths[0], "…", grp.paths[-1]]
                if grp.key is None:
                    wrapped = [line for e in grp.errors
                               for line in textwrap.wrap(" ".join(e.split()), WIDTH,
                                                         max_lines=ERROR_LINES,
                                                         placeholder=" …")]
                    name = node(lc, "broken", f"broken: {lv} × {n:,}", *wrapped,
                                *(["…"] if n > len(grp.errors) else []), color="#b00020",
                                penwidth="2")
                else:
                    name = node(lc, "context", f"{lv} × {n:,}", *ends)
                    g.edge(name, image_nodes[grp.key])
                if lv in file_nodes:
                    g.edge(file_nodes[lv], name, style="dotted", arrowhead="none")

    # tools
    tools = tool_paths(project.node("tools"))
    if tools:
        with g.subgraph(name="cluster_tools") as tc:
            tc.attr(label=label("tools"), style="dashed", color="#aa88cc")
            for t in tools:
                node(tc, "tool", t, shape="component")

    # the stack: services and their volumes
    with g.subgraph(name="cluster_stack") as sc:
        sc.attr(label=label(f"stack {project.project}"), style="dashed", color="#66aabb")
        if stack is None:
            node(sc, "broken", "the stack cannot be written:", stack_error or "unknown")
        else:
            _stack_nodes(g, sc, stack, image_nodes, plan, node)
    return g


def _volume_text(volume: Any) -> tuple[str, str]:
    """``(source, target and mode)`` of a compose volume (long or short form)."""
    if isinstance(volume, dict):
        mode = "ro" if volume.get("read_only") else "rw"
        return str(volume.get("source", "")), f"{volume.get('target', '')} ({mode})"
    parts = str(volume).split(":")
    if len(parts) >= 2:
        mode = parts[2] if len(parts) > 2 else "rw"
        return parts[0], f"{parts[1]} ({mode})"
    return "", str(volume)


def _stack_nodes(g: Any, sc: Any, stack: dict, image_nodes: dict[str, str], plan: "BuildPlan",
                 node: Any) -> None:
    by_tag = {im.spec.tag: image_nodes[k] for k, im in plan.images.items()}
    volumes: dict[str, str] = {}
    for name, svc in sorted((stack.get("services") or {}).items()):
        svc = svc if isinstance(svc, dict) else {}
        role = (svc.get("labels") or {}).get("io.landscape.role", "") \
            if isinstance(svc.get("labels"), dict) else ""
        ports = [str(p) for p in svc.get("ports") or []]
        image = str(svc.get("image") or ("built from " + str(svc.get("build"))
                                          if svc.get("build") else ""))
        s = node(sc, "service", f"service {name}", *([role] if role else []), image,
                 *([f"ports {', '.join(ports)}"] if ports else []), shape="box")
        if image in by_tag:
            g.edge(by_tag[image], s, style="dashed", label=label("runs"))
        for v in svc.get("volumes") or []:
            source, target = _volume_text(v)
            if not source:
                continue
            if source not in volumes:
                volumes[source] = node(sc, "volume", source, shape="cylinder")
            g.edge(s, volumes[source], label=label(target))


def render(graph: "graphviz.Digraph", fmt: str = "svg") -> bytes:
    """The map laid out by Graphviz's ``dot`` as ``fmt`` (``svg``, ``png``, ``pdf``), or
    its DOT source for ``dot`` (Graphviz's ``dot -T<fmt>`` reads the source on stdin).
    Raises :class:`LandscapeError` in one line when ``dot`` is not installed, fails or takes
    more than :data:`DOT_TIMEOUT` seconds."""
    if fmt == "dot":
        return graph.source.encode()
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        raise LandscapeError("drawing the map needs Graphviz's dot program, which is not on "
                             "PATH", hint="install Graphviz (Debian: apt install graphviz), "
                             "or write the DOT source with --out map.dot")
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=graph.source.encode(),
                              capture_output=True, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise LandscapeError(f"Graphviz's dot took more than {DOT_TIMEOUT} s") from None
    except OSError as e:
        raise LandscapeError(f"Graphviz's dot cannot run: {e.strerror or e}") from None
    if done.returncode != 0:
        text = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = clean(text[-1]) if text else f"exit {done.returncode}"
        raise LandscapeError(f"Graphviz's dot failed: {why}")
    return done.stdout
