"""The package layout is an enforced contract: lower layers never import upper ones.

The layers (ARCHITECTURE.md), lowest first; a module may import its own layer and every layer
listed before it, never a later one. ``data``, ``models`` and ``metrics`` are siblings: none of
them imports another.
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

#: layer -> the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "physics": {"core"},
    "data": {"core", "physics"},
    "models": {"core", "physics"},
    "metrics": {"core", "physics"},
    "training": {"core", "physics", "data", "models", "metrics"},
    "teaching": {"core", "physics", "data", "models", "metrics", "training"},
}
#: modules at the package root: the public API and the two documented command lines
ROOT_MODULES = {"__init__.py", "train.py", "evaluate.py", "upgrade.py"}
MAX_LINES = 500
#: modules the open issues will split (perception/metrics and explorer issues); no new exceptions
OVERSIZED_FOR_NOW: set[str] = set()


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


def test_modules_stay_small():
    too_long = {}
    for path in _modules():
        rel = str(path.relative_to(PACKAGE))
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and rel not in OVERSIZED_FOR_NOW:
            too_long[rel] = n
    assert too_long == {}


@pytest.mark.parametrize("name", recon_lib.__all__)
def test_every_public_name_is_importable_from_the_root(name):
    obj = getattr(recon_lib, name)
    module = importlib.import_module(obj.__module__)
    assert module.__name__.startswith("recon_lib."), f"{name} comes from {module.__name__}"


def test_importing_the_library_does_not_import_pyplot():
    code = "import sys, recon_lib, recon_lib.teaching.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
