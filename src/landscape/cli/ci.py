"""``landscape ci github|gitlab``: write the CI file of the studio's config repository.

Thin: the work is in :mod:`landscape.ci`, imported inside the command so that
``landscape --help`` stays fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from .complete import complete_folder
from ..names import VAR_ROOT


class Kind(str, Enum):
    github = "github"
    gitlab = "gitlab"


def ci(
    kind: Annotated[Kind, typer.Argument(
        metavar="github|gitlab", help="GitHub Actions workflow or .gitlab-ci.yml.")],
    projects: Annotated[Optional[list[Path]], typer.Argument(
        metavar="[PROJECT]...", autocompletion=complete_folder,
        help="Project folders (default: every project of the studio).")] = None,
    registry: Annotated[Optional[str], typer.Option(
        "--registry", help="Push the images there: host[:port][/path] (default: build only).")
    ] = None,
    login: Annotated[bool, typer.Option(
        "--login", help="Log in to the registry first (secrets / CI variables "
        "LANDSCAPE_REGISTRY_USER, LANDSCAPE_REGISTRY_PASSWORD).")] = False,
    install: Annotated[Optional[str], typer.Option(
        "--install", help="What pip installs instead of studio-landscape==<this version>: "
        "a requirement, URL or path.")] = None,
    root: Annotated[Optional[Path], typer.Option(
        "--root", envvar=VAR_ROOT, autocompletion=complete_folder,
        help="Studio root (the config repository's root).")] = None,
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", help="Write there instead of .github/workflows/landscape.yml or "
        ".gitlab-ci.yml in the studio root.")] = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the file instead.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite a file that landscape ci did not generate.")] = False,
) -> None:
    """Write the CI file of the studio's config repository: per project, check the lock and
    build (and push) its images."""
    from ..ci import default_output, for_studio, write
    from ..errors import LandscapeError
    from .output import note, safe

    if stdout and out_file is not None:
        raise LandscapeError("--stdout and --out exclude each other")
    studio, text = for_studio(kind.value, projects or [], root=root, registry=registry,
                              login=login, install=install)
    if stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = write(out_file if out_file is not None else default_output(studio, kind.value),
                 text, force=force)
    note(f"wrote {safe(path)}")
