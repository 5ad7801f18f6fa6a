"""A small studio whose big package is delivered by ``mount``: what the payload tests (unit,
security and Docker) start from. Real rez packages, no Blender: its images build in seconds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import package

#: label on the test studio's images: its value names the run, whose images the Docker
#: tests remove (images a launch builds carry no ``io.landscape.studio`` label)
LABEL = "org.example.landscape-test-payloads"

ROOT = """\
root: true
rez: {{packages_path: [{repo}], dev_path: [dev]}}
{delivery}
packages: [python-3.11, bigdcc]
storage: [{{source: projects}}]
image: {{labels: {{{label}: "{run}"}}}}
tools:
  py: {{command: [python3]}}
  sh: {{command: [sh, -c]}}
"""


def mount_studio(root: Path, *, delivery: str = "delivery: {packages: {bigdcc: mount}}",
                 repo: str = "packages", payload: bytes = b"payload\n" * 1000,
                 run: str = "1") -> Path:
    """Write the studio at ``root`` (repository folder ``repo``, the root's ``delivery``
    text as given, images labelled :data:`LABEL` ``= run``) and return its project folder
    ``projects/p``. Package ``bigdcc-1.0``
    holds ``bin/bigdcc`` (a script printing its own folder) and ``data/payload.bin``
    (``payload``); its commands set ``BIGDCC_ROOT`` and put ``bin`` on ``PATH``. The dev
    repository ``dev`` exists and is empty."""
    packages = root / repo
    package(packages, "python", "3.11")
    big = package(packages, "bigdcc", "1.0", commands="""
        env.BIGDCC_ROOT = "{root}"
        env.PATH.prepend("{root}/bin")
    """)
    (big / "bin").mkdir()
    script = big / "bin" / "bigdcc"
    script.write_text('#!/bin/sh\necho "bigdcc from $(dirname "$0")"\n')
    script.chmod(0o755)
    (big / "data").mkdir()
    (big / "data" / "payload.bin").write_bytes(payload)
    (root / "dev").mkdir(exist_ok=True)
    (root / "landscape.yaml").write_text(ROOT.format(repo=repo, delivery=delivery, label=LABEL,
                                                     run=run))
    project = root / "projects" / "p"
    project.mkdir(parents=True)
    (project / "landscape.yaml").write_text("level: project\n")
    return project


def dev_package(root: Path, name: str, version: str, commands: str) -> Path:
    """A package in the studio's dev repository (``dev/NAME/VERSION``) with ``commands``."""
    return package(root / "dev", name, version, commands=textwrap.dedent(commands))


def lock_project(project: Path) -> Path:
    """Write ``project``'s ``landscape.lock`` (the inputs phase, no engine) as the packages
    are now (nothing memoised in this process is used); its path."""
    from landscape import rezsolve
    from landscape.lock import LOCK_NAME, make_lock, write_lock
    from landscape.plan import make_plan

    rezsolve.clear_caches()

    write_lock(project / LOCK_NAME, make_lock(make_plan(project), project))
    return project / LOCK_NAME
