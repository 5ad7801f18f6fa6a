"""The ``landscape`` command line (thin: parsing and printing; the work is in the layers).

:func:`main` is the console script. User errors (:class:`~landscape.errors.LandscapeError`)
print as ``file:line:col: key.path: message`` on stderr and exit 1, without a traceback
unless ``--debug`` (or ``LANDSCAPE_DEBUG=1``) is given; usage errors exit 2.
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
    if args[:1] == ["launch"]:
        from .agent import forward

        code = forward(args)
        if code is not None:
            sys.exit(code)
    run(args)


def run(args: list[str]) -> None:
    """Run the CLI with ``args`` in this process; exits the process (``SystemExit``).

    ``landscape launch …`` of an unchanged context whose image is there runs without
    building the Typer application (:mod:`landscape.cli.fast`); everything else, and every
    launch that path gives back, goes through the application."""
    from ..errors import LandscapeError

    head = args[: args.index("--")] if "--" in args else args
    if "--debug" in head:
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
