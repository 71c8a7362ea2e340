"""The notebook suite's settings: quick flag, paths, seeding, device and the missing-data message."""

from __future__ import annotations

import importlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import recon_lib.teaching.suite as suite
from recon_lib.data.layout import sidecar_path


@pytest.fixture
def reload_suite(monkeypatch):
    """Re-import recon_lib.teaching.suite under a patched environment, restoring it afterwards."""

    def _reload(**env: str | None):
        for key, value in env.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        return importlib.reload(suite)

    yield _reload
    monkeypatch.undo()
    importlib.reload(suite)


def test_quick_flag_reads_environment(reload_suite):
    assert reload_suite(RECON_QUICK="1").QUICK is True
    assert suite.pick(full=200, quick=3) == 3
    assert reload_suite(RECON_QUICK="0").QUICK is False
    assert suite.pick(full=200, quick=3) == 200
    assert reload_suite(RECON_QUICK=None).QUICK is False


def test_paths(reload_suite, tmp_path):
    s = reload_suite(RECON_DATA_DIR=None)
    root = s.repo_root()
    assert (root / "pyproject.toml").is_file() and (root / "recon_lib" / "teaching" / "suite.py").is_file()
    assert s.data_dir() == root / "data" / "knee"
    assert s.checkpoint_dir() == root / "checkpoints"
    s = reload_suite(RECON_DATA_DIR=str(tmp_path / "elsewhere"))
    assert s.data_dir() == (tmp_path / "elsewhere").resolve()


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), float(np.random.rand())  # noqa: NPY002 -- the global generator is under test, float(torch.rand(1))

    assert suite.seed_everything(7) == 7
    first = draw()
    suite.seed_everything(7)
    assert draw() == first
    suite.seed_everything(8)
    assert draw() != first
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match="seed"):
            suite.seed_everything(bad)


def test_device(monkeypatch):
    monkeypatch.delenv("RECON_DEVICE", raising=False)
    assert isinstance(suite.device(), torch.device)
    assert suite.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("RECON_DEVICE", "cpu")
    assert suite.device() == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        suite.device("not-a-device")


def _make_split(root: Path, split: str, names: list[str], prepared: bool) -> None:
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.h5").write_bytes(b"")
        if prepared:
            side = sidecar_path(folder / f"{name}.h5")
            side.parent.mkdir(exist_ok=True)
            side.write_bytes(b"")


def test_require_data_messages(tmp_path):
    root = tmp_path / "knee"
    with pytest.raises(suite.DataMissingError, match="make data") as err:
        suite.require_data(root)
    assert str(root) in str(err.value) and isinstance(err.value, FileNotFoundError)

    _make_split(root, "train", ["a", "b"], prepared=True)
    with pytest.raises(suite.DataMissingError, match=r"No raw volumes .*val.*make data"):
        suite.require_data(root)

    _make_split(root, "val", ["c"], prepared=True)
    _make_split(root, "test", ["d", "e"], prepared=False)
    with pytest.raises(suite.DataMissingError, match=r"2 of 2 volumes .*test.* not prepared.*make data"):
        suite.require_data(root)
    assert suite.require_data(root, prepared=False) == root

    _make_split(root, "test", ["d", "e"], prepared=True)
    assert suite.require_data(root) == root


def test_require_data_uses_data_dir(reload_suite, tmp_path):
    s = reload_suite(RECON_DATA_DIR=str(tmp_path / "missing"))
    with pytest.raises(s.DataMissingError, match="RECON_DATA_DIR"):
        s.require_data()


def test_list_volumes(tmp_path):
    _make_split(tmp_path, "val", ["b", "a"], prepared=True)
    assert [p.name for p in suite.list_volumes("val", tmp_path)] == ["a.h5", "b.h5"]
    with pytest.raises(suite.DataMissingError, match="make data"):
        suite.list_volumes("test", tmp_path)
    with pytest.raises(ValueError, match="split"):
        suite.list_volumes("training", tmp_path)


def test_settings_are_repo_relative(reload_suite, tmp_path):
    s = reload_suite(RECON_DATA_DIR=None, RECON_QUICK="1", RECON_DEVICE="cpu")
    assert s.settings() == {"data": "data/knee", "checkpoints": "checkpoints", "quick": True, "device": "cpu"}
    s = reload_suite(RECON_DATA_DIR=str(tmp_path))
    assert s.settings()["data"] == str(tmp_path.resolve())


def test_cg_iterations_are_the_shipped_evaluations_choice():
    import json

    chosen = suite.cg_iterations()
    timing = json.loads((suite.repo_root() / "docs" / "results" / "evaluation" / "timing.json").read_text())
    assert chosen == {int(af): n for af, n in timing["cg_iters"].items()} and set(chosen) == {4, 8}
