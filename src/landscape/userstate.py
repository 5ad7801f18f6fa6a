"""The user's state at launch as config declares it (docs/config.md, Launches and Secrets):
where a launch's home lives (``launch.home``, ``launch.home_root``), where its audit record
goes (``launch.audit``, ``launch.audit_required``) and which secrets it gets (the studio
root's top-level ``secrets`` and the tool's own), as plain data (:class:`UserState`,
:class:`SecretSpec`) that the resolve cache may keep.

Only **declarations** live here. A secret's value is read by the engine at each launch
(:mod:`landscape.engine.secrets`) and never enters a record, a cache entry, a label, an image
or ``resolve --json`` (which shows :meth:`SecretSpec.masked`).

Rules (docs/security.md):

- ``launch`` is the studio root's alone (a deeper file setting it is an error,
  :mod:`landscape.cascade`); so are **secrets**: only the studio root's file may declare
  one, at its top level or in a tool (:func:`file_errors`). A file below the root is
  hostile input, and a secret it could declare would let it pick any variable of the
  user's environment or any file the user can read and hand it to a command it chooses.
- A secret's ``from_file`` may name any path: relative to the root file, ``~`` being the
  launching user's home (expanded at launch).

Imports stay light (the fast launch path reads :class:`UserState` back from the cache).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, Location

if TYPE_CHECKING:
    from .nodes import Node

HOME_MODES = ("persistent", "ephemeral", "host")
DEFAULT_HOME = "persistent"
#: ``launch.audit: syslog``: records go to the host's syslog instead of a folder
AUDIT_SYSLOG = "syslog"
#: variables a launch sets itself; no secret may take their name
RESERVED_NAMES = ("USER", "LOGNAME", "HOME")


@dataclass(frozen=True)
class SecretSpec:
    """One secret a launch gets: its variable ``name``; its ``source`` (``env`` or
    ``file``) and ``ref`` as written (the variable, or the path); for a file, ``path``:
    absolute, or ``~/…`` (expanded at launch against the launching user's home); whether
    the tool gets it ``as_file`` (the variable names a private file holding it) or as the
    variable's value; and where it was declared
    (``file``, ``line``, ``col`` and ``key_path``, for one-line errors)."""

    name: str
    source: str
    ref: str
    path: str | None
    as_file: bool
    file: str
    line: int = 0
    col: int = 0
    key_path: tuple[str, ...] = ()

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.col)

    def masked(self) -> str:
        """What ``resolve --json`` and ``context.json`` show instead of the value:
        ``<secret from env RLM_LICENSE>``, ``<secret from file ~/t, as file>``."""
        return (f"<secret from {self.source} {self.ref}"
                f"{', as file' if self.as_file else ''}>")

    def to_record(self) -> dict:
        return {"name": self.name, "source": self.source, "ref": self.ref, "path": self.path,
                "as_file": self.as_file, "file": self.file,
                "line": self.line, "col": self.col, "key_path": list(self.key_path)}

    @classmethod
    def from_record(cls, data: dict) -> "SecretSpec":
        """The spec :meth:`to_record` wrote. Raises ``KeyError``/``TypeError``/
        ``ValueError`` for anything else."""
        spec = cls(str(data["name"]), str(data["source"]), str(data["ref"]),
                   None if data["path"] is None else str(data["path"]),
                   bool(data["as_file"]), str(data["file"]),
                   int(data["line"]), int(data["col"]), tuple(str(k) for k in data["key_path"]))
        if spec.source not in ("env", "file") or (spec.source == "file") != (spec.path
                                                                           is not None):
            raise ValueError("secret source")
        return spec


@dataclass(frozen=True)
class UserState:
    """The studio root's launch settings for the user's state: ``home`` (one of
    :data:`HOME_MODES`), ``home_root`` (the folder of persistent homes, absolute; ``None``:
    ``<user data dir>/homes``), ``audit`` (an absolute folder, :data:`AUDIT_SYSLOG`, or
    ``None`` for no audit), ``audit_required`` (refuse a launch whose record cannot be
    written), the ``secrets`` of the launch, and ``error`` — why these settings cannot be
    used (a launch then refuses, with that one line)."""

    home: str = DEFAULT_HOME
    home_root: str | None = None
    audit: str | None = None
    audit_required: bool = False
    secrets: tuple[SecretSpec, ...] = ()
    error: str | None = None

    def to_record(self) -> dict:
        return {"home": self.home, "home_root": self.home_root, "audit": self.audit,
                "audit_required": self.audit_required,
                "secrets": [s.to_record() for s in self.secrets], "error": self.error}

    @classmethod
    def from_record(cls, data: dict) -> "UserState":
        """The settings :meth:`to_record` wrote. Raises ``KeyError``/``TypeError``/
        ``ValueError`` for anything else."""
        state = cls(str(data["home"]), _opt(data["home_root"]), _opt(data["audit"]),
                    bool(data["audit_required"]),
                    tuple(SecretSpec.from_record(s) for s in data["secrets"]),
                    _opt(data["error"]))
        if state.home not in HOME_MODES:
            raise ValueError("home mode")
        return state


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


# -- reading config ---------------------------------------------------------------------------

def _launch_item(root_node: "Node | None", key: str) -> "Node | None":
    launch = root_node.get("launch") if root_node is not None and root_node.is_map else None
    return launch.get(key) if launch is not None and launch.is_map else None


def _root_path(item: "Node", root_dir: str, key: str) -> str:
    from .merge import expand_host_vars

    text = os.path.expanduser(expand_host_vars(str(item.value), item.loc, ("launch", key),
                                               trusted=True))
    return os.path.normpath(os.path.join(root_dir, text))


def launch_settings(root_node: "Node | None", root_dir: str) -> tuple[str, str | None,
                                                                     str | None, bool]:
    """``(home, home_root, audit, audit_required)`` from the studio root's file
    (``root_node``; its folder ``root_dir``): paths made absolute against the root (``~``
    and ``${VAR}`` expanded), ``audit`` may be :data:`AUDIT_SYSLOG`. Raises
    :class:`ConfigError` at the value for an unset ``${VAR}`` or a value of the wrong kind
    (the schema reports those too)."""
    home_item = _launch_item(root_node, "home")
    home = str(home_item.value) if home_item is not None else DEFAULT_HOME
    if home not in HOME_MODES:
        raise ConfigError(f"launch.home must be one of {', '.join(HOME_MODES)}",
                          home_item.loc, ("launch", "home"))
    root_item = _launch_item(root_node, "home_root")
    home_root = _root_path(root_item, root_dir, "home_root") if root_item is not None \
        else None
    audit_item = _launch_item(root_node, "audit")
    audit = None
    if audit_item is not None:
        audit = AUDIT_SYSLOG if audit_item.value == AUDIT_SYSLOG else \
            _root_path(audit_item, root_dir, "audit")
    required = _launch_item(root_node, "audit_required")
    return home, home_root, audit, bool(required is not None and required.value is True)


def secret_specs(root_node: "Node | None", root_file: str, tool_secrets: "Node | None",
                 tool: str = "") -> list[SecretSpec]:
    """The secrets of a launch: the studio root's top-level ``secrets`` (``root_node``, the
    root file's node; ``root_file`` its path), then the tool's (``tool_secrets``, the merged
    ``secrets`` of the tool path ``tool`` and its variants), a tool's secret replacing the
    root's of the same name. Raises :class:`ConfigError` at the declaration for a name a
    launch sets itself or an entry that is not one secret (see the module doc)."""
    out: dict[str, SecretSpec] = {}
    top = root_node.get("secrets") if root_node is not None and root_node.is_map else None
    for node, prefix in ((top, ("secrets",)), (tool_secrets, ("tools", tool, "secrets"))):
        if node is None or not node.is_map:
            continue
        for name, entry in node.items():
            out.pop(name, None)
            out[name] = _spec(name, entry, node.key_loc(name), root_file, prefix + (name,))
    return list(out.values())


def _spec(name: str, entry: "Node", loc: Location, root_file: str,
          key_path: tuple[str, ...]) -> SecretSpec:
    if name in RESERVED_NAMES:
        raise ConfigError(f"{name} is the launching user's own and cannot be a secret", loc,
                          key_path)
    fields = {k: v for k, v in entry.items()} if entry.is_map else {}
    as_node = fields.get("as")
    as_file = as_node is not None and as_node.value == "file"
    if "from_env" in fields:
        return SecretSpec(name, "env", str(fields["from_env"].value), None, as_file,
                          loc.file, loc.line, loc.col, key_path)
    item = fields.get("from_file")
    if item is None:
        raise ConfigError("a secret needs exactly one of from_env and from_file", entry.loc,
                          key_path)
    text = str(item.value)
    if text == "~" or text.startswith("~/"):
        path = "~/" + posixpath.normpath(text[2:] or ".").lstrip("/") if text != "~" else "~"
    else:
        path = os.path.normpath(os.path.join(os.path.dirname(root_file),
                                             os.path.expanduser(text)))
    return SecretSpec(name, "file", text, path, as_file, loc.file, loc.line, loc.col,
                      key_path)


def file_errors(node: "Node | None", is_root: bool) -> list[ConfigError]:
    """What one config file (``node``; the studio root's plain file when ``is_root``) may
    not say about secrets: a secret named like a variable the launch sets itself
    (:data:`RESERVED_NAMES`); below the studio root, any ``secrets`` at all (top level, a
    tool's or a variant's). Reported by ``check`` at the line, and fatal for the contexts
    beneath the file."""
    if node is None or not node.is_map:
        return []
    errors = []
    top = node.get("secrets")
    if top is not None and not is_root:
        errors.append(_below_root(node, ("secrets",)))
    elif top is not None:
        errors += _secrets_errors(top, ("secrets",), True)
    tools = node.get("tools")
    for name, tool in (tools.items() if tools is not None and tools.is_map else ()):
        errors += _tool_errors(tool, ("tools", name), is_root)
    return errors


def _tool_errors(tool: "Node", path: tuple, is_root: bool) -> list[ConfigError]:
    if not tool.is_map:
        return []
    errors = _secrets_errors(tool.get("secrets"), path + ("secrets",), is_root, tool)
    variants = tool.get("variants")
    for name, variant in (variants.items() if variants is not None and variants.is_map
                          else ()):
        errors += _tool_errors(variant, path + ("variants", name), is_root)
    return errors


def _below_root(parent: "Node", path: tuple) -> ConfigError:
    return ConfigError("secrets may only be declared in the studio root's landscape.yaml "
                       "(at its top level or in a tool)", parent.key_loc("secrets"), path,
                       hint="a file below the root must not choose which of the user's "
                       "variables or files a command it sets gets to read")


def _secrets_errors(secrets: "Node | None", path: tuple, is_root: bool,
                    parent: "Node | None" = None) -> list[ConfigError]:
    if secrets is not None and not is_root and parent is not None:
        return [_below_root(parent, path)]
    errors = []
    for name, _entry in (secrets.items() if secrets is not None and secrets.is_map else ()):
        if name in RESERVED_NAMES:
            errors.append(ConfigError(f"{name} is the launching user's own and cannot be a "
                                      "secret", secrets.key_loc(name), path + (name,)))
    return errors
