"""Packaging: what pyproject.toml declares, what environment.yml installs, what the tools see."""

import ast
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "recon_lib"
#: conda's names for packages that pip calls otherwise
CONDA_TO_PIP = {"pytorch": "torch"}

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(req: str) -> tuple[str, str]:
    """``"numpy>=1.24"`` -> ``("numpy", ">=1.24")``; conda's ``"pytorch[version='>=2.1', ...]"`` too."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    spec = m.group(2)
    bracket = re.fullmatch(r"\[(.*)\]", spec)
    if bracket:
        version = re.search(r"version\s*=\s*['\"]([^'\"]*)['\"]", bracket.group(1))
        spec = version.group(1) if version else ""
    return _normalise(m.group(1)), spec.replace(" ", "")


def project() -> dict:
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs tomllib (Python >= 3.11)")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared(*extras: str) -> dict[str, str]:
    """Name -> version spec of the core dependencies and the given extras."""
    reqs = list(project()["dependencies"])
    for extra in extras:
        reqs += project()["optional-dependencies"][extra]
    return dict(_split(r) for r in reqs)


def conda_environment() -> tuple[dict[str, str], list[str]]:
    """environment.yml: conda package name -> version spec (python and pip left out), and the pip lines."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip_lines: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_lines += dep.get("pip", [])
            continue
        name, spec = _split(dep)
        if name not in ("python", "pip"):
            conda[name] = spec
    return conda, pip_lines


def _extras_problems(pip_lines: list[str]) -> list[str]:
    extras = set(project()["optional-dependencies"])
    problems = []
    installs = [re.fullmatch(r"-e\s+\.(?:\[([^\]]*)\])?", line.strip()) for line in pip_lines]
    if not any(installs):
        problems.append("environment.yml does not install the package (pip: - -e .[notebooks])")
    for m, line in zip(installs, pip_lines, strict=True):
        asked = {e.strip() for e in (m.group(1) or "").split(",") if e.strip()} if m else set()
        if m is None:
            problems.append(f"environment.yml's pip section installs {line!r}: only the package itself belongs there")
        elif "notebooks" not in asked:
            problems.append(f"environment.yml installs {line!r}, without the notebooks extra")
        problems += [
            f"environment.yml asks for the extra {e!r}, which pyproject.toml lacks" for e in sorted(asked - extras)
        ]
    return problems


def environment_problems(conda: dict[str, str], pip_lines: list[str]) -> list[str]:
    """environment.yml must install this package with its [notebooks] extra and name no package
    that pyproject.toml does not declare (nor in another version range)."""
    every = declared(*project()["optional-dependencies"])
    problems = []
    for name, spec in conda.items():
        pip_name = CONDA_TO_PIP.get(name, name)
        if pip_name not in every:
            problems.append(f"environment.yml names {name}, which pyproject.toml does not declare")
        elif spec and spec != every[pip_name]:
            problems.append(f"{name}: environment.yml says {spec!r}, pyproject.toml says {every[pip_name]!r}")
    return problems + _extras_problems(pip_lines)


def test_environment_yml_installs_the_package_with_the_notebooks_extra():
    assert environment_problems(*conda_environment()) == []


def test_the_environment_check_catches_a_stray_package_a_wrong_range_and_a_missing_extra():
    conda, _ = conda_environment()
    assert environment_problems({**conda, "pandas": ">=2"}, ["-e ."]) == [
        "environment.yml names pandas, which pyproject.toml does not declare",
        "environment.yml installs '-e .', without the notebooks extra",
    ]
    assert environment_problems({"pytorch": ">=1.0"}, ["-e .[notebooks,gpu]", "numpy"]) == [
        f"pytorch: environment.yml says '>=1.0', pyproject.toml says {declared()['torch']!r}",
        "environment.yml asks for the extra 'gpu', which pyproject.toml lacks",
        "environment.yml's pip section installs 'numpy': only the package itself belongs there",
    ]


def imported_distributions(path: Path) -> set[str]:
    """The third-party distributions (normalised names) whose modules ``path`` imports, anywhere in it."""
    by_module = packages_distributions()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for top in {name.split(".")[0] for name in names}:
            if top not in sys.stdlib_module_names and top != "recon_lib":
                found.update(_normalise(d) for d in by_module.get(top, [top]))
    return found


def test_every_third_party_import_of_the_library_is_declared():
    """recon_lib/teaching may import the [notebooks] extra's packages; every other module only the
    core dependencies (a student without the extra can still use the rest of the library)."""
    core, notebooks = set(declared()), set(declared("notebooks"))
    undeclared = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        allowed = notebooks if rel.parts[0] == "teaching" else core
        missing = sorted(imported_distributions(path) - allowed)
        if missing:
            undeclared[f"recon_lib/{rel}"] = missing
    assert undeclared == {}, "imports a package that pyproject.toml does not declare for it"


def test_pre_commit_hooks_run_the_makefile_lint_commands():
    """The local pre-commit hooks and `make lint` (part of the README's test command) must not drift."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    assert [r["repo"] for r in hooks] == ["local"], "hooks must be local: the machines are offline"
    entries = {h["id"]: h["entry"] for h in hooks[0]["hooks"]}
    makefile = (ROOT / "Makefile").read_text()
    lint_cmds = re.search(r"^LINT_CMDS := (.*)$", makefile, flags=re.M).group(1)
    for cmd in re.findall(r'"([^"]+)"', lint_cmds):
        assert any(entry == f".venv/bin/{cmd}" for entry in entries.values()), f"no pre-commit hook runs {cmd!r}"
    assert "--doctest-modules" in entries["doctests"] and "recon_lib --doctest-modules" in makefile


def test_no_package_file_is_git_ignored():
    """An unanchored pattern (once `data/`) silently ignored new modules of recon_lib/data/."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(ROOT)) for p in (ROOT / "recon_lib").rglob("*.py") if "__pycache__" not in p.parts]
    out = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "", f"git ignores package files: {out.stdout.split()}"


def test_the_linter_checks_every_package_file():
    """The same trap in ruff's configuration: an unanchored ``extend-exclude`` entry ``data`` kept
    every module of recon_lib/data/ out of ``ruff check`` and ``ruff format``."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (the [dev] extra)")
    out = subprocess.run([ruff, "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True, check=True)
    seen = {Path(line.strip()).resolve() for line in out.stdout.splitlines() if line.strip().endswith(".py")}
    files = {p.resolve() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(str(p.relative_to(ROOT)) for p in files - seen) == []
