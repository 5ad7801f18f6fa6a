"""Printing for the CLI: errors, JSON, tables and build progress (Rich).

Rich is imported on first use (~0.1 s): a command that only prints JSON never loads it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import LandscapeError, flatten


class _LazyConsole:
    """A ``rich.console.Console`` made on first use (``stderr`` selects the stream)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    def real(self) -> Any:
        """The ``rich.console.Console`` itself (made now if need be): what Rich objects
        that use it as a context manager (``Live``, ``Progress``, ``Status``) are given."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


out: Any = _LazyConsole()
err: Any = _LazyConsole(stderr=True)


def escape(text: str) -> str:
    """``text`` with Rich markup escaped (``rich.markup.escape``)."""
    from rich.markup import escape as _escape

    return _escape(text)


def printable(text: object) -> str:
    """``text`` with every character a terminal could act on (escape sequences, other
    control and format characters, line separators) written as a ``\\x..``/``\\u....``
    escape; newlines and tabs stay. Config values are untrusted: an env value must not
    recolour, retitle or write to the clipboard of the terminal that shows it."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() or c in "\n\t" else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in s)


def safe(text: object) -> str:
    """``text`` for Rich: :func:`printable`, with Rich markup escaped."""
    return escape(printable(text))


def print_error(e: LandscapeError) -> None:
    """Every error inside ``e`` on stderr, one ``file:line:col: key.path: message`` per line
    (docs/commands.md); an error that has no place in a file reads ``error: message``."""
    errors = sorted(flatten(e), key=LandscapeError.sort_key)
    for item in errors:
        if item.location is not None:
            err.print(f"[red]{safe(item)}[/]")
        else:
            err.print(f"[bold red]error[/]: {safe(item)}")
    if len(errors) > 1:
        err.print(f"[red]{len(errors)} errors[/]")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (plain, not highlighted: it is for programs)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A progress or status line on stderr."""
    err.print(text)


class PlanProgress:
    """Progress of a plan over many contexts, on stderr: a Rich progress bar on a terminal;
    otherwise a plain ``planning: N/M contexts`` line every :attr:`every` seconds (a plan
    that ends sooner prints nothing). Call it as ``progress(done, total)``."""

    every = 5.0

    def __init__(self, title: str = "planning") -> None:
        import time

        self.title = printable(title)
        self.terminal = sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None
        self.clock = time.monotonic
        self.last = self.clock()
        self.printed = False

    def __enter__(self) -> "PlanProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.terminal:
            if self.bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, \
                    TextColumn, TimeElapsedColumn

                self.bar = Progress(TextColumn(escape(self.title)), BarColumn(),
                                    MofNCompleteColumn(), TextColumn("contexts"),
                                    TimeElapsedColumn(), console=err.real(), transient=True)
                self.bar.start()
                self.task = self.bar.add_task(self.title, total=total)
            self.bar.update(self.task, completed=done, total=total)
        elif self.clock() - self.last >= self.every or (done == total and self.printed):
            self.last = self.clock()
            self.printed = True
            sys.stderr.write(f"{self.title}: {done}/{total} contexts\n")
            sys.stderr.flush()


class BuildProgress:
    """Build progress on stderr: each ``Step N/M`` line printed; the latest output line of
    the step shown in a live status line (Rich), so long apt logs do not flood the terminal."""

    #: without a terminal, the latest output line is printed after this many quiet seconds
    quiet = 10.0

    def __init__(self, title: str) -> None:
        import time

        self.title = printable(title)
        self.status = err.status(escape(self.title))
        self.step = ""
        self.terminal = sys.stderr.isatty()
        self.clock = time.monotonic
        self.last = self.clock()

    def __enter__(self) -> "BuildProgress":
        self.status.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.status.__exit__(*exc)

    def __call__(self, line: str) -> None:
        line = printable(line)
        if line.startswith("Step "):
            self.step = line if len(line) < 110 else line[:107] + "..."
            err.print(f"  [dim]{escape(self.step)}[/]")
            self.last = self.clock()
            self.status.update(escape(f"{self.title}: {self.step}"))
        else:
            text = line.strip()
            text = text if len(text) < 100 else text[:97] + "..."
            if text.startswith(("baked ", "downloading")):
                err.print(f"    [dim]{escape(text)}[/]")
                self.last = self.clock()
            elif not self.terminal and text and self.clock() - self.last >= self.quiet:
                err.print(f"    [dim]… {escape(text)}[/]")  # a log has no status line
                self.last = self.clock()
            self.status.update(escape(f"{self.title}: {self.step}") + f"\n  [dim]{escape(text)}[/]")
