"""The package layout is an enforced contract: lower layers never import upper ones.

The layers (ARCHITECTURE.md), lowest first; a module may import its own layer and every layer
below it, never a later one. Layers of one level are siblings that never import each other:
``data``, ``models`` and ``metrics`` (level 2), ``training`` and ``evaluation`` (level 3).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import recon_lib

PACKAGE = Path(recon_lib.__file__).parent

#: the layers by level, lowest first; a layer may import the layers of lower levels, never its siblings
LEVELS: list[set[str]] = [
    {"core"},
    {"physics"},
    {"data", "models", "metrics"},
    {"training", "evaluation"},
    {"teaching"},
]
#: layer -> the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    layer: set().union(*LEVELS[:level]) for level, layers in enumerate(LEVELS) for layer in layers
}
#: modules at the package root: the public API and the documented command lines (no logic)
ROOT_MODULES = {"__init__.py", "train.py", "evaluate.py", "upgrade.py", "alpha_validation.py", "shared_init.py"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else None


def _imported_layers(path: Path) -> dict[str, int]:
    """Layer name -> first line number, for every ``recon_lib.<layer>`` the module imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; recon_lib uses absolute imports")
            names = [node.module or ""]
            if node.module == "recon_lib":
                names = [f"recon_lib.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "recon_lib" and len(parts) > 1:
                found.setdefault(parts[1], node.lineno)
    return found


def layer_violations() -> list[str]:
    problems = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        layer = _layer(path)
        if layer is None:
            assert rel.name in ROOT_MODULES, f"recon_lib/{rel}: a module at the package root outside {ROOT_MODULES}"
            continue
        assert layer in ALLOWED, f"recon_lib/{rel}: unknown layer {layer!r} (add it to ARCHITECTURE.md and here)"
        for imported, line in _imported_layers(path).items():
            if imported != layer and imported not in ALLOWED[layer]:
                problems.append(f"recon_lib/{rel}:{line} ({layer}) imports recon_lib.{imported}")
    return problems


def test_lower_layers_never_import_upper_ones():
    assert layer_violations() == []


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """Plant a physics module that imports the teaching layer: the checker must name it."""
    fake = tmp_path / "recon_lib"
    (fake / "physics").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "physics" / "bad.py").write_text("from recon_lib.teaching import suite\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert layer_violations() == ["recon_lib/physics/bad.py:1 (physics) imports recon_lib.teaching"]


def test_the_layers_are_the_documented_ones():
    assert ALLOWED["training"] == ALLOWED["evaluation"] == {"core", "physics", "data", "models", "metrics"}
    assert ALLOWED["teaching"] == {"core", "physics", "data", "models", "metrics", "training", "evaluation"}
    assert ALLOWED["models"] == {"core", "physics"}


@pytest.mark.parametrize(
    "layer,sibling",
    [("models", "data"), ("metrics", "models"), ("evaluation", "training"), ("training", "evaluation")],
)
def test_the_checker_catches_a_sibling_import(tmp_path, monkeypatch, layer, sibling):
    """Siblings of one level never import each other: the evaluation reads stages from models, not the trainer."""
    fake = tmp_path / "recon_lib"
    (fake / layer).mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / layer / "bad.py").write_text(f"import os\nfrom recon_lib.{sibling} import anything\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert layer_violations() == [f"recon_lib/{layer}/bad.py:2 ({layer}) imports recon_lib.{sibling}"]


def test_root_commands_hold_no_logic():
    """A command at the package root only imports its ``main`` and calls it."""
    for name in sorted(ROOT_MODULES - {"__init__.py", "upgrade.py"}):
        tree = ast.parse((PACKAGE / name).read_text())
        defined = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert defined == [], f"recon_lib/{name} defines {[n.name for n in defined]}; move it into its layer"


@pytest.mark.parametrize("name", recon_lib.__all__)
def test_every_public_name_is_importable_from_the_root(name):
    obj = getattr(recon_lib, name)
    module = importlib.import_module(obj.__module__)
    assert module.__name__.startswith("recon_lib."), f"{name} comes from {module.__name__}"


def test_importing_the_library_does_not_import_pyplot():
    code = "import sys, recon_lib, recon_lib.teaching.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
