"""``landscape init``: a new studio root with a commented example config."""

from __future__ import annotations

from pathlib import Path

from .errors import LandscapeError

STUDIO_ROOT = """\
# Studio root: every context below this folder inherits from this file. It is the one
# trusted config file: its `policy` sets what every file below may ask of the host.
# Keys and merge rules: docs/config.md of Landscape, or `landscape schema`.
schema: landscape/v1
root: true

rez:
  packages_path: [packages]     # rez package repositories, relative to this file
manifests_path: [manifests]
# manifest: vfx2024             # a pinned package snapshot: manifests/vfx2024.yaml

storage:
  - source: projects            # mapped into containers at the same path

policy:
  allowed_mounts: [projects]    # host folders storage may mount (real paths; [] = none)
  # allowed_repositories: []    # where project/shot files may add rez repositories

templates:
  work: "{root}/projects/{project}/work/{tool}"

tools:
  python:
    label: Python
    command: [python3]
    workdir: work

# A project:   projects/<name>/landscape.yaml        with `level: project`
# A sequence:  projects/<name>/<seq>/landscape.yaml  with `level: sequence`
# A shot:      .../<seq>/<shot>/landscape.yaml       with `level: shot`
"""

EXAMPLE_PROJECT = """\
# A project: `level: project` gives templates the field {project} (this folder's name).
schema: landscape/v1
level: project
"""


def scaffold(directory: Path) -> list[Path]:
    """Create ``directory/landscape.yaml`` (root), ``packages/``, ``manifests/`` and
    ``projects/example/landscape.yaml`` (a project; the new studio passes ``landscape
    check``). Returns the created paths. Raises :class:`LandscapeError` when a
    ``landscape.yaml`` is already there (nothing is overwritten)."""
    directory = Path(directory)
    config = directory / "landscape.yaml"
    if config.exists():
        raise LandscapeError(f"{config} already exists; nothing was changed")
    created = []
    for sub in ("packages", "manifests", "projects"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
        created.append(directory / sub)
    config.write_text(STUDIO_ROOT)
    created.insert(0, config)
    project = directory / "projects" / "example" / "landscape.yaml"
    project.parent.mkdir(parents=True, exist_ok=True)
    project.write_text(EXAMPLE_PROJECT)
    created.append(project)
    return created
