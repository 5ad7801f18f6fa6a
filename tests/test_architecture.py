"""The layers import one way: config files → cascade → resolved context → build plan →
engine → CLI. A module may import its own layer and the layers below, never one above —
not even inside a function (a deferred import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "landscape"

#: Each module's layer, lowest first. A new module must be placed here.
LAYERS: dict[str, int] = {
    # 0 — foundations: no Landscape imports above these
    **dict.fromkeys(["landscape", "errors", "grammar", "memo", "resources", "paths", "identity",
                     "digest", "envactions", "templates", "nodes", "schema", "scaffold",
                     "vendor", "names", "frames", "renderspec", "openjd"], 0),
    # 1 — config files: merge strategies, policy, declarative packages, the feature catalog
    **dict.fromkeys(["merge", "policy", "declarative", "features"], 1),
    # 2 — the cascade
    **dict.fromkeys(["cascade", "manifests", "tools", "userstate"], 2),
    # 3 — the resolved context
    **dict.fromkeys(["overrides", "rezsolve", "imagekey", "recipe", "launchinputs", "payloads", "context",
                     "diff", "resolvecache"], 3),
    # 4 — the build plan (and what reads a whole plan: lock, check, CI files)
    **dict.fromkeys(["plan", "lock", "check", "ci", "browse", "landmap"], 4),
    # 5 — the engine
    "engine": 5,
    # 6 — the command line
    "cli": 6, "gui": 6, "__main__": 6,
}


def _layer(module: str) -> int:
    parts = module.split(".")[1:] or ["landscape"]
    for name in (".".join(parts), parts[0]):
        if name in LAYERS:
            return LAYERS[name]
    raise AssertionError(f"landscape.{'.'.join(parts)} has no layer in tests/test_architecture.py")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(SRC.rglob("*.py")):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:`` (annotations, not dependencies)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    lines.add(sub.lineno)
    return lines


def imports(module: str, path: Path) -> list[tuple[str, int]]:
    """``(imported landscape module, line)`` of every import in ``path``."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: x may be a module
                    out += [(f"{target}.{a.name}", node.lineno) for a in node.names]
                    continue
                out.append((target, node.lineno))
            elif node.module and node.module.split(".")[0] == "landscape":
                out.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names
                    if a.name.split(".")[0] == "landscape"]
    return out


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_imports_a_layer_above_its_own(module):
    path = _modules()[module]
    mine = _layer(module)
    known = _modules()
    for target, line in imports(module, path):
        if target not in known:  # `from . import __version__`, a name, not a module
            target = target.rsplit(".", 1)[0]
        assert _layer(target) <= mine, (
            f"{path.relative_to(SRC.parent.parent)}:{line}: {module} (layer {mine}) imports "
            f"{target} (layer {_layer(target)})")


def test_ruff_finds_nothing():
    """The lint rules of pyproject.toml ([tool.ruff]) hold over src, tests and benchmarks."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    root = SRC.parent.parent
    r = subprocess.run([ruff, "check", "--no-cache", "src", "tests", "benchmarks"], cwd=root,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
