"""Commands of pinned images: ``lock``, ``vendor``, ``pull``, ``images`` and ``prune``.

Thin over :mod:`landscape.engine.delivery`; heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .complete import complete_folder
from .output import BuildProgress, note, out, print_error, print_json, safe
from ..names import VAR_ROOT

RootOpt = Annotated[Optional[Path], typer.Option(
    "--root", envvar=VAR_ROOT, autocompletion=complete_folder,
    help="Studio root, when it is not above the path (relative paths are taken from it).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ProjectArg = Annotated[Path, typer.Argument(autocompletion=complete_folder,
                                            help="Project folder.")]


def _project(project: Path, root: Optional[Path], *, report: bool = True):
    from ..engine.delivery import plan_project
    from ..errors import ErrorGroup
    from .output import PlanProgress

    with PlanProgress() as progress:
        p = plan_project(project, root, progress=progress)
    if report:
        for c in p.plan.failed:
            note(f"[red]✗[/] {safe(c.label)}")
            print_error(ErrorGroup(c.errors))
    return p


def _one_line(text: str) -> str:
    """``text`` for one line of output: newlines shown as ``\\n`` (a value read from a lock
    must not forge a line of its own), then :func:`safe`."""
    return safe(text.replace("\r", "\\r").replace("\n", "\\n"))


def lock(
    project: ProjectArg,
    check: Annotated[bool, typer.Option(
        "--check", help="Verify the lock instead of writing it: exit 1 when it is missing, "
        "stale or incomplete.")] = False,
    from_images: Annotated[bool, typer.Option(
        "--from-images", help="Require the observed phase (OS versions, base fingerprint) "
        "from built images.")] = False,
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write (or verify) PROJECT/landscape.lock: everything that enters its images."""
    from ..cascade import context_path
    from ..engine.delivery import check_lock, lock_project
    from ..errors import LandscapeError

    p = _project(project, root, report=not json)
    if context_path(project, root) != p.directory:
        raise LandscapeError(f"a lock covers a whole project: give its folder {p.directory}, "
                             f"not {project}")
    if check:
        state, lines = check_lock(p)
        if json:
            print_json({"lock": str(p.lock_path), "state": state, "details": lines})
        elif state == "ok":
            note(f"[green]✓[/] {safe(p.lock_path)} is up to date "
                 f"({len(p.plan.contexts) - len(p.plan.failed)} contexts)")
        elif state == "missing":
            note(f"[red]no lock[/]: {safe(p.lock_path)} does not exist; run "
                 f"`landscape lock {safe(project)}`")
        elif state == "stale":
            note(f"[red]stale lock[/]: {safe(p.lock_path)} no longer describes the project:")
            for line in lines:
                note("  " + _one_line(line))
            note(f"review, then run `landscape lock {safe(project)}`")
        else:
            note(f"[yellow]incomplete lock[/]: {safe(p.lock_path)} describes the inputs, but "
                 "the observed phase is missing:")
            for line in lines:
                note("  " + _one_line(line))
            note(f"run `landscape build {safe(project)}` (or `landscape lock {safe(project)} "
                 "--from-images` on a machine with the images)")
        raise typer.Exit(0 if state == "ok" and not p.plan.failed else 1)
    with BuildProgress("locking") as progress:
        result = lock_project(p, from_images=from_images, log=progress)
    if json:
        print_json(result)
    else:
        what = "written" if result["changed"] else "unchanged"
        note(f"[green]✓[/] {safe(result['path'])} {what}: {result['contexts']} contexts, "
             f"{result['images']} images")
        for line in result["missing"]:
            note(f"  [yellow]not observed yet[/]: {safe(line)}")
        if result["missing"]:
            note(f"  build the images (`landscape build {safe(project)}`) to complete it")
    raise typer.Exit(1 if p.plan.failed else 0)


def vendor(
    project: ProjectArg,
    folder: Annotated[Path, typer.Argument(autocompletion=complete_folder,
                                           help="Folder to download into.")],
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Download the locked OS packages (.deb) and the rez wheel for `build --offline`."""
    from ..engine.delivery import vendor_project

    p = _project(project, root)
    with BuildProgress(f"vendoring into {folder}") as progress:
        result = vendor_project(p, folder, log=progress)
    if json:
        print_json(result)
    else:
        note(f"[green]✓[/] {safe(result['folder'])}: {result['debs']} .deb files, "
             f"{result['wheels']} wheels; build with `landscape build {safe(project)} "
             f"--offline {safe(folder)}`")


def pull(
    project: ProjectArg,
    registry: Annotated[Optional[str], typer.Option(
        "--registry", help="Registry to pull from (default: the studio's image.registry).")
    ] = None,
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Pull the project's images the engine lacks from the registry (nothing is built)."""
    from ..engine.delivery import pull_project
    from ..errors import LandscapeError

    p = _project(project, root)
    registry = registry or p.studio_image.get("registry")
    if not registry:
        raise LandscapeError("no registry: give --registry or set image.registry in the "
                             "studio root's landscape.yaml")
    with BuildProgress(f"pulling from {registry}") as progress:
        results = pull_project(p, registry, log=progress)
    if json:
        print_json({"images": [r.to_json() for r in results]})
    else:
        for r in results:
            note(f"[green]✓[/] {r.tag} {r.source}" + (f" ({r.digest})" if r.digest else ""))
    raise typer.Exit(1 if p.plan.failed else 0)


def images(project: ProjectArg, root: RootOpt = None, json: JsonOpt = False) -> None:
    """Each image of PROJECT: size, created, contexts, pushed digests."""
    from ..engine.delivery import image_rows

    p = _project(project, root)
    rows = image_rows(p)
    if json:
        print_json({"project": p.name, "images": rows})
        return
    from rich.table import Table

    from rich.table import Column

    table = Table(Column("image", no_wrap=True), Column("size", no_wrap=True), "created",
                  "contexts", "pushed")
    for r in rows:
        size = f"{r['size'] / 1e6:.0f} MB" if r["size"] else "not built"
        ctx = ", ".join(r["contexts"][:3]) + (f" … (+{len(r['contexts']) - 3})"
                                                if len(r["contexts"]) > 3 else "")
        pushed = "\n".join(f"{k} {v[:19]}" for k, v in sorted(r["pushed"].items()))
        table.add_row(r["tag"], size, (r["created"] or "")[:19], safe(ctx), safe(pushed))
    out.print(table)


def prune(
    project: Annotated[Optional[Path], typer.Argument(
        autocompletion=complete_folder,
        help="Project folder (default: every project of the studio).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")
                       ] = False,
    keep: Annotated[int, typer.Option(
        "--keep", min=0, help="Also keep the images of the last N lock revisions.")] = 1,
    root: RootOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove Landscape images no context uses, no container runs and no kept lock names."""
    from ..engine.delivery import prune as run_prune

    if project is not None:
        projects = [_project(project, root, report=False)]
    else:
        from ..cascade import find_studio_root
        from ..ci import find_projects

        studio = find_studio_root(Path.cwd(), root)
        projects = [_project(path if path.is_absolute() else studio / path, root, report=False)
                    for path in find_projects(studio)]
    broken = [c for pr in projects for c in pr.plan.failed]
    if broken:
        from ..errors import ErrorGroup, LandscapeError

        for c in broken:
            note(f"[red]✗[/] {safe(c.label)}")
            print_error(ErrorGroup(c.errors))
        raise LandscapeError(f"{len(broken)} contexts do not resolve, so which images they use "
                             "is unknown: nothing pruned", hint="fix them (landscape check)")
    result = run_prune(projects, keep=keep, dry_run=dry_run, log=note)
    if json:
        print_json(result.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    for tag in result.removed:
        note(f"  {verb} {safe(tag)}")
    note(f"[green]✓[/] {verb} {len(result.removed)} tags "
         f"(~{result.freed / 1e6:.0f} MB), kept {result.kept} images")
