"""The package layout is an enforced contract: lower layers never import upper ones.

The layers (ARCHITECTURE.md), lowest first; a module may import its own layer and every layer
below it, never a later one. Layers of one level are siblings that never import each other:
``data``, ``models`` and ``metrics`` (level 2), ``training`` and ``evaluation`` (level 3).

The shape of the code is enforced too (the last section): functions of at most 80 lines (ruff
bounds their complexity, branches, arguments and statements), no import cycle among the modules,
no module using another module's private names. Each checker has a test that plants a violation.
"""

from __future__ import annotations

import ast
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
ROOT_MODULES = {
    "__init__.py",
    "train.py",
    "evaluate.py",
    "upgrade.py",
    "alpha_validation.py",
    "shared_init.py",
    "perception.py",
}


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


def _top_level_definitions(path: Path) -> set[str]:
    """Names a module defines at its top level: functions, classes, assigned variables."""
    names = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_every_public_name_is_defined_in_exactly_one_module():
    """Each name of ``recon_lib.__all__`` is the object of the one module that defines it (no copy
    of a function in a second module, no name the root lists but does not have)."""
    defined: dict[str, list[str]] = {}
    for path in _modules():
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for name in _top_level_definitions(path):
            defined.setdefault(name, []).append(module)
    problems = {}
    for name in recon_lib.__all__:
        where = defined.get(name, [])
        if len(where) != 1:
            problems[name] = f"defined in {where}"
        elif getattr(getattr(recon_lib, name, None), "__module__", None) != where[0]:
            problems[name] = f"recon_lib.{name} is not the object {where[0]} defines"
    assert problems == {}


def test_importing_the_library_does_not_import_pyplot():
    code = "import sys, recon_lib, recon_lib.teaching.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the shape of the code: short functions, no import cycles, no borrowed private names ----------
#: the repository root, and the folders of Python code held to the rules below (tests are not)
REPO = PACKAGE.parent
CODE_FOLDERS = ("recon_lib", "data_scripts", "benchmarks")
#: longest function or method, in lines from ``def`` to its last line (decorators not counted);
#: ruff's C901 / PLR0912 / PLR0913 / PLR0915 (pyproject.toml) bound its complexity, branches,
#: arguments and statements
MAX_FUNCTION_LINES = 80


def _python_files(root: Path, folders: tuple[str, ...]) -> list[Path]:
    return sorted(p for f in folders for p in (root / f).rglob("*.py") if "__pycache__" not in p.parts)


def long_functions(root: Path, folders: tuple[str, ...] = CODE_FOLDERS) -> list[str]:
    """``path:line qualified.name (N lines)`` for every function longer than MAX_FUNCTION_LINES."""
    found = []
    for path in _python_files(root, folders):
        rel = path.relative_to(root).as_posix()

        def visit(node: ast.AST, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(child, prefix)
                    continue
                lines = child.end_lineno - child.lineno + 1
                if not isinstance(child, ast.ClassDef) and lines > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{child.lineno} {prefix}{child.name} ({lines} lines)")
                visit(child, f"{prefix}{child.name}.")

        visit(ast.parse(path.read_text(), filename=str(path)), "")
    return found


def test_functions_stay_short():
    assert long_functions(REPO) == []


def test_the_checker_catches_a_long_function(tmp_path):
    """Plant a method one line too long beside one that just fits (its decorator not counted)."""
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    code = f"class A:\n    @staticmethod\n    def fits():\n{body}\n\n    def too_long():\n{body}\n        x = 0\n"
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "bad.py").write_text(code)
    where, lines = MAX_FUNCTION_LINES + 4, MAX_FUNCTION_LINES + 1
    assert long_functions(tmp_path, ("benchmarks",)) == [f"benchmarks/bad.py:{where} A.too_long ({lines} lines)"]


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """Every import anywhere in a module (top level, in functions, under ``if TYPE_CHECKING:``) as
    ``(imported module, imported names, line)``; relative imports resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, [a.name for a in node.names], node.lineno))
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """recon_lib module -> the recon_lib modules it imports (``from pkg import sub`` counts ``pkg.sub``).

    The parent packages Python runs before a module are not counted: every package's
    ``__init__`` imports its own modules, which would make each package a cycle."""
    paths = {_module_name(p, package): p for p in _python_files(package.parent, (package.name,))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = set()
        for base, names, _ in _imports(tree, module, path.name == "__init__.py"):
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in paths]
            targets.update(subs)
            if base in paths and len(subs) < max(len(names), 1):
                targets.add(base)
        graph[module] = targets - {module}
    return graph


def import_cycles(package: Path) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph = import_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(cycles)


def test_no_import_cycle_among_the_library_modules():
    assert import_cycles(PACKAGE) == []


def test_the_checker_catches_an_import_cycle_hidden_in_a_function_and_type_checking(tmp_path):
    """a -> b inside a function, b -> a only for the type checker, c -> a without a way back."""
    fake = tmp_path / "recon_lib"
    (fake / "sub").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "sub" / "__init__.py").write_text("")
    (fake / "sub" / "a.py").write_text("def f():\n    from recon_lib.sub import b\n    return b\n")
    (fake / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from recon_lib.sub.a import f\n"
    )
    (fake / "c.py").write_text("import recon_lib.sub.a\n")
    assert import_cycles(fake) == [["recon_lib.sub.a", "recon_lib.sub.b"]]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_private_names(package: Path) -> set[str]:
    """Private names recon_lib defines: module-level functions, classes and variables, methods,
    class attributes and ``self._x`` / ``cls._x`` attributes."""
    names = set()
    for path in _python_files(package.parent, (package.name,)):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
    return {n for n in names if _private(n)}


def _is_module(package: Path, dotted: str) -> bool:
    path = package.parent / Path(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _module_aliases(tree: ast.AST, package: Path) -> tuple[set[str], set[str]]:
    """The names a file binds to recon_lib modules, and those it binds to third-party modules or
    their members (``torch._foreach_add_`` is torch's business, not recon_lib's)."""
    library: set[str] = set()
    third_party: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                (library if top == package.name else third_party).add(a.asname or top)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package.name:
            library.update(a.asname or a.name for a in node.names if _is_module(package, f"{node.module}.{a.name}"))
        elif isinstance(node, ast.ImportFrom):
            third_party.update(a.asname or a.name for a in node.names)
    return library, third_party


def _borrowed_in(path: Path, module: str, package: Path, own: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = [
        f"{line} imports {name} from {base}"
        for base, names, line in _imports(tree, module, path.name == "__init__.py")
        for name in names
        if base.split(".")[0] == package.name and _private(name) and base != module
    ]
    library, third_party = _module_aliases(tree, package)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in library:
            problems.append(f"{node.lineno} uses {owner}.{node.attr}")
        elif owner not in ("self", "cls", *third_party) and node.attr in own:
            problems.append(f"{node.lineno} uses {ast.unparse(node)}")
    return problems


def borrowed_private_names(package: Path, folders: tuple[str, ...] = CODE_FOLDERS) -> list[str]:
    """Uses of a recon_lib module's or object's private name from outside: ``from recon_lib.x import
    _name``, ``x._name`` for a recon_lib module ``x``, ``obj._attr`` for one of recon_lib's private
    attributes on anything but ``self`` / ``cls``. Dunder names are public; private names of
    third-party modules (``torch._foreach_add_``) are the business of the code that calls them."""
    own = _own_private_names(package)
    problems = []
    for path in _python_files(package.parent, folders):
        rel = path.relative_to(package.parent).as_posix()
        module = _module_name(path, package) if rel.startswith(f"{package.name}/") else rel
        found = _borrowed_in(path, module, package, own)
        problems += [f"{rel}:{p}" for p in sorted(found, key=lambda p: (int(p.split()[0]), p))]
    return problems


def test_no_module_uses_another_modules_private_names():
    assert borrowed_private_names(PACKAGE) == []


def test_the_checker_catches_borrowed_private_names(tmp_path):
    fake = tmp_path / "recon_lib"
    (fake / "core").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "core" / "util.py").write_text(
        "import torch\n\ndef _helper():\n    return torch._C\n\nclass Box:\n    def __init__(self):\n"
        "        self._cache = {}\n\n    def same(self, other):\n        return self._cache == other._cache\n"
    )
    (fake / "core" / "user.py").write_text(
        "from recon_lib.core import util\nfrom recon_lib.core.util import _helper, Box\n\n"
        "def f(box: Box):\n    return util._helper(), box._cache, box.__dict__, _helper\n"
    )
    assert borrowed_private_names(fake, ("recon_lib",)) == [
        "recon_lib/core/user.py:2 imports _helper from recon_lib.core.util",
        "recon_lib/core/user.py:5 uses box._cache",
        "recon_lib/core/user.py:5 uses util._helper",
        "recon_lib/core/util.py:11 uses other._cache",
    ]
