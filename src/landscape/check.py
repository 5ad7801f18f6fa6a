"""``landscape check``: validate every config file and every context below a path.

Reports **all** errors, each ``file:line:col: key.path: message`` (SPEC §3): YAML syntax,
schema (unknown keys with "did you mean"), merge tags, template fields unknown to the
studio, policy violations, and each context's resolution (manifests, tools, rez). A broken
file breaks only the contexts beneath it; the others are still resolved and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cascade import context_path, discover, find_config_files, load_config
from .errors import ConfigError, LandscapeError, flatten
from .plan import enumerate_contexts
from .templates import BUILTIN_FIELDS, template_fields
from .tools import CONTEXT_TOOL


@dataclass
class CheckReport:
    """Outcome of a check: files and contexts seen, and every distinct error."""

    files: list[Path] = field(default_factory=list)
    contexts: int = 0
    contexts_ok: int = 0
    errors: list[LandscapeError] = field(default_factory=list)

    def add(self, errors: list[LandscapeError]) -> None:
        seen = {str(e) for e in self.errors}
        for e in errors:
            if str(e) not in seen:
                seen.add(str(e))
                self.errors.append(e)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict:
        return {"ok": self.ok, "files": len(self.files), "contexts": self.contexts,
                "contexts_ok": self.contexts_ok,
                "errors": [{"file": e.location.file if e.location else None,
                            "line": e.location.line if e.location else None,
                            "col": e.location.col if e.location else None,
                            "key": ".".join(str(k) for k in e.key_path) or None,
                            "message": e.message + (f" ({e.hint})" if e.hint else ""),
                            "text": str(e)}
                           for e in sorted(self.errors, key=LandscapeError.sort_key)]}


def _template_errors(files: list[Path], levels: set[str]) -> list[LandscapeError]:
    errors: list[LandscapeError] = []
    for path in files:
        cfg = load_config(path)
        node = cfg.node.get("templates") if cfg.node is not None else None
        if node is None or not node.is_map:
            continue
        known = set(BUILTIN_FIELDS) | levels | set(node.value)
        for name, t in node.items():
            if not isinstance(t.value, str):
                continue
            try:
                used = template_fields(t.value)
            except ValueError as e:
                errors.append(ConfigError(f"bad template: {e}", t.loc, ("templates", name)))
                continue
            for f in used:
                if f not in known:
                    errors.append(ConfigError(
                        f"unknown template field {{{f}}}", t.loc, ("templates", name),
                        hint="fields: " + ", ".join(sorted(known))))
    return errors


def check(path: str | Path, root: Path | None = None) -> CheckReport:
    """Check every file and context below ``path``; never raises for config problems."""
    top = context_path(path, root)
    report = CheckReport()
    report.files = find_config_files(top)
    try:
        _, chain = discover(top, (), root)
    except LandscapeError as e:
        report.add(flatten(e))
        chain = []
    all_files = list(dict.fromkeys([c.path for c in chain] + report.files))
    levels: set[str] = set()
    for p in all_files:
        cfg = load_config(p)
        report.add(cfg.errors)
        if isinstance(cfg.get("level"), str):
            levels.add(cfg.get("level"))
    report.add(_template_errors(all_files, levels))

    from .context import resolve  # deferred: imports rez

    for ctx_path, variants in enumerate_contexts(top):
        report.contexts += 1
        try:
            rc = resolve(ctx_path, variants=variants, root=root)
        except LandscapeError as e:
            report.add(flatten(e))
            continue
        errors = _policy_errors(rc)
        report.add(errors)
        if not errors:
            report.contexts_ok += 1
    return report


def _policy_errors(rc) -> list[LandscapeError]:
    policy = rc.cascade.plain("policy", {}) or {}
    errors: list[LandscapeError] = []
    for path, setup in rc.setups.items():
        if path == CONTEXT_TOOL:
            continue
        for flag, allow in (("gui", "allow_gui"), ("gpu", "allow_gpu")):
            n = setup.field_node(flag)
            if n is not None and n.value is True and policy.get(allow) is False:
                errors.append(ConfigError(f"tool {path!r} asks for {flag} but policy.{allow} is "
                                          f"false for {rc.cascade.context}", n.loc,
                                          ("tools", *path.split("/"), flag)))
    return errors
