"""The JSON Schema of ``landscape.yaml`` and of manifest files, and validation against it.

The schema (draft 2020-12) is the single description of every key's type; ``landscape
schema`` prints it for editors (docs/config.md). Validation runs the ``jsonschema`` library on
the plain value of a file and maps each error back to the ``file:line:col`` of the node it
concerns, with a "did you mean" suggestion for misspelt keys (``difflib``).

Merge tags are checked by the merge layer, not here: a value tagged ``!remove`` or
``!unset`` is left out of the validated view, since it names what to drop rather than a
value of the key's type.

A file whose exact bytes already passed validation with this schema is not validated again:
its digest is remembered under the user cache directory (``$LANDSCAPE_CACHE_DIR`` or
``~/.cache/landscape``), which keeps ``jsonschema`` out of a warm ``resolve``.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
from typing import Any

from . import grammar
from .errors import ConfigError
from .memo import table as _memo
from .nodes import Node
from .resources import cache_dir

SCHEMA_ID = "landscape/v1"

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_REQUESTS = {
    "type": "array",
    "items": {"type": "string",
              "pattern": r"^[~!]?[A-Za-z_][A-Za-z0-9_]*([-@#=<>+~|,.][A-Za-z0-9_.<>=+~|,#@-]*)?$"},
    "description": "rez package requests, e.g. maya-2024+<2025, ~python-3.11, !foo",
}
_OS_PACKAGES = {
    "type": "array",
    "items": {"type": "string", "pattern": grammar.DEBIAN_PACKAGE.pattern},
    "description": "Debian package names the image installs",
}
_CAPABILITIES = {
    "type": "array",
    "items": {"type": "string", "pattern": r"^(?i:(CAP_)?[A-Z_]+)$"},
    "description": "Linux capabilities (capabilities(7)), e.g. SYS_PTRACE",
}
_DIRS = {
    "type": "array",
    "items": {"type": "string",
              "pattern": r"^(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_@+][^\x00\n\r]*$"},
    "description": "folders created inside the working directory (relative, no '..')",
}
#: a relative path without '..', '.' or empty parts, one line, a run of # in the file name
_OUTPUTS_PATTERN = (r"^(?![/~])(?!.*(?:^|/)\.{1,2}(?:/|$))(?!.*//)(?!.*(?:^|/)\.landscape-attempt-)"
                    r"[^\x00\n\r]*#[^/\x00\n\r]*$")
_PATHS = {"type": "array", "items": {"type": "string", "pattern": r"^[^\x00]*$"}}
_ENV = {
    "type": "object",
    "description": "VAR -> value: a string (or list joined with ':') sets; tag !prepend, "
    "!append add path elements; !unset unsets. ${VAR} expands when applied.",
    "additionalProperties": {"type": ["string", "number", "boolean", "array", "null"],
                             "items": {"type": ["string", "number"]}},
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
}
_SECRETS = {
    "type": "object",
    "description": "NAME -> where its value is read at each launch: {from_env: VAR} or "
    "{from_file: PATH}; `as: env` (default) puts the value in the variable NAME, `as: file` "
    "puts it in a private file whose path NAME names. Values are never stored or shown.",
    "propertyNames": {"pattern": grammar.ENV_NAME.pattern},
    "additionalProperties": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "from_env": {"type": "string", "pattern": grammar.ENV_NAME.pattern,
                         "description": "the launching user's environment variable"},
            "from_file": {"type": "string", "minLength": 1, "pattern": r"^[^\x00\n\r]*$",
                          "description": "a file: ~/... (the launching user's home); the "
                          "studio root's file may also name any path (relative to itself)"},
            "as": {"enum": ["env", "file"]},
        },
        "oneOf": [{"required": ["from_env"]}, {"required": ["from_file"]}],
    },
}
_NAME_MAP_KEYS = {"pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"}
_MANIFEST_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                  "description": "a manifest's name (its file is <manifests_path>/<name>.yaml)"}
_RESERVED_LABELS = "^(" + "|".join(
    r.replace(".", r"\.") + ("" if r.endswith(".") else "$") for r in grammar.RESERVED_LABELS
) + ")"

#: Service keys of the Compose file format 3.8 (the compose spec), with types for the common ones.
_COMPOSE_SERVICE_KEYS = (
    "blkio_config build cap_add cap_drop cgroup_parent command configs container_name "
    "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus "
    "cpuset credential_spec depends_on deploy device_cgroup_rules devices dns dns_opt "
    "dns_search domainname entrypoint env_file environment expose extends external_links "
    "extra_hosts group_add healthcheck hostname image init ipc isolation labels links logging "
    "mac_address mem_limit mem_reservation mem_swappiness memswap_limit network_mode networks "
    "oom_kill_disable oom_score_adj pid pids_limit platform ports privileged profiles "
    "pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open "
    "stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits user userns_mode "
    "volumes volumes_from working_dir").split()
_COMPOSE_TYPES: dict[str, Any] = {
    "image": {"type": "string"}, "build": {"type": ["string", "object"]},
    "command": {"type": ["string", "array"]}, "entrypoint": {"type": ["string", "array"]},
    "environment": {"type": ["object", "array"]}, "labels": {"type": ["object", "array"]},
    "ports": {"type": "array"}, "volumes": {"type": "array"}, "restart": {"type": "string"},
    "privileged": {"type": "boolean"}, "init": {"type": "boolean"},
    "network_mode": {"type": "string"}, "user": {"type": "string"},
    "depends_on": {"type": ["array", "object"]}, "deploy": {"type": "object"},
}
_COMPOSE_SERVICE = {
    "type": "object",
    "description": "a Compose service (file format 3.8)",
    "additionalProperties": False,
    "properties": {k: _COMPOSE_TYPES.get(k, {}) for k in _COMPOSE_SERVICE_KEYS},
    "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
}

_TOOL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string"},
        "icon": {"type": "string", "description": "relative to the file"},
        "category": {"type": "string"},
        "command": {"type": ["string", "array"], "items": {"type": "string"}, "minItems": 1,
                    "minLength": 1, "description": "argv; a string is split with shlex"},
        "args": {"type": "array", "items": {"type": ["string", "number"]}},
        "workflow": {"type": "string"},
        "packages": _REQUESTS,
        "env": _ENV,
        "system_packages": _OS_PACKAGES,
        "gui": {"type": "boolean"},
        "gpu": {"type": "boolean"},
        "capabilities": _CAPABILITIES,
        "override": {"type": "boolean"},
        "workdir": {"type": "string", "description": "a template name or a template string"},
        "dirs": _DIRS,
        "secrets": _SECRETS,
        "frames": {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1,
                   "description": "render: the arguments that hand one chunk to the tool, "
                   "with {frame_start}, {frame_end}, {frame_step}, {frames} and {output} "
                   "(replaced as exact tokens, never through a shell)"},
        "outputs": {"type": "string", "pattern": _OUTPUTS_PATTERN,
                    "description": "render: where frames land, relative to the working "
                    "directory, # for the padded frame number (renders/frame_####.png)"},
        "verify": {"enum": ["exists", "decodes", "resolution"],
                   "description": "render: how a frame is checked (exists: non-empty file; "
                   "decodes: a PNG reads through; resolution: and is metadata.resolution)"},
        "variants": {"type": "object", "propertyNames": _NAME_MAP_KEYS,
                     "additionalProperties": {"$ref": "#/$defs/tool"}},
    },
}

_WORKFLOW: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "packages": _REQUESTS,
        "env": _ENV,
        "manifest": _MANIFEST_NAME,
        "override": {"type": "boolean"},
    },
}

_DELIVERY_MODE = {"enum": ["bake", "mount"],
                  "description": "bake: copied into images (the default); mount: the payload "
                                 "is mounted read-only at launch"}

_MOUNT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source"],
    "properties": {
        "source": {"type": "string", "description": "host path, relative to the file"},
        "target": {"type": "string", "description": "container path (default: same as source)"},
        "mode": {"enum": ["ro", "rw"]},
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://landscape.dev/schema/landscape-v1.json",
    "title": "Landscape config (landscape.yaml, landscape.<variant>.yaml)",
    "type": "object",
    "additionalProperties": False,
    "$defs": {"tool": _TOOL, "workflow": _WORKFLOW, "env": _ENV},
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "root": {"type": "boolean", "description": "true only in the studio root's file"},
        "level": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$",
                  "description": "names this directory's level (project, sequence, shot, ...)"},
        "child_level": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$",
                        "description": "the level of this directory's sub-folders that "
                        "declare none (a sequence's shots without a landscape.yaml)"},
        "parent": {"type": "string", "description": "redirects the walk; relative to the file"},
        "name": {"type": "string", "description": "display name of this level"},
        "manifest": _MANIFEST_NAME,
        "packages": _REQUESTS,
        "env": _ENV,
        "metadata": {"type": "object"},
        "tools": {"type": "object", "propertyNames": _NAME_MAP_KEYS,
                  "additionalProperties": {"$ref": "#/$defs/tool"}},
        "workflows": {"type": "object", "propertyNames": _NAME_MAP_KEYS,
                      "additionalProperties": {"$ref": "#/$defs/workflow"}},
        "storage": {"type": "array", "items": _MOUNT},
        "image": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "base": {"type": "string", "pattern": grammar.IMAGE_REFERENCE.pattern,
                         "description": "a Docker image reference"},
                "system_packages": _OS_PACKAGES,
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                           "propertyNames": {"pattern": grammar.LABEL_KEY.pattern,
                                             "not": {"pattern": _RESERVED_LABELS}}},
                "registry": {"type": "string", "description":
                             "studio root only: the registry images are pushed to and "
                             "pulled from (host[:port][/path])"},
                "ca_certificates": {"type": "string", "description":
                                    "studio root only: a CA file trusted while fetching OS "
                                    "packages, never left in an image"},
                "apt_mirror": {"type": "string", "description":
                               "studio root only: an apt mirror or cache (http(s) URL) "
                               "builds fetch OS packages from"},
            },
        },
        "rez": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "version": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$"},
                "packages_path": _STR_LIST,
                "staging_path": _STR_LIST,
                "dev_path": _STR_LIST,
                "time": {"type": ["string", "integer"],
                         "description": "epoch, ISO date or date-time, or -10d/-6h/-30m"},
            },
        },
        "manifests_path": _STR_LIST,
        "templates": {"type": "object", "additionalProperties": {"type": "string"}},
        "dirs": _DIRS,
        "features": {"type": "object", "propertyNames": _NAME_MAP_KEYS,
                     "additionalProperties": {"type": ["object", "null", "boolean"]}},
        "services": {"type": "object", "propertyNames": _NAME_MAP_KEYS,
                     "additionalProperties": _COMPOSE_SERVICE},
        "delivery": {
            "type": "object", "additionalProperties": False,
            "description": "studio root only: which package payloads are mounted at launch "
                           "instead of baked into images",
            "properties": {
                "packages": {"type": "object",
                             "propertyNames": {"pattern": r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"},
                             "additionalProperties": _DELIVERY_MODE,
                             "description": "package family -> bake | mount"},
                "repositories": {"type": "object", "propertyNames": {"minLength": 1},
                                 "additionalProperties": _DELIVERY_MODE,
                                 "description": "repository (relative to the root file) -> "
                                                "bake | mount"},
            },
        },
        "launch": {
            "type": "object", "additionalProperties": False,
            "description": "studio root only: how launches run",
            "properties": {
                "warm_idle": {"type": ["string", "integer"], "pattern": r"^[0-9]+[smhd]?$",
                              "minimum": 1, "description":
                              "idle time after which a warm-launch workspace stops "
                              "(seconds, or 90s, 30m, 2h, 1d; default 30m)"},
                "home": {"enum": ["persistent", "ephemeral", "host"], "description":
                         "the launch's HOME: a folder kept per user, project and tool "
                         "(persistent, the default), a fresh tmpfs (ephemeral), or the "
                         "user's own host home (host)"},
                "home_root": {"type": "string", "minLength": 1, "pattern": r"^[^\x00]*$",
                              "description": "the folder of persistent homes (relative to "
                              "this file; default <user data dir>/landscape/homes)"},
                "audit": {"type": "string", "minLength": 1, "pattern": r"^[^\x00]*$",
                          "description": "where every launch appends a JSON record: a "
                          "folder (relative to this file; it must exist) or `syslog`"},
                "audit_required": {"type": "boolean", "description":
                                   "refuse a launch whose audit record cannot be written "
                                   "(default false: warn and launch)"},
            },
        },
        "secrets": dict(_SECRETS, description="studio root only: secrets every launch "
                        "gets (a tool's own secrets of the same name win). " +
                        _SECRETS["description"]),
        "policy": {
            "type": "object", "additionalProperties": False,
            "description": "only the studio root sets it; deeper files may only narrow",
            "properties": {
                "allowed_mounts": _PATHS,
                "allowed_repositories": _PATHS,
                "trusted_repositories": _PATHS,
                "allow_gui": {"type": "boolean"},
                "allow_gpu": {"type": "boolean"},
                "allow_privileged": {"type": "boolean"},
                "allow_host_network": {"type": "boolean"},
                "allowed_devices": _STR_LIST,
                "allowed_capabilities": _CAPABILITIES,
                "allowed_binds": {"type": "array", "items": {
                    "type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}},
                "pids_limit": {"type": "integer", "minimum": 16},
            },
        },
    },
}

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://landscape.dev/schema/manifest-v1.json",
    "title": "Landscape manifest",
    "type": "object",
    "additionalProperties": False,
    "$defs": {"env": _ENV},
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "extends": _MANIFEST_NAME,
        "packages": _REQUESTS,
        "env": _ENV,
        "workflows": {"type": "object", "additionalProperties": _WORKFLOW},
    },
}


def strict_end(schema: Any) -> Any:
    """``schema`` with each ``pattern`` ending in ``$`` ending in ``(?![\\s\\S])`` instead:
    Python's ``$`` (which ``jsonschema`` uses) also matches before a final newline, so
    ``"python3\\n"`` would pass ``^[a-z0-9…]+$``. The lookahead means "end of text" in
    Python and in the ECMA dialect editors use."""
    if isinstance(schema, dict):
        out = {k: strict_end(v) for k, v in schema.items()}
        p = out.get("pattern")
        if isinstance(p, str) and p.endswith("$") and not p.endswith("\\$"):
            out["pattern"] = p[:-1] + r"(?![\s\S])"
        return out
    if isinstance(schema, list):
        return [strict_end(v) for v in schema]
    return schema


CONFIG_SCHEMA = strict_end(CONFIG_SCHEMA)
MANIFEST_SCHEMA = strict_end(MANIFEST_SCHEMA)


def _validation_view(node: Node) -> Any:
    """Plain value of ``node`` without ``!remove``/``!unset``-tagged values (merge-layer checks);
    YAML dates and times become ISO strings (JSON has no such type)."""
    v = node.value
    if isinstance(v, dict):
        return {k: _validation_view(n) for k, n in v.items() if n.tag not in ("remove", "unset")}
    if isinstance(v, list):
        return [_validation_view(n) for n in v]
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    return v


_SCHEMA_DIGESTS: dict[int, str] = {}


def _digest(schema: dict, text: bytes) -> str:
    sd = _SCHEMA_DIGESTS.get(id(schema))
    if sd is None:
        sd = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
        _SCHEMA_DIGESTS[id(schema)] = sd
    return hashlib.sha256(sd.encode() + b"\0" + text).hexdigest()


_VALIDATORS: dict[int, tuple[dict, Any]] = {}


def _validator(schema: dict) -> Any:
    """One ``jsonschema.Draft202012Validator`` per schema, made once (making one costs about
    as much as validating a small file: a listing of 10,000 shots validates 10,000 files)."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    import jsonschema  # deferred: ~100 ms to import

    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def validate(node: Node | None, schema: dict, text: bytes | None = None) -> list[ConfigError]:
    """Validate a loaded file's ``node`` against ``schema``; return every error found.

    ``text`` (the file's bytes) enables the known-valid cache described in the module doc.
    Each :class:`ConfigError` names the location and key path of the offending node; unknown
    keys get "did you mean" from the schema's property names.
    """
    if node is None:
        return []
    marker = None
    known = _memo("valid")
    if text is not None:
        digest = _digest(schema, text)
        if known is not None and digest in known:
            return []
        marker = cache_dir() / "valid" / digest
        if marker.exists():
            if known is not None:
                known[digest] = True
            return []
    validator = _validator(schema)
    errors: list[ConfigError] = []
    seen: set[tuple] = set()
    for err in validator.iter_errors(_validation_view(node)):
        for e in _explain(err, node, schema):
            sig = (str(e.location), e.key_path, e.message)
            if sig not in seen:
                seen.add(sig)
                errors.append(e)
    if not errors and marker is not None:
        if known is not None:
            known[digest] = True
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass
    return errors


def _schema_at(schema: dict, path: list) -> dict:
    """The sub-schema that describes the value at ``path`` (best effort, for suggestions)."""
    sub = schema
    for part in path:
        if "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
        if isinstance(part, int):
            sub = sub.get("items", {})
        elif part in sub.get("properties", {}):
            sub = sub["properties"][part]
        else:
            sub = sub.get("additionalProperties", {}) or {}
    if "$ref" in sub:
        sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
    return sub


def _explain(err: Any, root: Node, schema: dict) -> list[ConfigError]:
    path = list(err.absolute_path)
    target = root.find(tuple(path)) or root
    if err.validator == "additionalProperties" and target.is_map:
        known = sorted(_schema_at(schema, path).get("properties", {}))
        out = []
        for key in target.value:
            if key in known:
                continue
            guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            if guess:
                hint = f"did you mean {guess[0]!r}?"
            elif len(known) <= 20:
                hint = "known keys: " + ", ".join(known)
            else:
                hint = None
            out.append(ConfigError(f"unknown key {key!r}", target.key_loc(key), path + [key],
                                   hint=hint))
        return out
    if err.validator == "propertyNames" or "propertyNames" in err.relative_schema_path:
        bad = err.instance
        loc = target.key_loc(bad) if target.is_map else target.loc
        why = grammar.check_label_key(bad) if path[-1:] == ["labels"] else None
        return [ConfigError(f"invalid name {bad!r}" + (f": {why}" if why else ""), loc,
                            path + [bad])]
    if err.validator == "const":
        msg = f"must be {err.validator_value!r}"
    elif err.validator == "enum":
        msg = "must be one of " + ", ".join(repr(v) for v in err.validator_value)
    elif err.validator == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        msg = f"must be {_article(want)}{want}, not {_json_type(err.instance)}"
    elif err.validator == "pattern":
        msg = f"{err.instance!r} is not a valid value here"
        if path[-2:-1] == ["system_packages"]:
            msg = f"{err.instance!r} is not a Debian package name"
        elif path[-1:] == ["base"]:
            msg = f"{err.instance!r} is not a Docker image reference"
        elif "packages" in path[-2:-1]:
            msg = f"{err.instance!r} is not a rez package request"
        elif "dirs" in path[-2:-1]:
            msg = f"{err.instance!r}: a dir is a relative folder name without '..'"
        elif path[-1:] == ["outputs"]:
            msg = (f"{err.instance!r}: outputs is a path relative to the working directory, "
                   "without '..', with # for the frame number in its file name")
    elif err.validator == "anyOf" and path[-2:-1] == ["allowed_binds"]:
        msg = f"{err.instance!r} is not an IP address"
    elif err.validator == "required":
        msg = err.message.replace("is a required property", "is required")
    elif err.validator == "oneOf" and "secrets" in path[-2:-1]:
        msg = "a secret needs exactly one of from_env and from_file"
    elif err.validator == "anyOf" and path and path[0] == "services":
        msg = "a service needs an image (or a build)"
    else:
        msg = err.message
    return [ConfigError(msg, target.loc, path)]


def _article(word: str) -> str:
    return "an " if word[:1] in "aeiou" else "a "


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def schema_json(manifest: bool = False) -> str:
    """``landscape schema`` output: :data:`CONFIG_SCHEMA` (or :data:`MANIFEST_SCHEMA`) as
    indented JSON. The repository keeps both under ``schema/`` for editors."""
    return json.dumps(MANIFEST_SCHEMA if manifest else CONFIG_SCHEMA, indent=2)
