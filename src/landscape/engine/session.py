"""Launch orchestration shared by the front ends: the command line (``landscape launch``,
``shell``) and the launcher window call the same functions, so a launch from either runs
the same way.

- :func:`launch_inputs`: what launching a tool of a context needs, from the resolve cache
  when nothing it was made from changed (:mod:`landscape.resolvecache`), else resolved;
- :func:`launch_image_id` / :func:`ensure_launch_image`: the launch's image — local, else
  pulled from the studio registry (checked against the lock), else built from a fresh
  resolve;
- :func:`run_launch` / :func:`run_host_launch`: run it (in a container, its warm workspace
  or on the host) with its audit record;
- :func:`equivalent_command`: the ``landscape launch …`` command line of a launch, shown to
  the user, built from data with :func:`shlex.join`.

Imports stay light (the command line's fast path imports this module): the engine, rez and
the resolve are imported inside the functions that need them.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:
    from ..context import ResolvedContext
    from ..launchinputs import LaunchInputs
    from .images import ImageResult
    from .launch import LaunchSpec

Log = Callable[[str], None]


def fresh_resolve(context: Path, tool: str, variants: Sequence[str], root: Path | None,
                  add: Sequence[str] = (), env: Sequence[str] = (), dev: bool = False
                  ) -> "ResolvedContext":
    """A fresh resolve of ``tool`` of ``context`` (imports rez); raises what
    :func:`landscape.context.resolve` raises."""
    from ..context import Extras, resolve

    return resolve(context, tool=tool, variants=list(variants), extras=Extras(add, env),
                   root=root, dev=dev)


def launch_inputs(command: str, context: Path, tool: str, variants: Sequence[str],
                  root: Path | None, add: Sequence[str] = (), env: Sequence[str] = (),
                  dev: bool = False) -> "LaunchInputs":
    """What launching ``tool`` (``T`` or ``T/V``) of ``context`` with context ``variants``
    and command-line extras (``add`` package requests, ``env`` ``NAME=VALUE`` items, ``dev``)
    needs: a :class:`~landscape.launchinputs.LaunchInputs`, from the resolve cache when
    nothing it was made from changed (``command`` — ``launch`` or ``shell`` — keys the
    entry), else from :func:`fresh_resolve`. Raises what the resolve raises
    (:class:`~landscape.errors.LandscapeError`: config, policy and solve errors)."""
    from .. import resolvecache

    req = resolvecache.request(command, context, tool=tool, variants=list(variants),
                               add=list(add), env=list(env), dev=dev, root=root)
    return resolvecache.launch_inputs(
        req, lambda: fresh_resolve(context, tool, variants, root, add, env, dev))


def launch_image_id(inputs: "LaunchInputs") -> str | None:
    """The engine's id (``sha256:…``) of the image of ``inputs`` carrying every label it
    must (:func:`landscape.engine.images.image_id`), or ``None`` when the engine lacks it.
    Raises :class:`~landscape.errors.EngineError` when no engine answers."""
    from .images import image_id

    return image_id(inputs.image, inputs.image_labels or None)


def ensure_launch_image(inputs: "LaunchInputs", fresh: Callable[[], "ResolvedContext"],
                        log: Log, *, build: bool = True) -> "ImageResult | None":
    """Make the image of a launch (``inputs``) local: ``None`` when the engine has it
    already (:func:`launch_image_id`), else the
    :class:`~landscape.engine.images.ImageResult` of getting it — pulled from the studio
    registry (``image.registry``, checked against the lock), else built (unless ``build``
    is false) with its progress lines sent to ``log`` — from a fresh resolve (``fresh()``),
    so a build never rests on a cached answer. The result's ``id`` is the image id to run.

    Raises :class:`~landscape.errors.LandscapeError` when the context's image changed while
    launching, :class:`~landscape.errors.EngineError` when the image cannot be had (no
    engine, a failed build or pull, nothing to pull without ``build``)."""
    import dataclasses

    if launch_image_id(inputs) is not None:
        return None
    from ..errors import EngineError, LandscapeError
    from .delivery import ensure_context_image
    from .images import image_id

    rc = fresh()
    if rc.image.key != inputs.image.key:  # pragma: no cover - the cache checked inputs
        raise LandscapeError(f"{inputs.context}: its image changed while launching; "
                             "try again")
    settings = rc.cascade.studio_image()
    result = ensure_context_image(rc.image, rc.cascade.project_dir, settings.get("registry"),
                                  log=log, root=rc.cascade.root, settings=settings,
                                  build=build)
    found = image_id(rc.image)
    if found is None:
        raise EngineError(f"image {rc.image.tag} is not in the engine after getting it")
    return dataclasses.replace(result, id=found)


def _stderr_warning(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def run_launch(inputs: "LaunchInputs", spec: "LaunchSpec", warm: bool, *, tty: bool,
               stdin: bool, command: str = "launch",
               out: Callable[[bytes], None] | None = None,
               err: Callable[[bytes], None] | None = None,
               started: Callable[[str], None] | None = None,
               warn: Callable[[str], None] | None = None) -> int:
    """Run launch ``spec`` (its ``image`` an image id) of ``inputs`` in a fresh container,
    or in its workspace when ``warm``; the tool's exit code.

    ``spec``'s warnings (a GPU asked for and not found) go to ``warn`` first, one call each
    (default: ``warning: …`` lines on stderr). ``out``/``err`` receive the tool's output
    bytes as they come (default: this process's stdout/stderr); ``started(container id)``
    is called once the container of a cold launch exists (a warm launch runs in its
    workspace: not called). ``tty`` and ``stdin``: see
    :func:`landscape.engine.launch.run`. The launch's audit record
    (:func:`landscape.engine.audit.audited`; ``command`` is ``launch`` or ``shell``) is
    written when it ends. Raises :class:`~landscape.errors.LandscapeError` for a warm launch
    when ``launch.warm_idle`` is not a duration, and what the engine layer raises."""
    from .audit import audited

    for warning in spec.warnings:
        (warn or _stderr_warning)(warning)
    if warm:
        from ..errors import LandscapeError
        from .workspace import run_warm

        if inputs.warm_idle is None:
            raise LandscapeError(inputs.warm_idle_error or "launch.warm_idle is not a duration")
        with audited(inputs, "warm", command, spec.image) as record:
            record.exit = run_warm(spec, inputs.root, inputs.project, inputs.warm_idle,
                                   tty=tty, stdin=stdin)
        return record.exit
    from .launch import run

    with audited(inputs, "cold", command, spec.image) as record:
        record.exit = run(spec, out, err, tty=tty, stdin=stdin, started=started)
    return record.exit


#: what ``launch --host`` says before the tool starts
HOST_NOTE = ("note: --host runs the tool on this machine, not in a container: the policy's "
             "mounts and the container's isolation do not apply\n")


def run_host_launch(inputs: "LaunchInputs", args: list[str], *, tty: bool, stdin: bool,
                    command: str = "launch", argv: list[str] | None = None) -> int:
    """Run the tool of ``inputs`` with ``args`` on this machine (``launch --host``,
    :func:`landscape.engine.hostlaunch.run_host`; ``argv`` instead of the tool's own, for
    ``shell --host``) after a one-line note on stderr, with its audit record (mode
    ``host``; ``command`` is ``launch`` or ``shell``); the tool's exit code."""
    from .audit import audited
    from .hostlaunch import run_host

    if inputs.payloads:  # the payloads are the host's own folders: still the locked ones
        from .payloads import payload_binds

        payload_binds(inputs)
    sys.stderr.write(HOST_NOTE)
    sys.stderr.flush()
    with audited(inputs, "host", command, None) as record:
        record.exit = run_host(inputs, args, tty=tty, stdin=stdin, command=argv)
    return record.exit


def _option(flag: str, value: str) -> list[str]:
    """``[flag, value]``, or ``[flag=value]`` when the value starts with ``-`` (it would
    read as an option of its own)."""
    return [f"{flag}={value}"] if value.startswith("-") else [flag, value]


def equivalent_command(context: Path | str, tool: str, variant: str | None,
                       variants: Iterable[str] = (), args: Iterable[str] = (),
                       root: Path | str | None = None) -> str:
    """The ``landscape launch CONTEXT --tool T[/V] [--variant X]… [--root R] -- ARGS…``
    command line that makes the same launch: ``tool`` with its tool ``variant`` (``None``
    or ``""``: the default), context ``variants`` in order, the studio ``root`` when given
    and the tool's ``args`` after ``--`` (left out without args). Every part is one word
    quoted by :func:`shlex.join` (config text is never pasted into it); a value that starts
    with ``-`` is written ``--option=value`` and a relative context that does, ``./…``, so
    the line parses back to the same request (``shlex.split`` then the command's parser)."""
    where = os.fspath(context)
    if where.startswith("-"):
        where = "./" + where
    words = ["landscape", "launch", where]
    words += _option("--tool", f"{tool}/{variant}" if variant else tool)
    for v in variants:
        words += _option("--variant", v)
    if root is not None:
        words += _option("--root", os.fspath(root))
    args = list(args)
    if args:
        words += ["--", *args]
    return shlex.join(words)


def one_line(error: BaseException, limit: int = 500) -> str:
    """``error`` as one line of text (its lines joined with ``"; "``), at most ``limit``
    characters: what a window shows of a launch that could not start."""
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    text = text or type(error).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"

