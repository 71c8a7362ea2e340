"""environment.yml (conda) and pyproject.toml (pip) must list the same packages and versions."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pip_requirements() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        reqs = list(project["dependencies"])
        for extra in project["optional-dependencies"].values():
            reqs += extra
    else:
        reqs = re.findall(r'^\s*"([A-Za-z][^"]*)",\s*$', text, flags=re.M)
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name in ("python", "pip"):
                continue
            out[CONDA_TO_PIP.get(name, name)] = spec
    return out


def test_conda_and_pip_list_the_same_packages_and_versions():
    pip, conda = pip_requirements(), conda_requirements()
    assert set(pip) == set(conda), (
        f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"
    )
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]!r}, environment.yml says {conda[name]!r}"


def test_named_dependencies_are_declared():
    pip = pip_requirements()
    for name in ["jupyterlab", "ipywidgets", "torch", "numpy", "h5py", "matplotlib", "nbval", "tqdm", "pytest"]:
        assert name in pip, f"{name} missing from pyproject.toml"
    assert pip["torch"].startswith(">="), "package metadata must accept a torch range (GPU users bring their own build)"


def test_setup_command_pins_the_cpu_torch():
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile


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
    import shutil
    import subprocess

    import pytest

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(ROOT)) for p in (ROOT / "recon_lib").rglob("*.py") if "__pycache__" not in p.parts]
    out = subprocess.run(["git", "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "", f"git ignores package files: {out.stdout.split()}"
