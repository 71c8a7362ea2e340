"""Bad settings and bad command lines: one clear error naming the key or argument, exit status 2,
nothing written. (Checkpoint corruption: tests/test_checkpoint.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recon_lib.evaluation import table1 as evaluation
from recon_lib.training.config import ConfigError, config_from_dict, load_config, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


# ---- training settings: type and range of every key, in one place -------------------------------
@pytest.mark.parametrize(
    "values,match",
    [
        ({"stages": {"pretrain": {"epochs": 1.5}}}, r"stages\.pretrain\.epochs must be an integer, got 1\.5"),
        ({"stages": {"pretrain": {"epochs": 0}}}, r"stages\.pretrain\.epochs must be >= 1, got 0"),
        ({"stages": {"unet": {"epochs": -3}}}, r"stages\.unet\.epochs must be >= 1, got -3"),
        ({"stages": {"pretrain": {"epochs": "two"}}}, r"stages\.pretrain\.epochs must be an integer, got 'two'"),
        ({"stages": {"pretrain": {"epochs": True}}}, r"stages\.pretrain\.epochs must be an integer, got True"),
        ({"stages": {"pretrain": {"lr": -1e-4}}}, r"stages\.pretrain\.lr must be > 0"),
        ({"stages": {"pretrain": {"lr": "fast"}}}, r"stages\.pretrain\.lr must be a finite number, got 'fast'"),
        ({"stages": {"pretrain": {"lr": float("nan")}}}, r"stages\.pretrain\.lr must be a finite number"),
        ({"stages": {"pretrain": {"batch_size": 0}}}, r"stages\.pretrain\.batch_size must be >= 1"),
        ({"stages": {"pretrain": {"checkpoint_every": 0}}}, r"stages\.pretrain\.checkpoint_every must be >= 1"),
        ({"stages": {"pretrain": {"max_steps_per_epoch": -1}}}, r"max_steps_per_epoch must be >= 1, got -1"),
        ({"stages": {"finetune_gan": {"d_lr": 0}}}, r"stages\.finetune_gan\.d_lr must be > 0"),
        ({"stages": {"finetune_gan": {"gamma": -0.1}}}, r"stages\.finetune_gan\.gamma must be >= 0"),
        ({"stages": {"pretrain": 5}}, r"stages\.pretrain must be a mapping of settings"),
        ({"data": {"max_val_volumes": 0}}, r"data\.max_val_volumes must be >= 1, got 0"),
        ({"data": {"num_workers": -1}}, r"data\.num_workers must be >= 0"),
        (
            {"data": {"accelerations": [4, 8, 12], "center_fractions": [0.08, 0.04]}},
            r"one centre fraction per acceleration",
        ),
        ({"data": {"accelerations": [4], "center_fractions": [1.5]}}, r"data\.center_fractions must be < 1"),
        ({"data": {"accelerations": "4"}}, r"data\.accelerations must be a list"),
        ({"seed": -1}, r"seed must be >= 0, got -1"),
        ({"threads": -2}, r"threads must be >= 1, got -2"),
        ({"device": "quantum"}, r"device: device must be 'auto' or a torch device name"),
        ({"sn": {"num_cascades": 5, "features": 0}}, r"sn: features must be a positive integer, got 0"),
        ({"unet": {"chans": 16, "depth": 4}}, r"unet: does not fit UNetReconstructor"),
        ({"discriminator": {"features": -1}}, r"discriminator: features must be a positive integer"),
    ],
)
def test_bad_settings_name_the_key_and_value(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(values)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match=r"device: device 'cuda' was requested but torch sees no CUDA GPU"):
        config_from_dict({"device": "cuda"})


def test_command_line_numbers_are_numbers():
    """YAML reads 1e-4 (no dot) as a string; --set must not."""
    overrides = parse_overrides(["stages.pretrain.lr=1e-4", "stages.pretrain.epochs=3", "device=cpu"])
    assert overrides == {"stages": {"pretrain": {"lr": 1e-4, "epochs": 3}}, "device": "cpu"}
    cfg = load_config(ROOT / "configs" / "tiny.yaml", overrides)
    assert cfg.stages["pretrain"].lr == 1e-4 and cfg.stages["pretrain"].epochs == 3


def test_shipped_configs_pass_validation():
    for name in ("teaching", "paper", "tiny"):
        load_config(ROOT / "configs" / f"{name}.yaml")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(
    "setting,match",
    [("stages.pretrain.epochs=0", "stages.pretrain.epochs must be >= 1"), ("stages.pretrain=5", "must be a mapping")],
)
def test_train_cli_exits_2_with_one_line(tmp_path, setting, match):
    out = _run("recon_lib.train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--set", setting)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and match in out.stderr and "Traceback" not in out.stderr


# ---- the evaluation command line: arguments checked before anything is loaded or written ----------
def _evaluate(tmp_path: Path, capsys, *args: str) -> str:
    out_dir = tmp_path / "results"
    code = evaluation.main(["--data", str(tmp_path / "data"), "--out", str(out_dir), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    # one error line; the shipped models' one-line warnings about other data may come before it
    *warned, error = err.strip().splitlines()
    assert error.startswith("error: ") and all(line.startswith("warning: ") for line in warned), err
    assert not out_dir.exists(), "a failed evaluation must not create its output folder"
    return err


@pytest.fixture
def raw_only(tmp_path: Path) -> Path:
    """A test split holding one raw file and no sidecar."""
    (tmp_path / "data" / "test").mkdir(parents=True)
    (tmp_path / "data" / "test" / "vol.h5").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(
    "args,match",
    [
        (["--alpha", "1.5"], r"--alpha must lie in \[0, 1\], got 1\.5"),
        (["--alpha", "nan"], r"--alpha must lie in \[0, 1\], got nan"),
        (["--accelerations", "3"], r"--accelerations 3 has no centre fraction \(known accelerations: 4, 8\)"),
        (["--limit-volumes", "0"], r"--limit-volumes must be at least 1, got 0"),
        (["--cg-iters", "0"], r"--cg-iters must be at least 1"),
        (["--cg-iters", "many"], r"--cg-iters must be a number or auto, got 'many'"),
        (["--mask-seeds", "0"], r"--mask-seeds must be at least 1, got 0"),
        (["--device", "quantum"], r"device must be 'auto' or a torch device name"),
    ],
)
def test_evaluate_rejects_bad_arguments(raw_only, capsys, args, match):
    import re

    assert re.search(match, _evaluate(raw_only, capsys, *args))


def test_evaluate_rejects_an_empty_or_unprepared_split_before_loading_models(tmp_path, raw_only, capsys):
    assert "1 of 1 volumes" in _evaluate(raw_only, capsys) and "prepare_dataset.py" in _evaluate(raw_only, capsys)
    empty = tmp_path / "empty"
    (empty / "data" / "test").mkdir(parents=True)
    assert "holds no volumes" in _evaluate(empty, capsys)


def test_evaluate_auto_cg_iterations_need_a_validation_split(tmp_path, capsys, fast_espirit):
    from recon_lib.data import prepare

    _raw(tmp_path / "data")  # data/train/vol.h5
    (tmp_path / "data" / "train").rename(tmp_path / "data" / "test")
    prepare.prepare_folder(tmp_path / "data")
    assert "which holds no volumes (give a number" in _evaluate(tmp_path, capsys)


def test_an_sn_gan_of_another_width_names_both_files(tmp_path, capsys):
    from recon_lib.models.checkpoint import CheckpointError, build_model, save_checkpoint

    for name, features in (("sn_finetuned.pt", 4), ("sn_gan.pt", 8)):
        save_checkpoint(
            tmp_path / name, build_model("SensitivityNetwork", {"num_cascades": 1, "features": features}), {}
        )
    save_checkpoint(tmp_path / "unet.pt", build_model("UNetReconstructor", {"chans": 4, "num_pool_layers": 2}), {})
    with pytest.raises(CheckpointError, match=r"sn_gan\.pt cannot be interpolated with .*sn_finetuned\.pt"):
        evaluation.standard_methods(tmp_path)


def test_evaluate_refuses_an_output_path_that_is_a_file(raw_only, capsys):
    target = raw_only / "results.txt"
    target.write_text("keep me")
    code = evaluation.main(["--data", str(raw_only / "data"), "--out", str(target)])
    assert code == 2 and "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


# ---- raw files and preparation: bad headers and contents are refused before anything is written ----
def _prepare_cli(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "data_scripts" / "prepare_dataset.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _raw(tmp_path: Path, **kwargs) -> Path:
    from test_prepare import write_raw_volume

    return write_raw_volume(tmp_path / "train" / "vol.h5", **kwargs)


def _edit_h5(path: Path, edit) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        edit(f)


def _header(encoded=(128, 80), recon=(64, 64), center=36, maximum=71, slices=2) -> str:
    from recon_lib.data.fastmri_io import build_ismrmrd_header

    return build_ismrmrd_header((*encoded, 1), (*recon, 1), center, maximum, slices)


def _set_kspace(value):
    def edit(f):
        data = f["kspace"][()]
        data[...] = value
        del f["kspace"]
        f.create_dataset("kspace", data=data)

    return edit


def _replace(key, data):
    def edit(f):
        del f[key]
        f.create_dataset(key, data=data)

    return edit


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: _raw(p, header=_header(encoded=(128, 90))), r"encodedSpace matrixSize \(128, 90\) does not match"),
        (lambda p: _raw(p, header=_header(recon=(1, 1))), r"reconSpace matrixSize \(1, 1\) is too small"),
        (lambda p: _raw(p, header=_header().replace(">64<", ">inf<", 1)), r"is not a number: 'inf'"),
        (lambda p: _raw(p, header=_header(center=90)), r"encoding limits .* do not fit kspace width 80"),
        (lambda p: _edit_h5(_raw(p), _set_kspace(0)), r"'kspace' is zero everywhere"),
        (
            lambda p: _edit_h5(_raw(p), _replace("kspace", np.zeros((0, 8, 128, 80), np.complex64))),
            r"'kspace' of shape \(0, 8, 128, 80\) is empty",
        ),
        (lambda p: _edit_h5(_raw(p), lambda f: f.create_dataset("mask", data=np.ones(80))), r"fastMRI test/challenge"),
        (lambda p: _edit_h5(_raw(p), lambda f: f.attrs.__delitem__("acquisition")), r"missing file attribute 'acqui"),
    ],
)
def test_prepare_refuses_bad_raw_files_and_writes_nothing(tmp_path, make, match):
    import re

    make(tmp_path)
    before = sorted(p.name for p in (tmp_path / "train").iterdir())
    out = _prepare_cli(tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "vol.h5" in out.stderr and re.search(match, out.stderr), out.stderr
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == before


def test_a_full_disk_during_preparation_is_one_line_and_leaves_nothing(tmp_path):
    """A real write failure (RLIMIT_FSIZE below the sidecar's size, in a subprocess): exit 2 with
    one line naming the sidecar, no temporary file, the raw file untouched. (HDF5 writing to disk
    itself used to segfault here.)"""
    import hashlib

    raw = _raw(tmp_path)
    before = hashlib.sha256(raw.read_bytes()).hexdigest()
    code = (
        "import resource, signal, sys, runpy\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))\n"
        f"sys.argv = ['prepare_dataset.py', {str(tmp_path)!r}]\n"
        f"runpy.run_path({str(ROOT / 'data_scripts' / 'prepare_dataset.py')!r}, run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.prepared/vol.h5: could not write the file" in errors[0]
    assert "Traceback" not in out.stderr
    leftovers = [p.name for p in (tmp_path / "train.prepared").iterdir()]
    assert leftovers == [] and hashlib.sha256(raw.read_bytes()).hexdigest() == before


def test_prepare_refuses_an_empty_folder(tmp_path):
    out = _prepare_cli(tmp_path)
    assert out.returncode == 2 and "no raw volumes (*.h5)" in out.stderr


def test_stale_temporary_sidecars_of_a_killed_run_are_removed(tmp_path, monkeypatch):
    from recon_lib.data import prepare

    raw = _raw(tmp_path)
    from recon_lib.data.layout import sidecar_path

    side = sidecar_path(raw)
    side.parent.mkdir()
    stale = side.parent / f".{side.name}.k9x2.tmp"
    stale.write_bytes(b"half a sidecar")
    monkeypatch.setattr(prepare, "prepare_volume", lambda info: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare_folder(tmp_path)
    assert not stale.exists()


def test_ctrl_c_during_an_hdf5_write_is_held_until_the_file_is_complete(tmp_path):
    """h5py swallows a KeyboardInterrupt raised inside its file-object callbacks; the writer holds
    SIGINT for the (short) write and raises it afterwards, with the file complete or absent."""
    import os
    import signal

    import h5py

    from recon_lib.data.fastmri_io import atomic_h5_writer

    target = tmp_path / "out.h5"
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="finished first"):
        with atomic_h5_writer(target) as f:
            f.create_dataset("a", data=np.arange(10))
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the write
            f.create_dataset("b", data=np.arange(5))
    assert signal.getsignal(signal.SIGINT) is before
    with h5py.File(target, "r") as f:  # the write was finished, not cut in half
        assert list(f["b"][()]) == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_ctrl_c_stops_a_real_preparation_run(tmp_path):
    """SIGINT to prepare_dataset.py (a real subprocess) stops the run: finished sidecars are kept,
    no temporary file is left, one line on stderr."""
    import signal
    import time

    from test_prepare import write_raw_volume

    for i in range(12):
        write_raw_volume(tmp_path / "train" / f"vol{i:02d}.h5", seed=i)
    # copies, cheaply, so that a loaded machine cannot finish every volume before the signal lands
    for i in range(12, 48):
        shutil.copyfile(tmp_path / "train" / f"vol{i % 12:02d}.h5", tmp_path / "train" / f"vol{i:02d}.h5")
    folder = tmp_path / "train.prepared"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "data_scripts" / "prepare_dataset.py"), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell starting `make test` in the background (`make test &`, nohup, some CI runners) sets
        # SIGINT to "ignore", children inherit it and Python then installs no Ctrl-C handler: give the
        # child the terminal's default, as an interactive user has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not (folder.is_dir() and any(p.suffix == ".h5" for p in folder.iterdir())) and time.time() < deadline:
        time.sleep(0.02)  # wait until the first sidecar is written: the run is inside its loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    done = sorted(p.name for p in folder.iterdir())
    assert proc.returncode != 0 and len(done) < 48, "the run went on after Ctrl-C"
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("preparing", "\r"))]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("interrupted"), err
    assert not [name for name in done if name.endswith(".tmp")]


def test_an_unwritable_sidecar_location_is_one_clear_error(tmp_path):
    """A file where the sidecar folder must go (as a read-only folder would, for root too): exit 2, one line."""
    raw = _raw(tmp_path)
    (tmp_path / "train.prepared").write_text("in the way")
    out = _prepare_cli(tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "train.prepared" in errors[0], out.stderr
    assert (tmp_path / "train.prepared").read_text() == "in the way" and raw.exists()


# ---- the dataset: cheap checks on open, finiteness per slice, no silently empty split ----------------
def _sidecar_fixture(tmp_path: Path) -> Path:
    from recon_lib.data import prepare
    from recon_lib.data.layout import sidecar_path

    raw = _raw(tmp_path)
    prepare.prepare_folder(tmp_path)
    return sidecar_path(raw)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda f: f.attrs.__setitem__("max", 0.0), r"attribute 'max' must be a positive finite number, got 0\.0"),
        (lambda f: f.attrs.__setitem__("max", float("nan")), r"attribute 'max' must be a positive finite number"),
        (lambda f: f.attrs.__setitem__("padding_left", 90), r"padding 90\.\.76 must satisfy"),
        (lambda f: f.attrs.__setitem__("padding_right", 2), r"padding 4\.\.2 must satisfy"),
        (lambda f: _replace("kspace", f["kspace"][()].real.astype(np.float32))(f), r"'kspace' must be complex64"),
    ],
)
def test_dataset_refuses_inconsistent_sidecars_on_open(tmp_path, fast_espirit, edit, match):
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.data.fastmri_io import DataFormatError
    from recon_lib.physics.masks import MaskFunc

    side = _sidecar_fixture(tmp_path)
    _edit_h5(side, edit)
    with pytest.raises(DataFormatError, match=match):
        KneeDataset(tmp_path / "train", MaskFunc([4]))


def test_dataset_refuses_a_slice_with_nan(tmp_path, fast_espirit):
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.data.fastmri_io import DataFormatError
    from recon_lib.physics.masks import MaskFunc

    side = _sidecar_fixture(tmp_path)

    def poison(f):
        f["maps_cf0.08"][1, 0, 3, 3] = complex("nan+0j")

    _edit_h5(side, poison)
    ds = KneeDataset(tmp_path / "train", MaskFunc([4]))
    ds[0]  # slice 0 is fine
    with pytest.raises(DataFormatError, match=r"'maps' slice 1 contains NaN or Inf"):
        ds[1]


def test_an_empty_split_is_an_error_not_an_empty_dataset(tmp_path, fast_espirit):
    from recon_lib.data.dataset import DatasetNotPreparedError, KneeDataset
    from recon_lib.physics.masks import MaskFunc

    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetNotPreparedError, match="holds no prepared volumes"):
        KneeDataset(tmp_path / "val", MaskFunc([4]))
    _sidecar_fixture(tmp_path)
    with pytest.raises(DatasetNotPreparedError, match=r"no prepared volumes with acquisition in \['CORPDFS_FBK'\]"):
        KneeDataset(tmp_path / "train", MaskFunc([4]), acquisitions=["CORPDFS_FBK"])


# ---- the explorer ----------------------------------------------------------------------------------
def test_explorer_step_must_reach_alpha_one():
    from browser_harness import make_standin

    from recon_lib.teaching.explorer import AlphaExplorer

    sn, gan, item = make_standin(coils=4, shape=(32, 40), target_shape=(32, 32), num_cascades=1, features=4)
    with pytest.raises(ValueError, match=r"step must divide 1.*got 0\.3"):
        AlphaExplorer(sn, gan, item, step=0.3)
    assert AlphaExplorer(sn, gan, item, step=0.25).slider_positions()[-1] == 1.0


# ---- sidecar contents: the checksum, on demand -------------------------------------------------------
def test_bytes_changed_inside_a_sidecar_are_found_by_verify(tmp_path, fast_espirit):
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.data.fastmri_io import DataFormatError
    from recon_lib.physics.masks import MaskFunc

    side = _sidecar_fixture(tmp_path)
    ds = KneeDataset(tmp_path / "train", MaskFunc([4]))
    ds.verify()  # intact
    assert _prepare_cli_verify(tmp_path).returncode == 0

    def tamper(f):
        f["maps_full"][0, 2, 10, 10] = f["maps_full"][0, 2, 10, 10] * 1.5  # finite, plausible, wrong

    _edit_h5(side, tamper)
    KneeDataset(tmp_path / "train", MaskFunc([4]))  # the cheap checks on open cannot see it
    with pytest.raises(DataFormatError, match=r"vol\.h5: content checksum mismatch"):
        ds.verify()
    out = _prepare_cli_verify(tmp_path)
    assert out.returncode == 2 and "content checksum mismatch" in out.stderr and "Traceback" not in out.stderr


def _prepare_cli_verify(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "data_scripts" / "prepare_dataset.py"), str(root), "--verify"],
        capture_output=True,
        text=True,
        timeout=300,
    )
