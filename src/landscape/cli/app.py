"""The Typer application: one function per command of docs/commands.md.

Each command parses its options, calls one function of the layers below and prints the
result. Heavy modules (rez, the Docker SDK, Jinja2, jsonschema) are imported inside the
commands that need them, so ``landscape --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .complete import complete_folder, complete_tool, complete_variant, use_bash_script
from .output import BuildProgress, note, out, print_json, safe
from ..names import VAR_ROOT

app = typer.Typer(
    name="landscape",
    help="Reproducible per-project production environments in containers: cascading YAML "
    "configs resolved with rez, pinned Docker images, Compose stacks, DCC launches.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
use_bash_script()
base_app = typer.Typer(help="Base OS images for hosts that cannot pull from a registry.",
                       no_args_is_help=True)
app.add_typer(base_app, name="base")

def _folder(**kw):
    """A folder argument of a command, completed with the folders below what is typed
    (:func:`~landscape.cli.complete.complete_folder`)."""
    return typer.Argument(autocompletion=complete_folder, **kw)


RootOpt = Annotated[Optional[Path], typer.Option(
    "--root", envvar=VAR_ROOT, autocompletion=complete_folder,
    help="Studio root, when it is not above the path (relative paths are taken from it).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ToolOpt = Annotated[Optional[str], typer.Option(
    "--tool", "-t", autocompletion=complete_tool,
    help="Tool, optionally with variants: blender, blender/render.")]
VariantOpt = Annotated[list[str], typer.Option(
    "--variant", autocompletion=complete_variant,
    help="Apply landscape.<VARIANT>.yaml files (repeatable, in order).")]


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"landscape {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    if debug:
        os.environ["LANDSCAPE_DEBUG"] = "1"


# -- config ------------------------------------------------------------------------------

@app.command()
def init(directory: Annotated[Path, _folder(help="Folder of the new studio root.")]
         ) -> None:
    """Scaffold a studio root with a commented example."""
    from ..scaffold import scaffold

    for path in scaffold(directory):
        note(f"created {safe(path)}")


@app.command()
def check(path: Annotated[Path, _folder(help="Folder to check.")] = Path("."),
          root: RootOpt = None, json: JsonOpt = False) -> None:
    """Validate every config file and every context's resolution below PATH; report all errors."""
    from ..check import check as run_check

    report = run_check(path, root)
    if json:
        print_json(report.to_json())
    else:
        from ..errors import ErrorGroup

        if report.errors:
            from .output import print_error

            print_error(ErrorGroup(report.errors))
        note(f"{len(report.files)} files, {report.contexts} contexts "
             f"({report.contexts_ok} ok): " + ("[green]ok[/]" if report.ok else
                                                f"[red]{len(report.errors)} error(s)[/]"))
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def schema(manifest: Annotated[bool, typer.Option(
        "--manifest", help="The schema of manifest files instead.")] = False) -> None:
    """Print the JSON Schema of landscape.yaml (for editors; also in schema/ of the repo)."""
    from ..schema import schema_json

    sys.stdout.write(schema_json(manifest) + "\n")


@app.command()
def resolve(
    context: Annotated[Path, _folder(help="Context directory (need not exist).")],
    tool: ToolOpt = None,
    variant: VariantOpt = [],
    add: Annotated[list[str], typer.Option("--add", "-a", help="Extra package request.")] = [],
    env: Annotated[list[str], typer.Option("--env", help="Extra env: KEY=VALUE.")] = [],
    time: Annotated[Optional[str], typer.Option(
        "--time", help="Ignore packages released after: epoch, ISO date, or -10d/-6h/-30m.")
    ] = None,
    staging: Annotated[bool, typer.Option("--staging", help="Search rez.staging_path first.")
                       ] = False,
    dev: Annotated[bool, typer.Option("--dev", help="Search rez.dev_path first.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show where each value came from."
                                          )] = False,
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Resolve a context: packages (rez), environment, tools, metadata, storage, image."""
    def fresh():
        from ..context import Extras, resolve as run_resolve

        return run_resolve(context, tool=tool, variants=variant, extras=Extras(add, env),
                           time=time, staging=staging, dev=dev, root=root)

    if json:  # from the resolve cache when nothing it was made from changed
        from .. import resolvecache

        def answers() -> dict:
            rc = fresh()
            out = {"json": rc.to_json(), "explain": rc.to_json(explain=True)}
            if rc.tool is not None:
                out["launch"] = rc.launch_inputs().to_record()
            return out

        req = resolvecache.request("resolve", context, tool=tool, variants=variant, add=add,
                                   env=env, time=time, staging=staging, dev=dev, root=root)
        print_json(resolvecache.resolved(req, "explain" if explain else "json", answers))
    else:
        rc = fresh()
        from .show import show_resolved

        show_resolved(rc, explain)


@app.command()
def diff(
    context_a: Annotated[Path, _folder(help="First context.")],
    context_b: Annotated[Path, _folder(help="Second context.")],
    tool: ToolOpt = None,
    variant: VariantOpt = [],
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """What differs between two resolved contexts: packages, env, metadata, tools, image.
    Exit 0 when they are the same, 1 when they differ, 2 when one cannot be resolved (like
    diff(1))."""
    from ..context import resolve as run_resolve
    from ..diff import diff as run_diff
    from ..errors import LandscapeError

    try:
        result = run_diff(run_resolve(context_a, tool=tool, variants=variant, root=root),
                          run_resolve(context_b, tool=tool, variants=variant, root=root))
    except (LandscapeError, OSError) as e:  # "trouble", as diff(1) says: not "they differ"
        _print_failure(e)
        raise typer.Exit(DIFF_TROUBLE) from None
    if json:
        print_json(result)
    else:
        from .show import show_diff

        show_diff(result)
    raise typer.Exit(0 if result["same"] else 1)


#: the exit code of ``diff`` when a context cannot be resolved (1 means "they differ")
DIFF_TROUBLE = 2


def _print_failure(e: BaseException) -> None:
    """Print ``e`` (a :class:`~landscape.errors.LandscapeError` or an ``OSError``) as the
    entry point prints user errors (its traceback too with ``--debug``)."""
    from ..errors import LandscapeError
    from .output import print_error

    if os.environ.get("LANDSCAPE_DEBUG"):
        import traceback

        traceback.print_exception(e)
    if not isinstance(e, LandscapeError):
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        e = LandscapeError(f"{getattr(e, 'strerror', None) or e}{where}")
    print_error(e)


# -- images ------------------------------------------------------------------------------

@app.command()
def plan(project: Annotated[Path, _folder(help="Project (or any) folder.")],
         root: RootOpt = None, json: JsonOpt = False) -> None:
    """Every context below PROJECT, its image key, and which images exist or must be built."""
    from ..engine.images import image_exists
    from ..plan import make_plan
    from .output import PlanProgress

    with PlanProgress() as progress:
        p = make_plan(project, root=root, exists=image_exists, progress=progress)
    if json:
        print_json(p.to_json())
    else:
        from .show import show_plan

        show_plan(p)
    raise typer.Exit(1 if p.failed else 0)


#: what ``landscape map --out`` writes, by the file's suffix
MAP_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


@app.command("map")
def map_command(
    project: Annotated[Path, _folder(help="Project (or any) folder.")],
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Where to write the map: .svg, .png, .pdf, or .dot (the DOT "
        "source; needs no Graphviz). Default: SVG on stdout.")] = None,
    root: RootOpt = None,
) -> None:
    """Draw the project as one picture: config files per level, contexts grouped by image,
    images with their packages, tools, the stack's services and volumes (Graphviz)."""
    from ..cascade import build_cascade
    from ..engine.images import image_exists
    from ..engine.stack import compose_document
    from ..errors import LandscapeError
    from ..landmap import map_graph, render as render_map
    from ..plan import make_plan
    from ..resources import atomic_write
    from .output import PlanProgress

    fmt = "svg"
    if out_file is not None:
        fmt = MAP_FORMATS.get(out_file.suffix.lower(), "")
        if not fmt:
            _usage_error("map", f"--out {out_file}: the name must end in "
                         f"{', '.join(MAP_FORMATS)}")
    with PlanProgress() as progress:
        plan = make_plan(project, root=root, exists=image_exists, progress=progress)
    cascade = build_cascade(project, (), root)
    try:
        stack, stack_error = compose_document(plan, cascade), None
    except LandscapeError as e:
        stack, stack_error = None, str(e).splitlines()[0]
    data = render_map(map_graph(plan, cascade, stack, stack_error), fmt)
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        atomic_write(out_file, data)
        note(f"[green]✓[/] map of {len(plan.contexts):,} context(s), {len(plan.images)} "
             f"image(s) written to {safe(str(out_file))} ({len(data):,} bytes)")
    if plan.failed:
        note(f"[yellow]{len(plan.failed)} context(s) broken[/] (marked in red)")


@app.command()
def build(
    target: Annotated[Path, _folder(help="Project or context folder.")],
    locked: Annotated[bool, typer.Option(
        "--locked", help="Build exactly what landscape.lock describes, or refuse.")] = False,
    offline: Annotated[Optional[Path], typer.Option(
        "--offline", help="Build with no network from a `landscape vendor` folder "
        "(implies --locked).")] = None,
    push: Annotated[Optional[str], typer.Option(
        "--push", help="Push to this registry (host[:port][/path]); images it already "
        "holds are not built.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every layer.")] = False,
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build the missing images of every context below TARGET (progress shown)."""
    plan, results = _build(target, root, no_cache, locked=locked, vendor=offline, push=push)
    if json:
        print_json({"images": [r.to_json() for r in results],
                    "failed_contexts": [c.label for c in plan.failed]})
    raise typer.Exit(1 if plan.failed else 0)


def _build(target: Path, root: Optional[Path], no_cache: bool = False, *, locked: bool = False,
           vendor: Optional[Path] = None, push: Optional[str] = None, pull: bool = False):
    """Plan ``target`` and build its missing images with progress; returns
    ``(plan, results)``. Contexts that fail are reported and skipped."""
    import time as _t

    from ..engine.delivery import build_project, plan_project
    from ..errors import ErrorGroup
    from .output import print_error

    from .output import PlanProgress

    started = _t.monotonic()
    with PlanProgress() as progress:
        project = plan_project(target, root, progress=progress)
    p = project.plan
    for c in p.failed:
        note(f"[red]✗[/] {safe(c.label)}: not built")
        print_error(ErrorGroup(c.errors))

    def report(r, n: int) -> None:
        if r.source == "registry":
            note(f"[green]✓[/] {r.tag} is in {safe(push)} ({n} contexts)")
        elif r.built:
            note(f"[green]✓[/] built {r.tag} in {r.seconds} s "
                 f"({r.cached_steps}/{r.steps} steps cached; {n} contexts)")
        else:
            note(f"[green]✓[/] {r.tag} exists ({n} contexts)")
        if push and r.digest and r.source != "registry":
            note(f"  pushed to {safe(push)}: {r.digest}")

    results = build_project(project, locked=locked, vendor=vendor, push=push,
                            pull=project.studio_image.get("registry") if pull else None,
                            no_cache=no_cache, log=note, progress=BuildProgress,
                            on_result=report)
    built = sum(1 for r in results if r.built)
    note(f"{len(p.images)} images for {len(p.contexts)} contexts: {built} built, "
         f"{len(results) - built} up to date, {len(p.failed)} contexts failed "
         f"({_t.monotonic() - started:.1f} s)")
    return p, results


@base_app.command("build")
def base_build(
    suite: Annotated[str, typer.Option("--suite", help="Recipe under images/.")] = "bookworm",
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="Debian mirror URL.")
                      ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if present.")] = False,
    json: JsonOpt = False,
) -> None:
    """Bootstrap a base image with debootstrap + docker import (no registry needed)."""
    from ..engine.base import build_base

    with BuildProgress(f"bootstrapping the {suite} base image") as progress:
        result = build_base(suite, mirror=mirror, force=force, log=progress)
    if json:
        print_json(result)
    elif result["built"]:
        note(f"[green]✓[/] {result['image']} built in {result['seconds']} s "
             f"(fingerprint {result['fingerprint']})")
    else:
        note(f"[green]✓[/] {result['image']} exists ({result['id'][:19]}); --force rebuilds it")


# -- stacks ------------------------------------------------------------------------------

@app.command()
def up(project: Annotated[Path, _folder(help="Project folder.")],
       root: RootOpt = None) -> None:
    """Build what is missing, write the project's compose file and start its stack."""
    from ..cascade import build_cascade
    from ..engine.stack import (claim_stack, compose, compose_document, prepare_feature_state,
                                stack_lock, write_compose)

    plan, _results = _build(project, root, pull=True)
    cascade = build_cascade(project, (), root)
    name = cascade.project
    with stack_lock(cascade.root, name):
        claim_stack(cascade.root, name, cascade.project_dir)
        doc = compose_document(plan, cascade)
        _build_feature_images(cascade)
        prepare_feature_state(cascade)
        path = write_compose(cascade.root, name, doc)
        note(f"compose file: {safe(path)}")
        compose(path, cascade.root, name, "up", "-d", "--remove-orphans")
    note(f"[green]✓[/] stack {safe(name)} is up ({len(doc['services'])} services)")
    raise typer.Exit(1 if plan.failed else 0)  # like build: failed contexts are an error


def _build_feature_images(cascade) -> None:
    """Build the images of the enabled features the engine lacks, with progress."""
    from ..engine.images import build_image
    from ..engine.stack import (feature_build_options, feature_images,
                                missing_feature_images)

    names = feature_images(cascade)
    for spec in missing_feature_images(cascade):
        which = ", ".join(n for n, s in names.items() if s.key == spec.key)
        with BuildProgress(f"building {spec.tag} for {which} (OS packages: "
                           f"{', '.join(spec.system_packages)})") as progress:
            r = build_image(spec, log=progress, options=feature_build_options(cascade))
        note(f"[green]✓[/] built {r.tag} in {r.seconds} s for the feature(s) {safe(which)}")


def _stack(project: Path, root: Optional[Path]) -> tuple[Path, str, Path]:
    """The project's compose file, stack name and studio root; errors when the project has
    neither a compose file (``up``) nor a Swarm file (``deploy --swarm``)."""
    from ..cascade import build_cascade
    from ..engine.stack import claim_stack, stack_dir
    from ..errors import LandscapeError

    cascade = build_cascade(project, (), root)
    name = cascade.project
    path = stack_dir(cascade.root, name) / "compose.yaml"
    if not path.is_file() and not path.with_name("swarm.yaml").is_file():
        raise LandscapeError(f"project {name} has no stack yet ({path})",
                             hint=f"run `landscape up {project}`")
    claim_stack(cascade.root, name, cascade.project_dir, record=False)
    return path, name, cascade.root


def _deployed(studio_root: Path, name: str) -> tuple[str, list[dict]]:
    """``(Swarm stack name, its services)`` of the project ``name`` (none when the engine is
    in no Swarm)."""
    from ..engine.deploy import stack_services
    from ..engine.stack import compose_project_name

    stack = compose_project_name(studio_root, name)
    return stack, stack_services(stack)


@app.command()
def deploy(project: Annotated[Path, _folder(help="Project folder.")],
           swarm: Annotated[bool, typer.Option(
               "--swarm", help="Deploy to the Swarm this engine manages (required).")] = False,
           root: RootOpt = None) -> None:
    """Deploy the project's stack to the Swarm this engine manages (--swarm), every image
    by digest from the studio registry; waits until every service runs."""
    if not swarm:
        _usage_error("deploy", "deploy needs --swarm (the stack goes to the Swarm this engine "
                     "belongs to); `landscape up` brings a stack up on this machine")
    import time

    from ..cascade import build_cascade
    from ..engine.deploy import (deploy_stack, push_stack_image, stack_images,
                                 swarm_document, wait_running, write_swarm)
    from ..engine.stack import (claim_stack, compose_document, compose_project_name,
                                prepare_feature_state, stack_lock)
    from ..engine.swarm import check_swarm
    from ..errors import LandscapeError

    check_swarm()
    cascade = build_cascade(project, (), root)
    registry = cascade.studio_image().get("registry")
    if not registry:
        raise LandscapeError("deploy --swarm runs the stack's images from the studio registry "
                             "(every node pulls them by digest): set image.registry in the "
                             "studio's landscape.yaml (e.g. registry.example.com or "
                             "127.0.0.1:5000)")
    plan, _results = _build(project, root, pull=True)
    name = cascade.project
    stack = compose_project_name(cascade.root, name)
    with stack_lock(cascade.root, name):
        claim_stack(cascade.root, name, cascade.project_dir)
        doc = compose_document(plan, cascade)
        specs = stack_images(plan, cascade)
        placeholder = {tag: f"{registry}/landscape/x@sha256:{'0' * 64}" for tag in specs}
        swarm_document(doc, placeholder, cascade.policy)  # refuse before pushing anything
        _build_feature_images(cascade)
        prepare_feature_state(cascade)
        used = {svc.get("image") for svc in doc["services"].values()}
        digests = {}
        for tag, spec in sorted(specs.items()):
            if tag in used:
                with BuildProgress(f"pushing {tag} to {registry}") as progress:
                    digests[tag] = push_stack_image(spec, registry, log=progress)
                note(f"[green]✓[/] {safe(tag)} → {safe(digests[tag])}")
        sdoc, warnings = swarm_document(doc, digests, cascade.policy)
        for line in warnings:
            note(f"[yellow]warning[/]: {safe(line)}")
        path = write_swarm(cascade.root, name, sdoc)
        note(f"Swarm file: {safe(path)}")
        started, since = time.monotonic(), time.time()
        deploy_stack(str(path), stack)
        note(f"deployed stack {safe(stack)}; waiting for its services")
        wait_running(stack, log=lambda line: note(safe(line)), since=since)
    note(f"[green]✓[/] stack {safe(stack)} runs on the Swarm ({len(sdoc['services'])} "
         f"services, all running {time.monotonic() - started:.1f} s after the deploy)")
    raise typer.Exit(1 if plan.failed else 0)


@app.command()
def down(project: Annotated[Path, _folder(help="Project folder.")],
         volumes: Annotated[bool, typer.Option("--volumes", help="Also delete named volumes.")
                            ] = False,
         root: RootOpt = None) -> None:
    """Stop and remove the project's stack (named volumes are kept unless --volumes), and
    its Swarm stack when `deploy --swarm` deployed one."""
    from ..engine.deploy import remove_stack
    from ..engine.stack import compose, stack_lock

    path, name, studio_root = _stack(project, root)
    with stack_lock(studio_root, name):
        stack, services = _deployed(studio_root, name)
        # the Swarm stack first: its network has the name Compose gives its own
        # (`<name>_default`), and Compose would try to remove it while the services use it
        if services:
            remove_stack(stack)
            note(f"[green]✓[/] Swarm stack {safe(stack)} is removed ({len(services)} "
                 "services)")
        if path.is_file():
            compose(path, studio_root, name, "down", "--remove-orphans",
                    *(["--volumes"] if volumes else []))
            note(f"[green]✓[/] stack {safe(name)} is down")
        elif not services:
            note(f"stack {safe(name)}: nothing deployed")


@app.command()
def ps(project: Annotated[Optional[Path], _folder(
           help="Project folder (optional with --workspaces).")] = None,
       workspaces: Annotated[bool, typer.Option(
           "--workspaces", help="This user's warm-launch workspaces instead (of PROJECT's "
           "project when given).")] = False,
       root: RootOpt = None, json: JsonOpt = False) -> None:
    """The containers of the project's stack, or (--workspaces) the warm workspaces."""
    if workspaces:
        from ..engine.workspace import workspaces as list_workspaces

        rows = list_workspaces(*_project_of(project, root))
        columns = ("name", "project", "state", "status", "image")
        empty = "no workspaces"
    else:
        if project is None:
            raise typer.BadParameter("ps needs a project (or --workspaces)",
                                     param_hint="PROJECT")
        from ..engine.deploy import stack_task_rows
        from ..engine.stack import stack_containers

        path, name, studio_root = _stack(project, root)
        rows = [c.to_json() for c in stack_containers(studio_root, name)] \
            if path.is_file() else []
        stack, services = _deployed(studio_root, name)
        if services:
            rows += stack_task_rows(stack)
        columns = ("service", "name", "image", "state")
        empty = f"stack {safe(name)}: no containers"
    if json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None)
    for column in columns:
        table.add_column("container" if column == "name" else column,
                         overflow="fold")  # names stay whole, to be copied
    for r in rows:  # an image id is shown short, as `docker images` does
        table.add_row(*(safe(str(r[c] or "").removeprefix("sha256:")[:12] if c == "image"
                             and workspaces else str(r[c] or "")) for c in columns))
    out.print(table if rows else empty)


def _project_of(path: Optional[Path], root: Optional[Path]) -> tuple[Optional[str],
                                                                      Optional[str]]:
    """``(studio root, project)`` of ``path``, or ``(None, None)`` without one."""
    if path is None:
        return None, None
    from ..cascade import build_cascade

    cascade = build_cascade(path, (), root)
    return str(cascade.root), cascade.project


@app.command()
def stop(path: Annotated[Optional[Path], _folder(
             help="Project or context folder: stop the workspaces of its project.")] = None,
         all_: Annotated[bool, typer.Option("--all", help="Stop every workspace of this user."
                                            )] = False,
         agents: Annotated[bool, typer.Option(
             "--agents", help="Stop this user's launch agents (they also stop when idle).")
         ] = False,
         root: RootOpt = None, json: JsonOpt = False) -> None:
    """Stop warm-launch workspaces (launches running in them end; they also stop by
    themselves after launch.warm_idle) and, with --agents, the user's launch agents."""
    if path is not None and all_ or not (path is not None or all_ or agents):
        raise typer.BadParameter("give a project folder or --all (one of them), or --agents",
                                 param_hint="PATH")
    names: list[str] = []
    if path is not None or all_:
        from ..engine.workspace import stop as stop_workspaces, workspaces as list_workspaces

        names = stop_workspaces(list_workspaces(*_project_of(path, root)))
    asked: list[str] = []
    if agents:
        from .agent import stop_all

        asked = stop_all()
    if json:
        print_json({"stopped": names, **({"agents": asked} if agents else {})})
        return
    for n in names:
        note(f"[green]✓[/] stopped {safe(n)}")
    if (path is not None or all_) and not names:
        note("no workspaces to stop")
    if agents:
        note(f"[green]✓[/] stopped {len(asked)} launch agent(s)" if asked
             else "no launch agents running")


@app.command()
def logs(project: Annotated[Path, _folder(help="Project folder.")],
         service: Annotated[Optional[str], typer.Argument(help="One service.")] = None,
         follow: Annotated[bool, typer.Option(
             "--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
         root: RootOpt = None) -> None:
    """Logs of the project's stack (or one service); uncoloured when stdout is not a
    terminal. A stack deployed with `deploy --swarm`: its services' logs."""
    from ..engine.stack import compose

    path, name, studio_root = _stack(project, root)
    stack, services = _deployed(studio_root, name)
    if services:
        from ..engine.deploy import service_logs

        raise typer.Exit(service_logs(stack, [service] if service else [], follow))
    compose(path, studio_root, name, "logs", *logs_options(follow, sys.stdout),
            *([service] if service else []))


def logs_options(follow: bool, stdout) -> list[str]:
    """Compose's ``logs`` options: ``-f`` to follow, and ``--no-color`` when ``stdout`` (a
    stream) is not a terminal — a file or a pipe gets no colour codes (both Compose v2 and
    ``docker-compose`` v1 take it; v1 colours whatever its output is)."""
    try:
        terminal = stdout is not None and stdout.isatty()
    except (OSError, ValueError):
        terminal = False
    return (["-f"] if follow else []) + ([] if terminal else ["--no-color"])


# -- launch ------------------------------------------------------------------------------

WarmOpt = Annotated[bool, typer.Option(
    "--warm", help="Run in this user's long-running workspace of the image (started when "
    "missing, stopped after launch.warm_idle): no container start per launch.")]
DevOpt = Annotated[bool, typer.Option(
    "--dev", help="Search rez.dev_path first; dev packages are mounted read-only, not built "
    "into the image (an edit takes effect at the next launch).")]


@app.command()
def launch(
    context: Annotated[Path, _folder(help="Context directory.")],
    args: Annotated[Optional[list[str]], typer.Argument(
        help="Arguments for the tool, after --.")] = None,
    tool: Annotated[str, typer.Option("--tool", "-t", autocompletion=complete_tool,
                                      help="Tool[/variant] to run.")] = "",
    variant: VariantOpt = [],
    add: Annotated[list[str], typer.Option("--add", "-a", help="Extra package request.")] = [],
    env: Annotated[list[str], typer.Option("--env", help="Extra env: KEY=VALUE.")] = [],
    warm: WarmOpt = False,
    host: Annotated[bool, typer.Option(
        "--host", help="Run on this machine with rez, without a container (no isolation; "
        "policy-checked mounts do not apply).")] = False,
    dev: DevOpt = False,
    root: RootOpt = None,
) -> None:
    """Run a tool of CONTEXT in a fresh container (or, --warm, its workspace; --host, on
    this machine); its exit code is the tool's."""
    from ..engine.launch import launch_spec
    from ..engine.session import run_host_launch
    from .fast import terminal_modes

    if not tool:
        from .output import printable

        sys.stderr.write("Usage: landscape launch CONTEXT --tool T[/VARIANT] [-- ARGS…]\n"
                         f"Error: {printable(_tools_hint(context, variant, root))}\n")
        raise typer.Exit(2)
    if warm and host:
        raise typer.BadParameter("--warm and --host exclude each other", param_hint="--host")
    inputs = _launch_inputs("launch", context, tool, variant, root, add, env, dev)
    if host:
        tty, stdin = terminal_modes()
        raise typer.Exit(run_host_launch(inputs, list(args or []), tty=tty, stdin=stdin))
    spec = launch_spec(inputs, list(args or []))
    tty, stdin = terminal_modes()
    raise typer.Exit(_run(inputs, spec, warm, tty=tty, stdin=stdin,
                          fresh=lambda: _fresh(context, tool, variant, root, add, env, dev)))


@app.command()
def shell(
    context: Annotated[Path, _folder(help="Context directory.")],
    tool: ToolOpt = None,
    variant: VariantOpt = [],
    warm: WarmOpt = False,
    host: Annotated[bool, typer.Option(
        "--host", help="A shell on this machine with the context's environment (no "
        "container: no isolation; policy-checked mounts do not apply).")] = False,
    dev: DevOpt = False,
    root: RootOpt = None,
) -> None:
    """An interactive shell in the context's environment (a fresh container, --warm, or
    --host on this machine)."""
    from ..engine.launch import launch_spec
    from ..engine.session import run_host_launch
    from .fast import terminal_modes

    if warm and host:
        raise typer.BadParameter("--warm and --host exclude each other", param_hint="--host")
    tool = tool or _first_tool(context, variant, root)
    inputs = _launch_inputs("shell", context, tool, variant, root, dev=dev)
    tty, stdin = terminal_modes(shell=True)
    if host:
        raise typer.Exit(run_host_launch(inputs, [], tty=tty, stdin=stdin, command="shell",
                                         argv=["/bin/bash"]))
    spec = launch_spec(inputs, [], command=["/bin/bash"])
    raise typer.Exit(_run(inputs, spec, warm, tty=tty, stdin=stdin,
                          fresh=lambda: _fresh(context, tool, variant, root, dev=dev),
                          command="shell"))


@app.command()
def render(
    context: Annotated[Path, _folder(help="Context directory (a shot).")],
    tool: Annotated[str, typer.Option("--tool", "-t", autocompletion=complete_tool,
                                      help="Tool[/variant] that renders (it declares "
                                      "frames/outputs/verify).")] = "",
    frames: Annotated[str, typer.Option(
        "--frames", "-f", help="Frames: 1001-1100, 1-10x2, 1,5,9 or a mix.")] = "",
    chunk: Annotated[int, typer.Option("--chunk", "-c", help="Frames per chunk (one "
                                       "container each).")] = 1,
    parallel: Annotated[Optional[int], typer.Option(
        "--parallel", "-p", help="Chunks at once (default: the usable cores).")] = None,
    retries: Annotated[Optional[int], typer.Option(
        "--retries", help="Retries of a failed chunk (default 2).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Render only the frames missing or failing verification.")] = False,
    timeout: Annotated[Optional[float], typer.Option(
        "--timeout", help="Seconds an attempt may take before it is stopped (and "
        "retried).")] = None,
    swarm: Annotated[bool, typer.Option(
        "--swarm", help="Run each chunk as a Swarm service (needs a Swarm manager and "
        "image.registry; --parallel defaults to the ready nodes' CPUs).")] = False,
    emit: Annotated[Optional[str], typer.Option(
        "--emit", help="Write a farm job instead of rendering: openjd (an Open Job "
        "Description job template; the image is pushed to the studio registry).")] = None,
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="With --emit: the file to write (default stdout; .json: "
        "JSON, else YAML).")] = None,
    digest: Annotated[Optional[str], typer.Option(
        "--digest", help="Render in exactly this image of the studio registry "
        "(sha256:…), as a farm job emitted by --emit does.")] = None,
    variant: VariantOpt = [],
    root: RootOpt = None,
) -> None:
    """Render FRAMES of CONTEXT in chunks, each in the context's image with the launch's
    user, storage and environment; frames are verified on disk, failed chunks retried.
    Exit 0 when every frame is verified, 1 otherwise. With --emit openjd, write a farm job
    that renders each chunk this way instead."""
    import re

    from ..frames import FrameError, chunks as split, parse

    if emit is not None:
        if emit != "openjd":
            _usage_error("render", f"--emit takes openjd (an Open Job Description job "
                         f"template), not {emit!r}")
        for given, name in ((resume, "--resume"), (parallel is not None, "--parallel"),
                            (digest is not None, "--digest"), (swarm, "--swarm")):
            if given:
                _usage_error("render", f"--emit and {name} exclude each other: the farm "
                             "runs the job's tasks (each renders its chunk once, in the "
                             "image the job names)")
    elif out_file is not None:
        _usage_error("render", "--out goes with --emit (the file the job is written to)")
    if digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        _usage_error("render", f"--digest {digest!r} is not sha256:<64 lowercase hex "
                     "digits>")
    if not tool:
        _usage_error("render", "render needs --tool, the tool that renders (e.g. "
                     "--tool blender/render)")
    for bad, text in ((parallel is not None and parallel < 1, "--parallel must be at least 1"),
                      (retries is not None and retries < 0, "--retries must be 0 or more"),
                      (timeout is not None and not timeout > 0,
                       "--timeout must be a number of seconds above 0")):
        if bad:
            _usage_error("render", text)
    try:
        asked = parse(frames) if frames else parse("")
        split(asked[:1], chunk)  # a chunk below 1 is a usage error
    except FrameError as e:
        _usage_error("render", e.message)
    from ..engine.render import prepare_local, run_local
    from ..resources import usable_cpus

    inputs = _launch_inputs("launch", context, tool, variant, root)
    if emit is not None:
        if retries is not None:
            note("note: --retries is not written into the job: each task renders its chunk "
                 "once and the farm retries a failed task (its own setting)")
        _emit_openjd(inputs, asked, chunk, timeout, variant, root, out_file,
                     lambda: _fresh(context, tool, variant, root))
        return
    if swarm:
        from ..engine.render import studio_registry
        from ..engine.swarm import check_swarm, swarm_cpus

        check_swarm()
        studio_registry(inputs, "--swarm runs the image from the studio registry (every "
                        "node pulls it by digest)")
        parallel = parallel or swarm_cpus()
    local = prepare_local(inputs, asked, chunk, parallel=parallel or usable_cpus(),
                          retries=2 if retries is None else retries, resume=resume,
                          timeout=timeout)
    for line in local.notes:
        note(f"note: {safe(line)}")
    job = local.job
    if not job.chunks:
        note(f"[green]✓[/] all {len(asked)} frame(s) are in place and verified: nothing to "
             "render")
        raise typer.Exit(0)
    log = lambda line: note(safe(line))  # noqa: E731
    if digest is not None:
        from ..engine.render import digest_image

        image = digest_image(inputs, digest, log=log)
    else:
        image = _ensure_image(inputs, lambda: _fresh(context, tool, variant, root))
    if swarm:
        from ..engine.render import publish_image
        from ..engine.registry import registry_repository
        from ..engine.swarm import run_swarm

        if digest is not None:  # the registry holds it: digest_image checked it is this spec's
            image = f"{registry_repository(inputs.image, inputs.registry)}@{digest}"
        else:
            with BuildProgress(f"pushing {inputs.image.tag} to {inputs.registry}") as progress:
                image, _digest = publish_image(inputs, log=progress)
        note(f"[green]✓[/] nodes run {safe(image)}")
    note(f"rendering {len(local.frames)} frame(s) in {len(job.chunks)} chunk(s), "
         f"{min(job.parallel, len(job.chunks))} at a time"
         f"{' as Swarm services' if swarm else ''}, into {safe(str(job.outdir))}")
    result = (run_swarm if swarm else run_local)(inputs, image, local, log=log)
    raise typer.Exit(_render_report(result, len(local.frames), swarm))


def _emit_openjd(inputs, asked: list[int], chunk: int, timeout: Optional[float],
                 variants: list[str], root: Optional[Path], out_file: Optional[Path],
                 fresh) -> None:
    """``render --emit openjd``: check the render as a local one would be checked
    (:func:`landscape.engine.render.prepare_local`; nothing renders), get the image, push
    it (:func:`landscape.engine.render.publish_image`) and write the job template
    (:func:`landscape.openjd.job_template`) to ``out_file`` or stdout."""
    import time

    from ..engine.render import prepare_local, publish_image, studio_registry
    from ..openjd import dump, job_template

    started = time.monotonic()
    local = prepare_local(inputs, asked, chunk, parallel=1, retries=0, resume=False,
                          timeout=timeout)
    for line in local.notes:
        note(f"note: {safe(line)}")
    context = os.path.abspath(inputs.context)
    rel = os.path.relpath(context, inputs.root) if inputs.root else context

    def template(digest: str, image: str) -> dict:
        return job_template(context=context, tool=inputs.tool, variants=variants,
                            chunks=local.job.chunks, chunk=chunk, digest=digest, image=image,
                            label=rel, timeout=timeout,
                            root=os.path.abspath(root) if root is not None else None)

    template("sha256:" + "0" * 64, "-")  # refuse hostile names before pushing anything
    studio_registry(inputs, "a farm job runs the image from the studio registry")
    _ensure_image(inputs, fresh)
    reference, digest = publish_image(inputs, log=lambda line: note(safe(line)))
    text = dump(template(digest, reference),
                as_json=out_file is not None and out_file.suffix == ".json")
    if out_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out_file.write_text(text, encoding="utf-8")
    where = safe(str(out_file)) if out_file is not None else "stdout"
    note(f"[green]✓[/] OpenJD job: {len(local.job.chunks)} task(s), {len(local.frames)} "
         f"frame(s), image {safe(reference)}, written to {where} "
         f"({len(text.encode())} bytes) in {time.monotonic() - started:.1f} s")


def _render_report(result, frames: int, swarm: bool = False) -> int:
    """Print how a render ended (failed chunks with the tail of their log); its exit code."""
    from ..engine.render import log_tail

    if result.fatal:
        note(f"[bold red]error[/]: {safe(result.fatal)}")
    for r in result.failed:
        if r.reason in ("interrupted", "not started") or result.fatal:
            continue
        note(f"[red]chunk {r.chunk.name} failed after {r.attempts} attempt(s)[/]: "
             f"{safe(r.reason)}; log: {safe(str(r.log)) if r.log else 'not kept'}")
        for line in log_tail(r):
            note(f"  | {safe(line)}")
    if result.interrupted:
        what = "services, configs and secrets" if swarm else "containers"
        note(f"[red]interrupted[/]: the render's {what} are removed; frames already in "
             "place are kept (--resume renders the rest)")
        return 130
    if result.ok:
        note(f"[green]✓[/] {frames} frame(s) rendered and verified")
        return 0
    bad = len(result.failed)
    note(f"[red]{bad} chunk(s) failed[/]: --resume renders their frames again")
    return 1


def _usage_error(command: str, message: str) -> None:
    """A usage error of ``command`` on one line of stderr; exit 2."""
    from .output import printable

    sys.stderr.write(f"Error: landscape {command}: {printable(message)}\n")
    raise typer.Exit(2)


def _fresh(context: Path, tool: str, variants: list[str], root: Optional[Path],
           add: list[str] = (), env: list[str] = (), dev: bool = False):
    """A fresh resolve of ``tool`` of ``context`` (imports rez)."""
    from ..engine.session import fresh_resolve

    return fresh_resolve(context, tool, variants, root, add, env, dev)


def _launch_inputs(command: str, context: Path, tool: str, variants: list[str],
                   root: Optional[Path], add: list[str] = (), env: list[str] = (),
                   dev: bool = False):
    """:func:`landscape.engine.session.launch_inputs` (the resolve cache, else a resolve)."""
    from ..engine.session import launch_inputs

    return launch_inputs(command, context, tool, variants, root, add, env, dev)


def _run(inputs, spec, warm: bool, *, tty: bool, stdin: bool, fresh,
         command: str = "launch") -> int:
    """Run launch ``spec`` of ``inputs`` (its image got first; ``fresh()`` resolves anew
    when the image must be built) in a fresh container, or in its workspace when ``warm``;
    the tool's exit code."""
    from ..engine.session import run_launch

    spec.image = _ensure_image(inputs, fresh)
    return run_launch(inputs, spec, warm, tty=tty, stdin=stdin, command=command)


def _ensure_image(inputs, fresh) -> str:
    """The id of the image of a launch (``inputs``), got first with progress when the engine
    lacks it (:func:`landscape.engine.session.ensure_launch_image`)."""
    from ..engine.session import ensure_launch_image, launch_image_id

    found = launch_image_id(inputs)
    if found is None:
        with BuildProgress(f"getting {inputs.image.tag}") as progress:
            r = ensure_launch_image(inputs, fresh, progress)
        if r is None:  # another process got it meanwhile
            found = launch_image_id(inputs)
        else:
            note(f"[green]✓[/] {r.tag} {r.source} in {r.seconds} s")
            found = r.id
    return found


@app.command()
def history(
    context: Annotated[Optional[Path], _folder(
        help="Only launches of this context or below it (a project, a sequence…).")] = None,
    user: Annotated[Optional[str], typer.Option("--user", help="Only this user's launches."
                                                )] = None,
    root: RootOpt = None,
    json: Annotated[bool, typer.Option("--json", help="Print the records as JSON lines.")
                    ] = False,
) -> None:
    """Launches recorded in the studio's audit folder (launch.audit), oldest first."""
    from ..cascade import find_studio_root, load_config
    from ..engine.audit import read_records
    from ..errors import LandscapeError
    from ..paths import context_path
    from ..userstate import AUDIT_SYSLOG, launch_settings

    where = context_path(context if context is not None else Path("."), root)
    studio = find_studio_root(where, root)
    cfg = load_config(studio / "landscape.yaml")
    if cfg.errors:
        from ..errors import ErrorGroup

        raise ErrorGroup(cfg.errors)
    _home, _home_root, audit, _required = launch_settings(cfg.node, str(studio))
    if audit is None:
        raise LandscapeError("this studio keeps no audit trail (launch.audit is not set in "
                             f"{studio / 'landscape.yaml'})")
    if audit == AUDIT_SYSLOG:
        raise LandscapeError("this studio's launches are recorded in syslog (launch.audit: "
                             "syslog)", hint="read them with `journalctl -t landscape`")
    records = read_records(audit, user, str(where) if context is not None else None)
    if json:
        import json as _json

        for r in records:
            sys.stdout.write(_json.dumps(r, separators=(",", ":")) + "\n")
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("start (UTC)", "user", "host", "context", "tool", "mode", "exit",
                   "seconds"):
        table.add_column(column, overflow="fold", no_wrap=column == "start (UTC)")
    rows = 0
    for r in records:
        tool = str(r.get("tool") or "") + (f"/{r['variant']}" if r.get("variant") else "")
        shown = str(r.get("context") or "")
        if shown.startswith(str(studio) + "/"):
            shown = shown[len(str(studio)) + 1:]
        table.add_row(*(safe(str(v)) for v in (
            str(r.get("start", ""))[:19].replace("T", " "), r.get("user", ""),
            r.get("host", ""), shown, tool, r.get("mode", ""),
            "" if r.get("exit") is None else r["exit"], r.get("seconds", ""))))
        rows += 1
    out.print(table if rows else "no launches recorded")


@app.command()
def gui(
    path: Annotated[Optional[Path], _folder(
        help="Context to open with (default: the last selection in this studio, else the "
             "working directory's context, else the studio root).")] = None,
    tool: Annotated[Optional[str], typer.Option("--tool", "-t", autocompletion=complete_tool,
                                                help="Tool to select.")] = None,
    root: RootOpt = None,
) -> None:
    """The artist's launcher: a window to browse the studio, see a context's setup and
    launch its tools (needs the gui extra and a display)."""
    try:
        from ..gui.app import main as gui_main
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("PySide6"):
            raise
        from ..errors import LandscapeError

        raise LandscapeError("the launcher needs the gui extra: "
                             "pip install 'studio-landscape[gui]'") from None
    raise typer.Exit(gui_main(path, tool, root))


def _tools_hint(context: Path, variants: list[str], root: Optional[Path]) -> str:
    """The message of ``launch`` without ``--tool``: the tools of ``context`` (each with its
    variants, ``T/V``) read from its cascade (no rez), or why they cannot be read."""
    from ..cascade import build_cascade
    from ..errors import LandscapeError, flatten
    from .complete import tool_choices

    try:
        tools = build_cascade(context, variants, root).plain("tools", {}) or {}
    except (LandscapeError, OSError) as e:
        first = [str(x) for x in flatten(e)] if isinstance(e, LandscapeError) else [str(e)]
        return (f"launch needs a tool, and the tools of {context} cannot be read: "
                + "; ".join(first[:3]) + (f" (and {len(first) - 3} more)"
                                          if len(first) > 3 else ""))
    names = tool_choices(tools)
    if not names:
        return f"launch needs a tool, and {context} has none"
    return f"launch needs a tool; {context} has: " + ", ".join(names)


def _first_tool(context: Path, variants: list[str], root: Optional[Path]) -> str:
    from ..cascade import build_cascade
    from ..errors import LandscapeError

    tools = build_cascade(context, variants, root).plain("tools", {}) or {}
    if not tools:
        raise LandscapeError(f"{context} has no tools")
    return next(iter(tools))


from .ci import ci as _ci  # noqa: E402
from . import pinning as _pinning  # noqa: E402

app.command("ci")(_ci)
for _name in ("lock", "vendor", "pull", "images", "prune"):
    app.command(_name)(getattr(_pinning, _name))
