"""The ``landscape`` command line (thin: parsing and printing; the work is in the layers).

:func:`main` is the console script. User errors (:class:`~landscape.errors.LandscapeError`)
print as ``file:line:col: key.path: message`` on stderr and exit 1, without a traceback
unless ``--debug`` (or ``LANDSCAPE_DEBUG=1``) is given, before or after the command;
usage errors exit 2.

Shell completion (``_LANDSCAPE_COMPLETE`` set by the completion script, see
:mod:`landscape.cli.complete`) goes straight to the Typer application: neither the launch
agent nor the fast path of ``launch`` sees it.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); exits the process.

    ``landscape launch …`` without a terminal is handed to the user's launch agent when one
    runs (:mod:`landscape.cli.agent`: it answers with the exit code); everything else runs
    here (:func:`run`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["launch"] and not completing():
        from .agent import forward

        code = forward(args)
        if code is not None:
            sys.exit(code)
    run(args)


def completing() -> bool:
    """Whether this process was started by a shell's completion script (Click's
    ``_LANDSCAPE_COMPLETE`` variable is set): it must answer with completions only."""
    return bool(os.environ.get(COMPLETE_VAR))


#: the variable through which the completion scripts ask for completions (Click's
#: ``_<PROG>_COMPLETE``)
COMPLETE_VAR = "_LANDSCAPE_COMPLETE"


def strip_debug(args: list[str]) -> tuple[list[str], bool]:
    """``args`` without the ``--debug`` flags given before ``--`` (before or after the
    command: ``landscape --debug resolve X`` and ``landscape resolve X --debug`` mean the
    same), and whether there was one. What follows ``--`` belongs to the tool."""
    end = args.index("--") if "--" in args else len(args)
    head = [a for a in args[:end] if a != "--debug"]
    return head + args[end:], len(head) != end


def run(args: list[str]) -> None:
    """Run the CLI with ``args`` in this process; exits the process (``SystemExit``).

    ``landscape launch …`` of an unchanged context whose image is there runs without
    building the Typer application (:mod:`landscape.cli.fast`); everything else, and every
    launch that path gives back, goes through the application."""
    from ..errors import LandscapeError

    if completing():  # Click answers from the variables, then exits
        try:
            from .app import app

            app(args=[], prog_name="landscape")
        except Exception:  # noqa: BLE001 - a completion offers nothing rather than a traceback
            pass
        sys.exit(0)
    args, debug = strip_debug(args)
    if debug:
        os.environ["LANDSCAPE_DEBUG"] = "1"
    try:
        if args[:1] == ["launch"] and not os.environ.get("LANDSCAPE_DEBUG"):
            from .fast import launch

            code = launch(args[1:])
            if code is not None:
                sys.exit(code)
        from .app import app

        app(args=args, prog_name="landscape")
    except LandscapeError as e:
        from .output import print_error

        if os.environ.get("LANDSCAPE_DEBUG"):
            import traceback

            traceback.print_exc()
        print_error(e)
        sys.exit(1)
    except OSError as e:  # the host refused something (permissions, disk): say what, no traceback
        from ..errors import LandscapeError as _E
        from .output import print_error

        if os.environ.get("LANDSCAPE_DEBUG"):
            import traceback

            traceback.print_exc()
        where = f": {e.filename}" if e.filename else ""
        print_error(_E(f"{e.strerror or e}{where}"))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
