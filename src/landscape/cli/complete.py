"""Shell completion of ``landscape``'s arguments (Click's completion, through Typer).

``landscape --install-completion`` writes the completion script of the user's shell (bash,
zsh, fish, PowerShell); the script runs ``landscape`` with ``_LANDSCAPE_COMPLETE`` set and
the words typed so far, and Click calls the functions here:

- :func:`complete_folder` — ``CONTEXT``/``PROJECT``/``PATH`` arguments: sub-folders of what
  is typed, taken from the working directory and, for a relative path, from the studio root
  (``--root`` on the command line, else ``LANDSCAPE_ROOT``); hidden folders only when the
  typed name starts with ``.``, ``.landscape`` never;
- :func:`complete_tool` — ``--tool``: the tools of the context already on the command line,
  and ``T/V`` for each of their variants (nested ones too), read from its cascade
  (:func:`landscape.cascade.build_cascade`, ``plain("tools")``): no rez, no solve;
- :func:`complete_variant` — ``--variant``: the ``landscape.<v>.yaml`` names on the walk of
  that context (:func:`landscape.cascade.variant_names`).

A completion never raises and never prints anything but candidates: any error (no studio
root, a broken file, an unreadable folder) means no candidates. Folder and tool names come
from untrusted files and folders, and the shells' completion protocols are line- and
word-based (zsh's is even ``eval``'d), so a candidate is offered only when every character
of it is a letter, a digit or one of ``_@%+=,./-`` (:func:`offerable`): a name with a space,
a quote, a newline or a shell metacharacter is left out, never mangled into another word.

Imports stay light (no rez, no Docker SDK): the module is loaded with the application.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: what a candidate may be made of: word characters and the few punctuation characters
#: that mean nothing to bash, zsh, fish or PowerShell (``shlex``'s safe set, without ``:``,
#: which zsh's completion protocol uses as a separator)
_SAFE = re.compile(r"[\w@%+=,./-]+")
#: at most this many candidates are offered (a folder of 10,000 shots is listed whole by
#: the shell otherwise; narrowing what is typed narrows the list)
LIMIT = 2000


#: the bash script ``--show-completion``/``--install-completion`` write: Typer's, plus no
#: space after a lone folder candidate (``projects/`` goes on to its sub-folders)
BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""


def use_bash_script() -> None:
    """Make Typer write :data:`BASH_SCRIPT` for bash (its table of scripts; left as it is
    when a Typer version has no such table)."""
    try:
        from typer import _completion_shared

        if isinstance(getattr(_completion_shared, "_completion_scripts", None), dict):
            _completion_shared._completion_scripts["bash"] = BASH_SCRIPT
    except ImportError:  # pragma: no cover - Typer moved it: its own script still works
        pass


def offerable(text: str) -> bool:
    """Whether ``text`` can be offered to a shell as it is: non-empty and made only of
    letters, digits and ``_@%+=,./-`` (no whitespace, quotes, ``$``, backquotes, ``;``,
    ``|``, ``&``, globs, control characters), and not starting with ``-`` (an option)."""
    return bool(_SAFE.fullmatch(text)) and text.isprintable() and not text.startswith("-")


def _root(ctx: Any) -> Path | None:
    """The studio root named on the command line (``--root``), else by ``LANDSCAPE_ROOT``."""
    value = (getattr(ctx, "params", None) or {}).get("root") or os.environ.get(
        "LANDSCAPE_ROOT")
    return Path(value) if value else None


def folder_choices(incomplete: str, root: Path | None = None,
                   cwd: Path | None = None) -> list[str]:
    """The folders ``incomplete`` (a path as typed) may complete to, each ending in ``/``,
    sorted, at most :data:`LIMIT`, only :func:`offerable` ones: sub-folders of the typed
    folder part, looked for from ``cwd`` (default: the working directory) and — for a
    relative path — from ``root``. ``~`` at the start is the home folder. Never raises."""
    head, slash, name = incomplete.rpartition("/")
    prefix = head + slash
    where = os.path.expanduser(prefix) if prefix.startswith("~") else prefix
    bases = [Path(cwd or ".") / where] if not os.path.isabs(where) else [Path(where)]
    if root is not None and not os.path.isabs(where):
        bases.append(Path(root) / where)
    found: set[str] = set()
    for base in bases:
        try:
            with os.scandir(base if str(base) else ".") as entries:
                for entry in entries:
                    n = entry.name
                    if not n.startswith(name) or n == ".landscape" or (
                            n.startswith(".") and not name.startswith(".")):
                        continue
                    try:
                        if not entry.is_dir():
                            continue
                    except OSError:
                        continue
                    candidate = f"{prefix}{n}/"
                    if offerable(candidate):
                        found.add(candidate)
                    if len(found) >= LIMIT:
                        break
        except (OSError, ValueError):
            continue
    return sorted(found)[:LIMIT]


def tool_choices(tools: Any) -> list[str]:
    """``T`` and ``T/V`` (nested variants: ``T/V/W``) for every tool of ``tools`` (the plain
    ``tools`` map of a cascade), in the config's order, each tool before its variants; only
    :func:`offerable` names (a variant of a name left out is left out too)."""
    out: list[str] = []

    def walk(name: str, fields: Any, depth: int) -> None:
        if not offerable(name) or len(out) >= LIMIT:
            return
        out.append(name)
        variants = fields.get("variants") if isinstance(fields, dict) else None
        if isinstance(variants, dict) and depth < 8:
            for v, sub in variants.items():
                if isinstance(v, str) and "/" not in v:
                    walk(f"{name}/{v}", sub, depth + 1)

    if isinstance(tools, dict):
        for name, fields in tools.items():
            if isinstance(name, str) and "/" not in name:
                walk(name, fields, 0)
    return out


def _context(ctx: Any) -> tuple[Path | None, list[str], Path | None]:
    """``(context, variants, root)`` already on the command line being completed."""
    params = getattr(ctx, "params", None) or {}
    context = params.get("context") or params.get("context_a")
    if not context:  # while completing, Click leaves the positional words unassigned
        words = [a for a in (getattr(ctx, "args", None) or []) if isinstance(a, str)]
        context = words[0] if words else None
    variants = [v for v in (params.get("variant") or []) if isinstance(v, str)]
    return (Path(context) if context else None), variants, _root(ctx)


def complete_folder(ctx: Any, incomplete: str) -> list[str]:
    """Click completion of a folder argument (see :func:`folder_choices`)."""
    try:
        return folder_choices(incomplete or "", _root(ctx))
    except Exception:  # noqa: BLE001 - a completion offers nothing rather than fail
        return []


def complete_tool(ctx: Any, incomplete: str) -> list[str]:
    """Click completion of ``--tool``: :func:`tool_choices` of the context on the command
    line (its cascade with the variants given so far), those starting with ``incomplete``."""
    try:
        context, variants, root = _context(ctx)
        if context is None:
            return []
        from ..cascade import build_cascade

        tools = build_cascade(context, variants, root).plain("tools", {}) or {}
        return [t for t in tool_choices(tools) if t.startswith(incomplete or "")]
    except Exception:  # noqa: BLE001 - a broken context completes to nothing
        return []


def complete_variant(ctx: Any, incomplete: str) -> list[str]:
    """Click completion of ``--variant``: the variant files' names on the walk of the
    context on the command line, those starting with ``incomplete``."""
    try:
        context, _variants, root = _context(ctx)
        if context is None:
            return []
        from ..cascade import variant_names

        return [v for v in variant_names(context, root)
                if v.startswith(incomplete or "") and offerable(v)]
    except Exception:  # noqa: BLE001 - a broken context completes to nothing
        return []
