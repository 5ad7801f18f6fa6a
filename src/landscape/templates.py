"""Path templates (docs/config.md).

``templates`` values are Python format strings over the context's fields: ``{root}`` (the
studio root), one field per declared level (``{project}``, ``{shot}``, ``{asset}``, …),
``{task}``, ``{user}``, ``{tool}``, and other templates by name (``{work}``), expanded
recursively. Field names are read with :class:`string.Formatter` — the same parser
``str.format`` uses.
"""

from __future__ import annotations

import string
from typing import Mapping

from .errors import ConfigError
from .nodes import Node

BUILTIN_FIELDS = ("root", "user", "tool", "task")
#: How deep templates may refer to other templates (a longer chain is an error, not a crash).
MAX_TEMPLATE_DEPTH = 32
_FORMATTER = string.Formatter()


def template_fields(text: str) -> list[str]:
    """The field names used by the format string ``text`` (``{shot}`` → ``shot``).

    Raises ``ValueError`` for a malformed format string (unbalanced braces), a positional
    field, an attribute or index, a conversion or a format spec (``{root:>3000000000}``
    would ask for gigabytes).
    """
    names = []
    for _literal, fname, spec, conv in _FORMATTER.parse(text):
        if fname is not None:
            if spec or conv:
                raise ValueError(f"{{{fname}{'!' + conv if conv else ''}"
                                 f"{':' + spec if spec else ''}}}: templates take no "
                                 "conversions or format specs")
            if fname == "" or fname.isdigit():
                raise ValueError("positional fields {} are not allowed; name the field")
            if not fname.isidentifier():
                raise ValueError(f"{{{fname}}} is not a field name (no attributes or indexes)")
            names.append(fname)
    return names


class MissingField(ConfigError):
    """A template needs a field this context does not define (e.g. ``{shot}`` at a project)."""


def expand_template(text: str, fields: Mapping[str, str], templates: Mapping[str, Node],
                    node: Node | None = None, path: tuple = (), _stack: tuple = ()) -> str:
    """Expand the format string ``text`` with ``fields`` and other ``templates`` by name.
    ``path`` is the key path of ``text`` (for errors); when ``text`` is the template
    ``templates.NAME``, pass ``_stack=(NAME,)`` so that a cycle is named from its start.

    Raises :class:`MissingField` when a field is unknown to this context and
    :class:`ConfigError` on a template cycle or malformed string; both name the template's
    location when ``node`` is given.
    """
    loc = node.loc if node is not None else None
    if len(_stack) > MAX_TEMPLATE_DEPTH:
        raise ConfigError(f"templates refer to templates more than {MAX_TEMPLATE_DEPTH} deep: "
                          + " -> ".join(_stack[:3]) + " -> …", loc, path)
    try:
        names = template_fields(text)
    except ValueError as e:
        raise ConfigError(f"bad template {text!r}: {e}", loc, path) from None
    values: dict[str, str] = {}
    for name in names:
        if name in fields:
            values[name] = str(fields[name])
        elif name in templates:
            if name in _stack:
                raise ConfigError("template cycle: " + " -> ".join(_stack + (name,)), loc, path)
            sub = templates[name]
            values[name] = expand_template(str(sub.value), fields, templates, sub,
                                           ("templates", name), _stack + (name,))
        else:
            raise MissingField(f"template field {{{name}}} is not defined for this context",
                               loc, path)
    try:
        return text.format(**values)
    except (ValueError, KeyError, IndexError, AttributeError) as e:
        raise ConfigError(f"bad template {text!r}: {e}", loc, path) from None
