"""Dataset preparation: readout cropping, SENSE reference, foreground, idempotence, atomicity,
and bad input leaving the folder untouched."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from scipy import ndimage

from recon_lib.core.tensors import center_crop
from recon_lib.data.fastmri_io import DataFormatError, build_ismrmrd_header
from recon_lib.data.integrity import FINGERPRINT_ATTR, attrs_digest, raw_fingerprint
from recon_lib.data.layout import find_raw_files, sidecar_path
from recon_lib.data.phantom.simulate import simulate_volume, write_volume
from recon_lib.data.prepare import PREPARE_VERSION, foreground_mask, is_prepared, prepare_folder
from recon_lib.physics.coils import sens_reduce
from recon_lib.physics.fft import fft2c, ifft2c, remove_readout_oversampling

REPO = Path(__file__).resolve().parents[1]

# Small fastMRI-layout fixture: 2x readout oversampling (H = 2 h), zero padding columns.
H, W, COILS, SLICES = 128, 80, 8, 2
PADDING = (4, 76)  # sampled columns [4, 76)
RECON = (64, 64)


def smooth_object(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth complex ellipse ``(h, w)`` (soft edge, so no Gibbs ringing) with texture and a slowly varying phase."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    a, b = rng.uniform(0.55, 0.7), rng.uniform(0.6, 0.75)
    inside = ndimage.gaussian_filter(((xx / b) ** 2 + (yy / a) ** 2 < 1).astype(np.float64), 1.5)  # soft edge
    texture = 1.0 + 0.3 * np.sin(rng.uniform(4, 9) * xx + rng.uniform(0, 6)) * np.cos(rng.uniform(3, 7) * yy)
    phase = np.exp(1j * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy))
    return (inside * texture * phase).astype(np.complex64)


def coil_maps(coils: int, h: int, w: int, seed: int) -> np.ndarray:
    """Smooth coil maps ``(coils, h, w)`` around the object, normalised so sum |S|^2 = 1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = np.empty((coils, h, w), dtype=np.complex128)
    for c in range(coils):
        ang = 2 * np.pi * c / coils
        mag = 1.0 / (1.0 + 1.5 * ((xx - 1.2 * np.cos(ang)) ** 2 + (yy - 1.2 * np.sin(ang)) ** 2))
        maps[c] = mag * np.exp(1j * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy + rng.uniform(-3, 3)))
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0, keepdims=True))
    return maps.astype(np.complex64)


def make_raw_arrays(seed: int, slices: int = SLICES, noise: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-space ``(S, C, H, W)`` with readout oversampling, plus the object ``(S, H/2, W)`` and maps
    ``(S, C, H/2, W)`` on the readout-cropped grid."""
    h = H // 2
    objs, maps, ks = [], [], []
    for s in range(slices):
        obj = smooth_object(h, W, seed * 100 + s)
        m = coil_maps(COILS, H, W, seed * 100 + s)  # maps over the whole oversampled field of view
        big = np.zeros((H, W), np.complex64)
        big[H // 4 : H // 4 + h] = obj  # the object fills only the central half of the readout FOV
        k = fft2c(torch.from_numpy(m * big)).numpy()
        k[..., : PADDING[0]] = 0
        k[..., PADDING[1] :] = 0
        rng = np.random.default_rng(seed * 100 + s + 7)
        k = k + noise * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
        k[..., : PADDING[0]] = 0
        k[..., PADDING[1] :] = 0
        objs.append(obj)
        maps.append(m[:, H // 4 : H // 4 + h])
        ks.append(k.astype(np.complex64))
    return np.stack(ks), np.stack(objs), np.stack(maps)


def write_raw_volume(
    path: Path, seed: int = 0, slices: int = SLICES, acquisition: str = "CORPD_FBK", header: str | None = None
) -> Path:
    """Write a small raw fastMRI multicoil file (kspace, reconstruction_rss, header, attrs)."""
    kspace, obj, _ = make_raw_arrays(seed, slices)
    # center / maximum such that padding_left = W//2 - center = 4 and padding_right = 4 + max + 1 = 76
    center = W // 2 - PADDING[0]
    maximum = PADDING[1] - PADDING[0] - 1
    if header is None:
        header = build_ismrmrd_header((H, W, 1), (RECON[0], RECON[1], 1), center, maximum, slices)
    rss = np.abs(obj)[:, (H // 2 - RECON[0]) // 2 :][:, : RECON[0], (W - RECON[1]) // 2 :][:, :, : RECON[1]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("reconstruction_rss", data=rss.astype(np.float32))
        f.create_dataset("ismrmrd_header", data=header)
        f.attrs["acquisition"] = acquisition
        f.attrs["patient_id"] = f"fixture{seed}"
        f.attrs["norm"] = float(np.linalg.norm(rss))
        f.attrs["max"] = float(rss.max())
    return path


def folder_state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` (hidden ones included) -> (sha256, mtime_ns)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def prepared_folder(tmp_path_factory) -> Path:
    """Two raw volumes in split sub-folders, prepared once for the content tests."""
    root = tmp_path_factory.mktemp("prepared")
    write_raw_volume(root / "train" / "vol_a.h5", seed=1, acquisition="CORPD_FBK")
    write_raw_volume(root / "val" / "vol_b.h5", seed=2, acquisition="CORPDFS_FBK")
    summary = prepare_folder(root)
    assert len(summary.prepared) == 2 and not summary.skipped
    return root


def test_readout_crop_equals_cropping_the_image():
    g = torch.Generator().manual_seed(0)
    k = torch.randn(2, 3, 32, 20, dtype=torch.complex64, generator=g)
    cropped = remove_readout_oversampling(k)
    assert cropped.shape == (2, 3, 16, 20)
    torch.testing.assert_close(ifft2c(cropped), ifft2c(k)[..., 8:24, :], atol=1e-5, rtol=1e-5)


def test_find_raw_files_recurses_and_skips_sidecars(prepared_folder):
    names = [p.relative_to(prepared_folder).as_posix() for p in find_raw_files(prepared_folder)]
    assert names == ["train/vol_a.h5", "val/vol_b.h5"]


def a_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sidecar_contents(prepared_folder):
    raw = prepared_folder / "train" / "vol_a.h5"
    with h5py.File(sidecar_path(raw), "r") as f, h5py.File(raw, "r") as r:
        h = H // 2
        assert f["kspace"].shape == (SLICES, COILS, h, W) and f["kspace"].dtype == np.complex64
        assert f["maps_full"].shape == (SLICES, COILS, h, W) and f["maps_full"].dtype == np.complex64
        # maps from the acquired centre lines only: 6 lines at AF 4 (W = 80), AF 8's 3 are too few
        assert f["maps_cf0.08"].shape == f["maps_full"].shape and f["maps_cf0.08"].attrs["calib_lines"] == 6
        assert f["maps_cf0.08"].attrs["kernel_width"] == 2
        assert "maps_cf0.04" not in f and "3 acquired centre lines" in f.attrs["maps_cf0.04_error"]
        assert a_sha(raw) == f.attrs["source_sha256"]
        # the tie to the raw file checked on open: its fingerprint, and a checksum of the attributes
        assert f.attrs[FINGERPRINT_ATTR] == raw_fingerprint(raw) and f.attrs["attrs_sha256"] == attrs_digest(f.attrs)
        assert f["sense_reference"].shape == (SLICES, *RECON) and f["sense_reference"].dtype == np.complex64
        assert f["target"].dtype == np.float32 and f["foreground"].dtype == bool
        np.testing.assert_allclose(f["target"][()], np.abs(f["sense_reference"][()]), rtol=1e-6)
        a = f.attrs
        assert a["complete"] and a["prepare_version"] == PREPARE_VERSION and a["source"] == "vol_a.h5"
        assert a["espirit_crop_readout"]  # calibrated on the raw, oversampled k-space
        assert a["max"] == pytest.approx(float(f["target"][()].max()))
        assert (a["padding_left"], a["padding_right"]) == PADDING
        assert tuple(a["recon_size"]) == RECON
        assert a["acquisition"] == "CORPD_FBK" and a["patient_id"] == r.attrs["patient_id"]
        # k-space: the readout-cropped raw k-space, padding columns still empty
        expected = remove_readout_oversampling(torch.from_numpy(r["kspace"][()])).numpy()
        np.testing.assert_allclose(f["kspace"][()], expected, atol=1e-6)
        assert np.abs(f["kspace"][..., : PADDING[0]]).max() == 0 and np.abs(f["kspace"][..., PADDING[1] :]).max() == 0
        # maps normalised where kept
        rss = np.sqrt((np.abs(f["maps_full"][()]) ** 2).sum(1))
        kept = rss > 0.5
        np.testing.assert_allclose(rss[kept], 1.0, atol=1e-4)


def test_sense_reference_matches_object_magnitude_inside_foreground(prepared_folder):
    """Noise 1e-3 against an object of magnitude ~1: the SENSE reference (ESPIRiT maps) is within
    2 % (relative l2 over the foreground) of the true object magnitude, for every slice."""
    _, obj, _ = make_raw_arrays(seed=1)
    top, left = (H // 2 - RECON[0]) // 2, (W - RECON[1]) // 2
    truth = np.abs(obj[:, top : top + RECON[0], left : left + RECON[1]])
    with h5py.File(sidecar_path(prepared_folder / "train" / "vol_a.h5"), "r") as f:
        target, fg = f["target"][()], f["foreground"][()]
    for s in range(SLICES):
        err = np.linalg.norm((target[s] - truth[s])[fg[s]]) / np.linalg.norm(truth[s][fg[s]])
        assert err < 0.02, (s, err)


@pytest.fixture(scope="module")
def phantom(request, tmp_path_factory):
    """A teaching-geometry PD phantom of simulator ``request.param`` (1 or 2), one slice, prepared:
    ``(volume, truth, tissue, sidecar path)`` with ``truth`` (|image|) and ``tissue`` (labels != 0)
    centre-cropped to the recon size."""
    vol = simulate_volume(5, "CORPD_FBK", num_slices=1, simulator=request.param)
    raw = tmp_path_factory.mktemp(f"phantom{request.param}") / "knee.h5"
    write_volume(raw, vol)
    prepare_folder(raw.parent)
    size = vol.geometry.recon_size
    truth = center_crop(torch.from_numpy(np.abs(vol.image)), size).numpy()
    tissue = center_crop(torch.from_numpy(vol.tissue_labels != 0), size).numpy()
    return vol, truth, tissue, sidecar_path(raw)


@pytest.mark.parametrize("phantom", [1, 2], indirect=True)
def test_phantom_sense_reference_and_foreground(phantom):
    """Teaching-geometry phantom (15 coils, 320 x 184 raw, 160 x 160 recon, default SNR), either simulator.

    Relative error ``||(|ref| - |x|) fg|| / ||x fg||`` of the SENSE reference against the
    noise-free image ``x`` over the sidecar's foreground (magnitudes: ESPIRiT's maps carry an
    arbitrary smooth phase; on simulator 2 ``x`` is the object times the root sum of squares of the
    unnormalised receive fields, which the reference keeps): below 3 % for this PD volume
    (measured 2.2 % on simulator 1, 1.6 % on simulator 2), all of it noise (SNR 30); from the
    noise-free k-space with the same ESPIRiT maps below 0.5 % (the ESPIRiT error alone; measured
    0.13 % / 0.20 %, against 1.6 % on simulator 1 when calibrating on readout-cropped k-space,
    where the knee wraps around the cropped field of view's top and bottom edges).
    The foreground reaches at most a few pixels beyond the tissue.
    """
    vol, truth, tissue, sidecar = phantom
    rh, rw = vol.geometry.recon_size
    with h5py.File(sidecar, "r") as f:
        target, fg, maps = f["target"][()], f["foreground"][()], torch.from_numpy(f["maps_full"][()])
        assert f["sense_reference"].shape == (1, rh, rw) and f.attrs["max"] == pytest.approx(target.max())

    def rel_err(image: np.ndarray) -> float:
        return float(np.linalg.norm((image - truth)[fg]) / np.linalg.norm(truth[fg]))

    assert rel_err(target) < 0.03
    clean = remove_readout_oversampling(torch.from_numpy(vol.kspace_clean))
    assert rel_err(center_crop(sens_reduce(clean, maps).abs(), (rh, rw)).numpy()) < 0.005
    assert not fg[~ndimage.binary_dilation(tissue, iterations=4)].any()


SHADED_MUSCLE = (
    "simulator 2's receive shading (not normalised away) darkens PD muscle far from the coils below half "
    "of Otsu's threshold, and those regions reach the image's top and bottom edges, so hole filling does not "
    "reclaim them: the foreground covers 74 % of this volume's tissue (93 % / 86 % for seeds 6 / 7)"
)


@pytest.mark.parametrize(
    "phantom", [1, pytest.param(2, marks=pytest.mark.xfail(reason=SHADED_MUSCLE, strict=True))], indirect=True
)
def test_phantom_foreground_covers_the_tissue(phantom):
    """The foreground covers the tissue (measured 99.96 % on simulator 1). Simulator 2: a known
    shortfall of :func:`foreground_mask` on shaded images (strict xfail: it fails once fixed)."""
    *_, tissue, sidecar = phantom
    with h5py.File(sidecar, "r") as f:
        fg = f["foreground"][()]
    assert fg[tissue].mean() > 0.99


def test_foreground_mask_finds_the_object_and_fills_holes():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    ellipse = ((xx - 50) / 30.0) ** 2 + ((yy - 46) / 38.0) ** 2 < 1
    hole = ((xx - 50) / 6.0) ** 2 + ((yy - 46) / 6.0) ** 2 < 1  # dark tissue inside the object
    speck = (np.abs(xx - 88) < 2) & (np.abs(yy - 6) < 2)  # a bright noise blob outside
    image = 1.0 * ellipse - 0.95 * hole + 2.0 * speck + 0.05 * np.abs(rng.standard_normal((96, 96)))
    fg = foreground_mask(image[None])[0]
    # the object is covered, and the mask reaches at most 3 pixels beyond its edge
    assert fg[ndimage.binary_erosion(ellipse)].all()
    assert not fg[~ndimage.binary_dilation(ellipse, iterations=3)].any()
    assert fg[hole].all()  # holes filled
    assert not fg[speck].any()  # only the largest component is kept


def test_second_run_skips_and_raw_files_are_byte_identical(tmp_path, fast_espirit):
    raws = [
        write_raw_volume(tmp_path / "train" / "v0.h5", seed=3),
        write_raw_volume(tmp_path / "test" / "v1.h5", seed=4),
    ]
    raw_hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raws}
    first = prepare_folder(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in first.prepared) == [
        "test.prepared/v1.h5",
        "train.prepared/v0.h5",
    ]
    assert all(is_prepared(p) for p in raws)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raws} == raw_hashes
    state = folder_state(tmp_path)
    second = prepare_folder(tmp_path)
    assert second.prepared == [] and sorted(second.skipped) == sorted(raws)
    assert folder_state(tmp_path) == state  # nothing rewritten: same bytes and mtimes


def test_interrupted_run_leaves_no_stray_files_and_resumes(tmp_path, monkeypatch, fast_espirit):
    raws = [write_raw_volume(tmp_path / "train" / f"v{i}.h5", seed=10 + i) for i in range(2)]
    real_create = h5py.Group.create_dataset
    calls = {"n": 0}

    def interrupting_create(self, name, *args, **kwargs):
        # the second volume is interrupted while its sidecar is being written
        if name == "sense_reference":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return real_create(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", interrupting_create)
    before = set(folder_state(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        prepare_folder(tmp_path)
    monkeypatch.setattr(h5py.Group, "create_dataset", real_create)
    after = folder_state(tmp_path)
    assert set(after) - before == {"train.prepared/v0.h5"}  # no temporary or partial file
    assert not sidecar_path(raws[1]).exists()
    summary = prepare_folder(tmp_path)  # resume: only the interrupted volume is done
    assert summary.prepared == [sidecar_path(raws[1])] and summary.skipped == [raws[0]]
    assert folder_state(tmp_path)["train.prepared/v0.h5"] == after["train.prepared/v0.h5"]


def test_stale_or_incomplete_sidecar_is_redone(tmp_path, fast_espirit):
    raw = write_raw_volume(tmp_path / "v.h5", seed=5)
    prepare_folder(tmp_path)
    with h5py.File(sidecar_path(raw), "a") as f:
        f.attrs["complete"] = False
    assert not is_prepared(raw)
    assert prepare_folder(tmp_path).prepared == [sidecar_path(raw)]
    with h5py.File(sidecar_path(raw), "a") as f:
        f.attrs["prepare_version"] = PREPARE_VERSION - 1
    assert not is_prepared(raw)
    assert prepare_folder(tmp_path).prepared == [sidecar_path(raw)]
    assert is_prepared(raw)


def test_a_replaced_raw_file_of_the_same_size_is_prepared_again(tmp_path, fast_espirit):
    """The sidecar records the raw file's SHA-256: same name, same size, other content -> redone."""
    raw = write_raw_volume(tmp_path / "train" / "v.h5", seed=5)
    prepare_folder(tmp_path)
    size = raw.stat().st_size
    write_raw_volume(raw, seed=6)  # another patient, the same layout and size
    assert raw.stat().st_size == size and not is_prepared(raw)
    assert prepare_folder(tmp_path).prepared == [sidecar_path(raw)]


def test_format_2_sidecars_are_migrated(tmp_path, fast_espirit):
    """A sidecar of the old layout next to the raw file (which fastMRI's loaders would read) is
    replaced by one in the sibling folder."""
    from recon_lib.data.layout import legacy_sidecar_path

    raw = write_raw_volume(tmp_path / "train" / "v.h5", seed=5)
    legacy = legacy_sidecar_path(raw)
    with h5py.File(legacy, "w") as f:
        f.attrs["complete"] = True
        f.attrs["prepare_version"] = 2
    assert not is_prepared(raw)
    prepare_folder(tmp_path)
    assert not legacy.exists() and is_prepared(raw)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["v.h5"]  # only raw files left there


def _break(path: Path, kind: str) -> str | None:
    """Turn a good raw file into a bad one; returns the key the error must name (or None)."""
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 6 // 10])
        return None
    if kind == "corrupt_bytes":
        data = bytearray(path.read_bytes())
        data[:64] = bytes(np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8))
        path.write_bytes(bytes(data))
        return None
    with h5py.File(path, "a") as f:
        k = f["kspace"][()]
        if kind == "missing_kspace":
            del f["kspace"]
        elif kind == "wrong_dtype":
            del f["kspace"]
            f.create_dataset("kspace", data=k.astype(np.complex128))
        elif kind == "wrong_rank":
            del f["kspace"]
            f.create_dataset("kspace", data=k[0])
        elif kind == "nan":
            k[1, 0, 3, 5] = np.nan
            f["kspace"][...] = k
        elif kind == "bad_header":
            del f["ismrmrd_header"]
            f.create_dataset("ismrmrd_header", data="<ismrmrdHeader><encoding>")
            return "ismrmrd_header"
    return "kspace"


@pytest.mark.parametrize(
    "kind", ["truncated", "corrupt_bytes", "missing_kspace", "wrong_dtype", "wrong_rank", "nan", "bad_header"]
)
def test_bad_input_names_file_and_key_and_changes_nothing(tmp_path, fast_espirit, kind):
    write_raw_volume(tmp_path / "train" / "a_good.h5", seed=6)  # sorts first: would be prepared first
    bad = write_raw_volume(tmp_path / "val" / "z_bad.h5", seed=7)
    key = _break(bad, kind)
    before = folder_state(tmp_path)
    with pytest.raises(DataFormatError) as err:
        prepare_folder(tmp_path)
    message = str(err.value)
    assert "z_bad.h5" in message
    if key is not None:
        assert f"'{key}'" in message or key in message
    assert folder_state(tmp_path) == before


def _load_cli():
    spec = importlib.util.spec_from_file_location("prepare_dataset_cli", REPO / "data_scripts" / "prepare_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_prepares_then_skips(tmp_path, fast_espirit, capsys):
    write_raw_volume(tmp_path / "train" / "ok.h5", seed=8)
    cli = _load_cli()
    assert cli.main([str(tmp_path)]) == 0
    assert "prepared 1 volume" in capsys.readouterr().out and (tmp_path / "train.prepared" / "ok.h5").is_file()
    assert cli.main([str(tmp_path)]) == 0
    assert "prepared 0 volume(s), skipped 1" in capsys.readouterr().out
    assert cli.main([str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_cli_reports_bad_input_without_traceback(tmp_path):
    """A real process: exit status 2, one message naming file and key, no traceback, nothing written."""
    write_raw_volume(tmp_path / "train" / "ok.h5", seed=8)
    bad = write_raw_volume(tmp_path / "val" / "broken.h5", seed=9)
    _break(bad, "wrong_dtype")
    before = folder_state(tmp_path)
    script = REPO / "data_scripts" / "prepare_dataset.py"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "broken.h5" in out.stderr and "'kspace'" in out.stderr and "complex64" in out.stderr
    assert "Traceback" not in out.stderr
    assert folder_state(tmp_path) == before
