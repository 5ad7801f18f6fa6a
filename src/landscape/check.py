"""``landscape check``: validate every config file and every context below a path.

Reports **all** errors, each ``file:line:col: key.path: message`` (docs/commands.md): YAML syntax,
schema (unknown keys with "did you mean"), merge tags, template fields unknown to the studio
(in ``templates`` and tools' ``workdir``), features missing from the catalog, policy
violations, and each context's resolution (manifests, tools, rez, working directories). A
broken file breaks only the contexts beneath it; the others are still resolved and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import memo
from .cascade import (ConfigFile, build_cascade, context_path, discover, find_config_files,
                      load_config, variant_of)
from .errors import ConfigError, LandscapeError, flatten, format_key_path
from .nodes import Node
from .plan import enumerate_contexts, package_conflicts
from .resources import data_dir
from .templates import BUILTIN_FIELDS, MissingField, template_fields


@dataclass
class CheckReport:
    """Outcome of a check: files and contexts seen, and every distinct error."""

    files: list[Path] = field(default_factory=list)
    contexts: int = 0
    contexts_ok: int = 0
    errors: list[LandscapeError] = field(default_factory=list)
    #: the text of every error in ``errors`` (each error is rendered once, when added)
    _seen: set[str] = field(default_factory=set, repr=False)

    def add(self, errors: list[LandscapeError]) -> None:
        """Keep each error of ``errors`` whose text was not reported yet (in order)."""
        for e in errors:
            text = str(e)
            if text not in self._seen:
                self._seen.add(text)
                self.errors.append(e)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict:
        """``landscape check --json``: counts and every error (file, line, col, key, message)."""
        return {"ok": self.ok, "files": len(self.files), "contexts": self.contexts,
                "contexts_ok": self.contexts_ok,
                "errors": [{"file": e.location.file if e.location else None,
                            "line": e.location.line if e.location else None,
                            "col": e.location.col if e.location else None,
                            "key": format_key_path(e.key_path) or None,
                            "message": e.message + (f" ({e.hint})" if e.hint else ""),
                            "text": str(e)}
                           for e in sorted(self.errors, key=LandscapeError.sort_key)]}


@dataclass
class _Known:
    """What the whole studio defines: levels, template names, catalog features."""

    fields: set[str]
    features: set[str]


def _known(studio_files: list[ConfigFile]) -> _Known:
    fields = set(BUILTIN_FIELDS)
    for cfg in studio_files:
        for key in ("level", "child_level"):
            if isinstance(cfg.get(key), str):
                fields.add(cfg.get(key))
        templates = cfg.node.get("templates") if cfg.node is not None else None
        if templates is not None and templates.is_map:
            fields |= set(templates.value)
    features = {p.stem for p in data_dir("compose").glob("*.yaml")}
    return _Known(fields, features)


def _template_error(text: object, node: Node, path: tuple, known: _Known) -> list[ConfigError]:
    if not isinstance(text, str) or not isinstance(node, Node):
        return []
    try:
        used = template_fields(text)
    except ValueError as e:
        return [ConfigError(f"bad template: {e}", node.loc, path)]
    return [ConfigError(f"unknown template field {{{f}}}", node.loc, path,
                        hint="fields: " + ", ".join(sorted(known.fields)))
            for f in used if f not in known.fields]


def _tool_workdirs(tools: Node | None, prefix: tuple) -> list[tuple[Node, tuple]]:
    out = []
    for name, tool in (tools.items() if tools is not None and tools.is_map else ()):
        if not tool.is_map:
            continue
        if tool.get("workdir") is not None:
            out.append((tool.get("workdir"), prefix + (name, "workdir")))
        out += _tool_workdirs(tool.get("variants"), prefix + (name, "variants"))
    return out


def _file_errors(cfg: ConfigFile, known: _Known) -> list[ConfigError]:
    """Errors of one file that need the whole studio to see: template fields, features."""
    node = cfg.node
    if node is None:
        return []
    errors: list[ConfigError] = []
    templates = node.get("templates")
    for name, t in (templates.items() if templates is not None else ()):
        errors += _template_error(t.value, t, ("templates", name), known)
    for wd, path in _tool_workdirs(node.get("tools"), ("tools",)):
        errors += _template_error(wd.value, wd, path, known)
    features = node.get("features")
    for name, f in (features.items() if features is not None else ()):
        if f.tag != "remove" and name not in known.features:
            errors.append(ConfigError(f"unknown feature {name!r}", features.key_loc(name),
                                      ("features", name),
                                      hint="catalog: " + ", ".join(sorted(known.features))))
    return errors


def check(path: str | Path, root: Path | None = None) -> CheckReport:
    """Check every file and context below ``path``; never raises for config problems.
    Runs in one :func:`landscape.memo.scope` (files parsed once, shared solves memoised)."""
    with memo.scope():
        return _check(path, root)


def _check(path: str | Path, root: Path | None) -> CheckReport:
    top = context_path(path, root)
    report = CheckReport()
    scan_errors: list[LandscapeError] = []
    report.files = find_config_files(top, scan_errors)
    report.add(scan_errors)
    try:
        studio_root, chain = discover(top, (), root)
    except LandscapeError as e:
        report.add(flatten(e))
        studio_root, chain = None, []
    studio = [load_config(p, variant_of(p), root=studio_root)
              for p in (find_config_files(studio_root) if studio_root is not None else [])]
    known = _known(studio) if studio_root is not None else None
    for p in dict.fromkeys([c.path for c in chain] + report.files):
        cfg = load_config(p, variant_of(p), root=studio_root)
        report.add(cfg.errors)
        if known is not None:  # without the studio root, what is known cannot be told
            report.add(_file_errors(cfg, known))

    from .context import package_paths, resolve, workdir_of  # deferred: imports rez

    for ctx_path, variants in enumerate_contexts(top):
        report.contexts += 1
        errors = []
        try:
            cascade = build_cascade(ctx_path, variants, root)
            try:  # staging and dev repositories are judged too, though not searched here
                package_paths(cascade, staging=True, dev=True)
            except LandscapeError as e:
                errors += flatten(e)
            rc = resolve(ctx_path, variants=variants, root=root, enforce_policy=False,
                         cascade=cascade)
            errors += _policy_errors(rc)
            errors += package_conflicts(rc.image)
            for setup in rc.setups.values():
                try:
                    workdir_of(rc.cascade, setup)
                except MissingField:
                    pass  # a template for deeper levels (a shot's work area at a project)
                except LandscapeError as e:
                    errors.append(e)
        except LandscapeError as e:
            errors += flatten(e)
        except OSError as e:  # the host refused a file of this context: report, go on
            errors.append(LandscapeError(f"{e.strerror or e}: {e.filename or ctx_path}"))
        report.add(errors)
        if not errors:
            report.contexts_ok += 1
    return report


def _policy_errors(rc) -> list[LandscapeError]:
    """What a resolved context asks for that its policy forbids: refused mounts, tools asking
    for a display, GPUs or capabilities, and declared services (the same judgement ``up``
    makes, :func:`landscape.policy.service_checks`)."""
    from .features import feature_errors

    errors: list[LandscapeError] = list(rc.policy_errors)
    policy = rc.cascade.policy
    errors += feature_errors(rc.cascade.node("features"), policy)
    services = rc.cascade.node("services")
    for name, svc in (services.items() if services is not None else ()):
        errors += policy.service_errors(name, svc, str(Path(svc.loc.file).parent))
    return errors
