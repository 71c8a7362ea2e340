"""Bad data the sidecars and raw files can hold: one clear error naming the file(s), the slice and the
fix, nothing written or lost; and the fix an error names repairs what it reports.

* A sidecar is tied to its raw file (name, size, fingerprint on open; every byte on ``--verify``):
  a raw file replaced after preparation, a sidecar copied from another volume or edited is refused
  naming both files and the command that prepares it again, and that command (without
  ``--overwrite``) does.
* Raw files are checked before anything is written: a k-space slice of zeros, undersampled k-space
  without a ``mask`` dataset.
* A preparation run removes the temporary files of a killed run, never those of a live one.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_prepare import PADDING, folder_state, write_raw_volume

from recon_lib.core.atomic import owned_temporary
from recon_lib.data.dataset import KneeDataset
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.integrity import FINGERPRINT_ATTR, PREPARE_VERSION, raw_fingerprint
from recon_lib.data.layout import find_raw_files, sidecar_path
from recon_lib.data.prepare import is_prepared, prepare_folder, validate_raw_file
from recon_lib.physics.masks import MaskFunc

ROOT = Path(__file__).resolve().parents[1]
KNEE = ROOT / "data" / "knee"


def _prepared(tmp_path: Path, *names: str) -> list[Path]:
    """Raw volumes ``train/<name>.h5`` (2 slices, 8 coils), prepared; returns the raw files."""
    raws = [write_raw_volume(tmp_path / "train" / f"{name}.h5", seed=40 + i) for i, name in enumerate(names)]
    prepare_folder(tmp_path)
    return raws


def _open(tmp_path: Path) -> KneeDataset:
    return KneeDataset(tmp_path / "train", MaskFunc([4]))


def _refusal(tmp_path: Path) -> str:
    """Open the split, expect one DataFormatError, and return its message."""
    with pytest.raises(DataFormatError) as err:
        _open(tmp_path)
    return str(err.value)


def _assert_names_both_and_the_fix(message: str, raw: Path, folder: Path) -> None:
    assert str(sidecar_path(raw)) in message and f"of {raw}:" in message, message
    assert f"`python data_scripts/prepare_dataset.py {folder}` prepares it again" in message, message


def _run_the_fix(message: str) -> subprocess.CompletedProcess:
    """Run the command the message names, exactly (from the repository folder, as the user would)."""
    command = re.search(r"`(python data_scripts/prepare_dataset\.py [^`]+)`", message)
    assert command is not None, message
    argv = shlex.split(command.group(1))
    return subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _verify(root: Path) -> subprocess.CompletedProcess:
    script = ROOT / "data_scripts" / "prepare_dataset.py"
    return subprocess.run(
        [sys.executable, str(script), str(root), "--verify"], capture_output=True, text=True, timeout=300
    )


# ---- the sidecar tied to its raw file --------------------------------------------------------------
def test_a_raw_file_replaced_after_preparation_is_refused_and_the_named_command_repairs_it(tmp_path):
    (raw,) = _prepared(tmp_path, "vol")
    write_raw_volume(raw, seed=77)  # another patient, the same name, layout and size
    before = folder_state(tmp_path)
    message = _refusal(tmp_path)
    _assert_names_both_and_the_fix(message, raw, raw.parent)
    assert "header and k-space are not those it was prepared from" in message
    assert folder_state(tmp_path) == before  # opening wrote nothing, the raw file is untouched
    out = _run_the_fix(message)
    assert out.returncode == 0 and "prepared 1 volume(s), skipped 0" in out.stdout, out.stderr
    assert len(_open(tmp_path)) == 2
    with h5py.File(sidecar_path(raw), "r") as f:
        assert f.attrs[FINGERPRINT_ATTR] == raw_fingerprint(raw)


def test_a_sidecar_copied_from_another_volume_is_refused_on_open_and_by_verify(tmp_path, fast_espirit):
    a, b = _prepared(tmp_path, "vol_a", "vol_b")
    shutil.copyfile(sidecar_path(a), sidecar_path(b))  # b's sidecar now says it is vol_a
    before = folder_state(tmp_path)
    message = _refusal(tmp_path)
    _assert_names_both_and_the_fix(message, b, b.parent)
    assert "prepared from 'vol_a.h5', not from 'vol_b.h5'" in message
    out = _verify(tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "prepared from 'vol_a.h5'" in out.stderr and f"prepare_dataset.py {tmp_path}`" in out.stderr
    assert folder_state(tmp_path) == before
    summary = prepare_folder(tmp_path)  # the fix: without --overwrite, only the copied sidecar is redone
    assert summary.prepared == [sidecar_path(b)] and summary.skipped == [a]
    assert sorted({_open(tmp_path)[i]["fname"] for i in range(4)}) == ["vol_a.h5", "vol_b.h5"]


def test_an_edited_sidecar_attribute_is_refused_on_open(tmp_path, fast_espirit):
    (raw,) = _prepared(tmp_path, "vol")
    with h5py.File(sidecar_path(raw), "a") as f:
        f.attrs["max"] = 2.0 * f.attrs["max"]  # plausible, and every PSNR would move
    message = _refusal(tmp_path)
    _assert_names_both_and_the_fix(message, raw, raw.parent)
    assert "its attributes were changed after preparation" in message
    assert not is_prepared(raw) and prepare_folder(tmp_path).prepared == [sidecar_path(raw)]
    _open(tmp_path)


def test_a_corrupted_sidecar_reported_by_verify_is_repaired_by_the_command_it_names(tmp_path):
    (raw,) = _prepared(tmp_path, "vol")
    with h5py.File(sidecar_path(raw), "a") as f:
        f["target"][0, 32, 32] = 1.5 * f["target"][0, 32, 32]  # the object's centre: finite, plausible, wrong
    before = folder_state(tmp_path)
    out = _verify(tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "vol.h5: content checksum mismatch" in errors[0], out.stderr
    assert folder_state(tmp_path) == before
    fix = _run_the_fix(errors[0])
    assert fix.returncode == 0 and "prepared 1 volume(s), skipped 0" in fix.stdout, fix.stderr
    assert _verify(tmp_path).returncode == 0


def test_a_raw_file_changed_outside_the_fingerprint_is_found_by_verify(tmp_path, fast_espirit):
    """The fingerprint reads a few rows; ``--verify`` and preparation read every byte."""
    (raw,) = _prepared(tmp_path, "vol")
    with h5py.File(raw, "a") as f:
        f["kspace"][0, 0, 3, 10] = f["kspace"][0, 0, 3, 10] * 2  # a row the fingerprint does not read
    assert len(_open(tmp_path)) == 2  # the cheap check on open cannot see it
    out = _verify(tmp_path)
    assert out.returncode == 2 and "the raw file's bytes (SHA-256) are not those" in out.stderr, out.stderr
    assert str(raw) in out.stderr and str(sidecar_path(raw)) in out.stderr
    assert prepare_folder(tmp_path).prepared == [sidecar_path(raw)]
    assert _verify(tmp_path).returncode == 0


def _make_format_3(side: Path) -> None:
    """What a sidecar of the previous format holds: no fingerprint, no attribute checksum."""
    with h5py.File(side, "a") as f:
        del f.attrs[FINGERPRINT_ATTR], f.attrs["attrs_sha256"]
        f.attrs["prepare_version"] = 3


def test_a_format_3_sidecar_is_served_checked_against_every_byte_and_prepared_again(tmp_path, fast_espirit):
    (raw,) = _prepared(tmp_path, "vol")
    side = sidecar_path(raw)
    with h5py.File(side, "r") as f:
        arrays = {k: f[k][()] for k in ("kspace", "maps_full", "target", "foreground")}
    _make_format_3(side)
    assert len(_open(tmp_path)) == 2 and _verify(tmp_path).returncode == 0  # still served
    original = raw.read_bytes()
    with h5py.File(raw, "a") as f:
        f["kspace"][1, 2, 5, 9] = f["kspace"][1, 2, 5, 9] * 3
    message = _refusal(tmp_path)  # without a fingerprint, the SHA-256 is compared on open
    _assert_names_both_and_the_fix(message, raw, raw.parent)
    assert "SHA-256" in message
    raw.write_bytes(original)
    assert len(_open(tmp_path)) == 2
    assert not is_prepared(raw) and prepare_folder(tmp_path).prepared == [side]  # `make data` upgrades it
    with h5py.File(side, "r") as f:
        assert f.attrs["prepare_version"] == PREPARE_VERSION
        for key, value in arrays.items():
            np.testing.assert_array_equal(f[key][()], value)


def test_a_sidecar_of_an_unknown_format_is_refused_naming_the_format(tmp_path, fast_espirit):
    (raw,) = _prepared(tmp_path, "vol")
    with h5py.File(sidecar_path(raw), "a") as f:
        f.attrs["prepare_version"] = 2
    message = _refusal(tmp_path)
    _assert_names_both_and_the_fix(message, raw, raw.parent)
    assert f"format 2; this one reads formats 3 to {PREPARE_VERSION}" in message


# ---- raw files checked before anything is written --------------------------------------------------
def _refused_by_preparation(tmp_path: Path, bad: Path) -> str:
    write_raw_volume(tmp_path / "train" / "a_good.h5", seed=1)  # sorts first: would be prepared first
    before = folder_state(tmp_path)
    with pytest.raises(DataFormatError) as err:
        prepare_folder(tmp_path)
    assert folder_state(tmp_path) == before  # nothing written, nothing removed
    assert str(bad) in str(err.value)
    return str(err.value)


def test_a_kspace_slice_of_zeros_is_refused_naming_file_and_slice(tmp_path, fast_espirit):
    bad = write_raw_volume(tmp_path / "train" / "z_bad.h5", seed=2)
    with h5py.File(bad, "a") as f:
        f["kspace"][1] = 0
    message = _refused_by_preparation(tmp_path, bad)
    assert "'kspace' slice 1 is zero in every coil and sample" in message and "drop out of every score" in message


def test_undersampled_kspace_without_a_mask_dataset_is_refused(tmp_path, fast_espirit):
    bad = write_raw_volume(tmp_path / "train" / "z_bad.h5", seed=3)
    with h5py.File(bad, "a") as f:
        k = f["kspace"][()]
        k[..., PADDING[0] : PADDING[1] : 2] = 0  # every other acquired column, as a mask would
        k[..., 36:44] = f["kspace"][..., 36:44]  # a fully sampled centre block
        f["kspace"][...] = k
    message = _refused_by_preparation(tmp_path, bad)
    assert "'kspace' slice 0:" in message and "encoding limits (4..76)" in message
    assert "looks undersampled, but the file has no 'mask' dataset" in message


def test_fully_sampled_kspace_ending_short_of_the_encoding_limits_is_accepted(tmp_path, fast_espirit):
    """Control: zero columns at the edges of the encoding limits (partial Fourier, limits counted one
    wider) are no undersampling."""
    raw = write_raw_volume(tmp_path / "train" / "vol.h5", seed=4)
    with h5py.File(raw, "a") as f:
        f["kspace"][..., PADDING[0] : PADDING[0] + 3] = 0
        f["kspace"][..., PADDING[1] - 1] = 0
    assert prepare_folder(tmp_path).prepared == [sidecar_path(raw)]


@pytest.mark.skipif(not KNEE.is_dir(), reason="the embedded dataset is not generated (make data)")
def test_the_embedded_dataset_passes_the_raw_checks_and_prepares_and_opens(tmp_path):
    """Control: every raw file of data/knee passes the new checks; a one-slice copy of one prepares
    (real ESPIRiT) and opens; the shipped sidecar of another copied with its raw file opens too."""
    raws = find_raw_files(KNEE)
    assert len(raws) >= 3
    for raw in raws:
        validate_raw_file(raw)
    source = raws[0]
    small = tmp_path / "train" / source.name
    small.parent.mkdir()
    with h5py.File(source, "r") as f, h5py.File(small, "w") as g:
        g.create_dataset("kspace", data=f["kspace"][:1])
        g.create_dataset("ismrmrd_header", data=f["ismrmrd_header"][()])
        for key, value in f.attrs.items():
            g.attrs[key] = value
    assert prepare_folder(tmp_path).prepared == [sidecar_path(small)]
    assert len(_open(tmp_path)) == 1 and _verify(tmp_path).returncode == 0
    shipped = KNEE / "test" / "knee_test_000_pd.h5"
    if sidecar_path(shipped).is_file():  # the shipped sidecar, of whatever format `make data` left
        (tmp_path / "test").mkdir()
        sidecar_path(tmp_path / "test" / shipped.name).parent.mkdir()
        shutil.copyfile(shipped, tmp_path / "test" / shipped.name)
        shutil.copyfile(sidecar_path(shipped), sidecar_path(tmp_path / "test" / shipped.name))
        assert len(KneeDataset(tmp_path / "test", MaskFunc([4]))) > 0


# ---- temporary files: a live run's are never removed -----------------------------------------------
def _temporary_for(side: Path, pid: int) -> Path:
    """A temporary name of ``side`` as the process ``pid`` of this host would have made it."""
    mine = owned_temporary(side).name  # .<name>.<host>.<pid>.<tag>.tmp
    host = mine[len(side.name) + 2 :].split(".")[0]
    return side.parent / f".{side.name}.{host}.{pid}.0badc0de.tmp"


def test_a_live_runs_temporary_file_survives_another_run_and_a_dead_ones_is_removed(tmp_path, fast_espirit):
    (raw,) = _prepared(tmp_path, "vol")
    side = sidecar_path(raw)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        temporaries = {
            "mine": _temporary_for(side, os.getpid()),
            "live": _temporary_for(side, live.pid),
            "dead": _temporary_for(side, dead.pid),
            "other host": side.parent / f".{side.name}.elsewhere-example.{live.pid}.0badc0de.tmp",
        }
        for path in temporaries.values():
            path.write_bytes(b"half a sidecar")
        assert prepare_folder(tmp_path).skipped == [raw]  # a second run
        assert {k for k, p in temporaries.items() if p.exists()} == {"mine", "live", "other host"}
        live.kill()
        live.wait()
        prepare_folder(tmp_path)
        assert {k for k, p in temporaries.items() if p.exists()} == {"mine", "other host"}
    finally:
        live.kill()
        live.wait()
