"""The fast path of ``landscape launch``: a launch of an unchanged context whose image is
there, without building the Typer application.

Building the command-line application (Typer inspects every command's signature and
evaluates its annotations) and importing Typer and Rich cost more than everything a warm
launch asks the engine. So :func:`launch` runs first, for ``landscape launch …`` only:
it reads the arguments with a small parser (:func:`parse_launch`) that accepts only the
plain forms of the command's options and gives up — returning ``None``, so the full
command line takes over — on anything else (``--help``, an unknown option, an option value
that starts with ``-``, a missing context or tool). It then launches only when the resolve
cache answers (:mod:`landscape.resolvecache`) and the image is in the engine with the
labels it must have; otherwise it returns ``None`` too, and the full command resolves,
gets or builds the image with progress, and launches. Both paths end in the same
:func:`landscape.engine.session.run_launch` (as the launcher window's launches do), so what
runs is the same; a test compares what both parsers make of
many command lines.

Imports here stay light: no Typer, Rich, rez, YAML or Docker SDK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: options of ``launch`` that take a value: flag spellings → field
VALUE_OPTIONS = {"--tool": "tool", "-t": "tool", "--variant": "variant", "--add": "add",
                 "-a": "add", "--env": "env", "--root": "root"}
#: repeatable options (a list each)
REPEATED = ("variant", "add", "env")


@dataclass
class LaunchArgs:
    """``landscape launch`` as parsed: ``context`` and ``root`` as given (``root`` from
    ``--root`` or ``$LANDSCAPE_ROOT``), ``tool`` (``T`` or ``T/V``), the repeatable
    ``variant``/``add``/``env`` values in order, ``warm``, ``host``, ``dev``, and the
    tool's ``args``."""

    context: Path
    tool: str
    variant: list[str] = field(default_factory=list)
    add: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    warm: bool = False
    dev: bool = False
    root: Path | None = None
    args: list[str] = field(default_factory=list)
    host: bool = False


def parse_launch(args: list[str]) -> LaunchArgs | None:
    """``args`` (what follows ``launch`` on the command line) as a :class:`LaunchArgs`, or
    ``None`` when they hold anything but the plain forms — ``--tool T``, ``--tool=T``,
    ``-t T`` (likewise ``--variant``, ``--add``/``-a``, ``--env``, ``--root``), ``--warm``,
    ``--host`` (not both), ``--dev``, positional words (the context, then the tool's
    arguments) and ``--`` (everything after it is positional) — or lack a context or a
    tool. Never raises: the full command line reports usage errors."""
    values: dict[str, Any] = {"variant": [], "add": [], "env": []}
    positional: list[str] = []
    warm = host = dev = False
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            positional += args[i:]
            break
        if token == "--warm":
            warm = True
            continue
        if token == "--host":
            host = True
            continue
        if token == "--dev":
            dev = True
            continue
        if not token.startswith("-"):
            positional.append(token)
            continue
        name, eq, value = token.partition("=")
        key = VALUE_OPTIONS.get(name)
        if key is None or (eq and not name.startswith("--")):
            return None  # --help, an unknown option, -t=…, -tVALUE: the full parser's
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if not value or value.startswith("-"):
            return None
        if key in REPEATED:
            values[key].append(value)
        elif key in values:
            return None  # given twice: the full parser says which wins
        else:
            values[key] = value
    if not positional or not positional[0] or not values.get("tool") or (warm and host):
        return None
    root = values.get("root") or os.environ.get("LANDSCAPE_ROOT") or None
    return LaunchArgs(context=Path(positional[0]), tool=values["tool"],
                      variant=values["variant"], add=values["add"], env=values["env"],
                      warm=warm, dev=dev, root=Path(root) if root else None,
                      args=positional[1:], host=host)


def launch(args: list[str]) -> int | None:
    """Run ``landscape launch ARGS`` from the resolve cache: the tool's exit code, or
    ``None`` when this path does not apply (see the module doc). Raises what the launch
    raises (:class:`~landscape.errors.LandscapeError`)."""
    parsed = parse_launch(args)
    if parsed is None:
        return None
    from .. import resolvecache
    from ..engine.images import image_id
    from ..engine.launch import launch_spec
    from ..errors import LandscapeError
    from ..launchinputs import LaunchInputs

    req = resolvecache.request("launch", parsed.context, tool=parsed.tool,
                               variants=parsed.variant, add=parsed.add, env=parsed.env,
                               dev=parsed.dev, root=parsed.root)
    record = resolvecache.lookup(req, "launch")
    if record is None:
        return None
    try:
        inputs = LaunchInputs.from_record(record)
    except (KeyError, TypeError, ValueError, LandscapeError):
        return None
    from ..engine.session import run_host_launch, run_launch

    if parsed.host:
        tty, stdin = terminal_modes()
        return run_host_launch(inputs, parsed.args, tty=tty, stdin=stdin)
    spec = launch_spec(inputs, parsed.args)
    found = image_id(inputs.image, inputs.image_labels or None)
    if found is None:
        return None
    spec.image = found
    tty, stdin = terminal_modes()
    return run_launch(inputs, spec, parsed.warm, tty=tty, stdin=stdin)


def terminal_modes(shell: bool = False) -> tuple[bool, bool]:
    """``(tty, stdin)`` of a launch from this process: a terminal for the tool when stdin
    and stdout are both terminals (for ``shell``: when stdin is), stdin passed on when it is
    a terminal or a pipe or file (:func:`piped_stdin`) — always for ``shell``."""
    import sys

    def isatty(stream: Any) -> bool:  # None: this process was started with it closed
        try:
            return bool(stream is not None and stream.isatty())
        except (OSError, ValueError):
            return False

    if shell:
        return isatty(sys.stdin), True
    terminal = isatty(sys.stdin) and isatty(sys.stdout)
    return terminal, terminal or piped_stdin()


def piped_stdin() -> bool:
    """Whether this process's stdin is a pipe or file to pass on (not a terminal, not
    closed, not ``/dev/null``)."""
    import stat

    try:
        st = os.fstat(0)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat(os.devnull).st_rdev:
            return False
    except OSError:
        return False
    return not os.isatty(0)
