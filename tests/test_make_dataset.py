"""Tests of data_scripts/make_knee_dataset.py on a tiny dataset (1 slice per volume)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from recon_lib.data.fastmri_io import ACQUISITIONS, read_volume_info
from recon_lib.data.phantom.simulate import GEOMETRIES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "data_scripts" / "make_knee_dataset.py"
#: one simulator-1 training volume of one slice (the first volume of TINY's folder, byte for byte)
ONE = ["--train", "1", "--val", "0", "--test", "0", "--slices", "1", "--simulator", "1"]
# simulator 1's folders (layout 2, the configured SNR exactly); `make data` runs simulator 2's every CI run
TINY = [
    "--train",
    "2",
    "--val",
    "2",
    "--test",
    "2",
    "--slices",
    "1",
    "--workers",
    "1",
    "--seed",
    "7",
    "--simulator",
    "1",
]


def _load_script():
    spec = importlib.util.spec_from_file_location("make_knee_dataset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


cli = _load_script()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("knee") / "data"
    assert cli.main(["--out", str(out), *TINY]) == 0
    return out


def _kspace(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["kspace"][()]


def test_layout_and_manifest(tiny: Path) -> None:
    manifest = json.loads((tiny / "dataset.json").read_text())
    assert manifest["seed"] == 7 and manifest["geometry"]["name"] == "teaching"
    assert manifest["arguments"]["slices"] == 1
    files = manifest["files"]
    assert len(files) == 6
    assert sorted(p.relative_to(tiny).as_posix() for p in tiny.rglob("*.h5")) == sorted(f["file"] for f in files)
    # one patient per volume, so no patient is in two splits; both contrasts in every split
    assert len({f["patient_id"] for f in files}) == 6
    for split in ("train", "val", "test"):
        assert {f["acquisition"] for f in files if f["split"] == split} == set(ACQUISITIONS)
    geom = GEOMETRIES["teaching"]
    for entry in files:
        path = tiny / entry["file"]
        assert path.parent.name == entry["split"]
        info = read_volume_info(path)
        assert info.kspace_shape == geom.kspace_shape and info.num_coils == 15 and info.num_slices == 1
        assert (info.encoding.padding_left, info.encoding.padding_right) == geom.padding
        assert info.attrs["acquisition"] == entry["acquisition"]
        assert info.attrs["patient_id"] == entry["patient_id"]
        assert info.attrs["max"] == pytest.approx(entry["max"])
        snr = manifest["snr"] * (1.0 if entry["acquisition"] == "CORPD_FBK" else 0.5)
        assert entry["snr"] == pytest.approx(snr)
    assert not (tiny / cli.IN_PROGRESS).exists()
    # the noise-free image: on the reference grid, and close to the noisy RSS (SNR 30 / 15)
    with h5py.File(tiny / files[0]["file"], "r") as f:
        clean, rss = f["image_noise_free"][()], f["reconstruction_rss"][()]
    assert clean.shape == rss.shape and clean.dtype == np.float32
    assert np.corrcoef(clean.ravel(), rss.ravel())[0, 1] > 0.95


def test_more_training_volumes_leave_validation_and_test_volumes_unchanged(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "bigger"
    assert cli.main(["--out", str(out), *TINY[:1], "4", *TINY[2:]]) == 0
    small = {f["file"]: f for f in json.loads((tiny / "dataset.json").read_text())["files"]}
    big = {f["file"]: f for f in json.loads((out / "dataset.json").read_text())["files"]}
    for name, entry in small.items():  # the same names, seeds and content in every split
        assert big[name]["volume_seed"] == entry["volume_seed"]
        assert big[name]["content_sha256"] == entry["content_sha256"]
    assert len(big) == len(small) + 2 and {f for f in big if f.startswith("train/")} >= {"train/knee_003_pdfs.h5"}
    assert cli.content_sha256(out / "test/knee_test_000_pd.h5") == small["test/knee_test_000_pd.h5"]["content_sha256"]


def test_same_seed_gives_identical_kspace(tiny: Path, tmp_path: Path) -> None:
    # Volumes are seeded one by one: a smaller dataset of the same seed repeats the first volume
    # byte for byte.
    out = tmp_path / "again"
    assert cli.main([*ONE, "--out", str(out), "--seed", "7"]) == 0
    a, b = _kspace(tiny / "train/knee_000_pd.h5"), _kspace(out / "train/knee_000_pd.h5")
    assert a.dtype == np.complex64 and a.tobytes() == b.tobytes()
    other = tmp_path / "other_seed"
    assert cli.main([*ONE, "--out", str(other), "--seed", "8"]) == 0
    assert _kspace(other / "train/knee_000_pd.h5").tobytes() != a.tobytes()


def test_rerun_keeps_complete_files_and_regenerates_missing(tiny: Path) -> None:
    files = sorted(tiny.rglob("*.h5"))
    before = {p: p.stat().st_mtime_ns for p in files}
    manifest = (tiny / "dataset.json").read_text()
    assert cli.main(["--out", str(tiny), *TINY]) == 0
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert (tiny / "dataset.json").read_text() == manifest

    victim = tiny / "val" / "knee_val_001_pdfs.h5"
    reference = _kspace(victim)
    victim.unlink()
    (tiny / "val" / ".knee_val_001_pdfs.h5.abc123.tmp").write_bytes(b"half-written")  # an interrupted write
    assert cli.main(["--out", str(tiny), *TINY]) == 0
    assert _kspace(victim).tobytes() == reference.tobytes()
    assert not (tiny / "val" / ".knee_val_001_pdfs.h5.abc123.tmp").exists()
    assert {p: p.stat().st_mtime_ns for p in files if p != victim} == {p: t for p, t in before.items() if p != victim}


def test_rerun_leaves_a_live_writers_temporary_file_alone(tiny: Path) -> None:
    from recon_lib.core.atomic import owned_temporary

    live = owned_temporary(tiny / "val" / "knee_val_001_pdfs.h5")  # named for this (running) process
    live.write_bytes(b"being written by another run")
    assert cli.main(["--out", str(tiny), *TINY]) == 0
    assert live.read_bytes() == b"being written by another run"
    live.unlink()


def test_refuses_folders_that_are_not_the_same_run(tiny: Path, tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert cli.main(["--out", str(foreign), *TINY]) == 2
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]  # nothing written
    assert "not empty" in capsys.readouterr().err

    assert cli.main(["--out", str(tiny), *TINY[:-4], "--seed", "8", *TINY[-2:]]) == 2
    assert "different arguments" in capsys.readouterr().err

    old = tmp_path / "old_layout"  # a dataset made before the split seed streams
    old.mkdir()
    manifest = json.loads((tiny / "dataset.json").read_text())
    del manifest["arguments"]["layout"]
    (old / "dataset.json").write_text(json.dumps(manifest))
    assert cli.main(["--out", str(old), *TINY]) == 2
    assert "older version of this script (dataset layout 1, now 2)" in capsys.readouterr().err

    stray = tiny / "train" / "extra.h5"
    stray.write_bytes(b"")
    try:
        assert cli.main(["--out", str(tiny), *TINY]) == 2
        assert "extra.h5" in capsys.readouterr().err
    finally:
        stray.unlink()


def test_command_line_entry_point(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("occupied")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--train", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "nothing was written" in proc.stderr
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "new"), "--coil-correlation", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--coil-correlation" in bad.stderr
    assert not (tmp_path / "new").exists()
