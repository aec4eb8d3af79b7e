"""The package's imports flow one way, down the stages (docs/architecture.md):

    cli → api → train → measure → advise → families / backends → graph → errors, yamlio, safeio

Every `import` and `from ... import` in src/modelpick, at module level or inside a function, is
read with `ast` and checked against the table below: a stage may import itself and the stages
it lists, nothing else. A second test proves that no two modules import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modelpick

PACKAGE = Path(modelpick.__file__).resolve().parent
BASE = {"errors", "yamlio", "safeio"}

# stage -> stages it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "safeio": {"errors"},
    "yamlio": {"errors", "safeio"},
    "graph": set(),
    "families": {"graph"},
    "backends": {"graph", "errors"},
    "advise": {"families", "graph", *BASE},
    "measure": {"advise", "backends", "families", "graph", *BASE},
    "train": {"measure", "advise", "backends", "families", "graph", *BASE},
    "search": {"train", "measure", "advise", "backends", "families", "graph", *BASE},
    # plots draw the commands' JSON documents: nothing of the stages, only errors and safeio
    "plot": {"errors", "safeio"},
    "api": {"plot", "search", "train", "measure", "advise", "backends", "families", "graph", *BASE},
    "cli": {
        *("api", "plot", "search", "train", "measure", "advise", "backends", "families", "graph"),
        *BASE,
    },
    # the package root: lazy names only (PEP 562), resolved through importlib at run time
    "__init__": set(),
    "__main__": {"cli"},
    "configs": set(),
}


def _stage(module: str) -> str:
    """modelpick.advise.catalog -> advise; modelpick.errors -> errors."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every modelpick import in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("modelpick")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("modelpick"):
                continue
            if target == "modelpick" or node.module is None:
                # `from .. import api` / `from . import render`: the names are modules
                out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_stage_is_in_the_table():
    stages = {
        _stage(_module_name(p)) for p in SOURCES if p.name != "__init__.py" or p.parent != PACKAGE
    }
    assert stages <= set(ALLOWED), stages - set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_down_the_stages(path):
    here = _stage(_module_name(path)) if path != PACKAGE / "__init__.py" else "__init__"
    bad = [
        f"line {line}: {target}"
        for line, target in _imports(path)
        if _stage(target) != here and _stage(target) not in ALLOWED[here]
    ]
    assert not bad, f"{path.relative_to(PACKAGE)} ({here}) imports upward or sideways: {bad}"


def test_no_two_modules_import_each_other():
    names = {_module_name(p): p for p in SOURCES}
    graph = {
        name: {t for _, t in _imports(p) if t in names and t != name} for name, p in names.items()
    }
    pairs = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and a in graph.get(b, ())
    )
    # a package's __init__ re-exporting its own modules is not a cycle of two peers
    pairs = [(a, b) for a, b in pairs if not b.startswith(a + ".") and not a.startswith(b + ".")]
    assert not pairs, pairs


def test_the_table_is_not_vacuous():
    """The walker sees relative imports: cli/advise.py imports the API."""
    found = {t for _, t in _imports(PACKAGE / "cli" / "advise.py")}
    assert "modelpick.api" in found
    assert any(
        t.startswith("modelpick.advise") for _, t in _imports(PACKAGE / "measure" / "bench.py")
    )
