"""KneeDataset: lazy per-slice items, deterministic masks (fixed per volume for val/test, fresh per
(seed, epoch, index) for training), padding never sampled, DataLoader workers give identical batches."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from test_prepare import COILS, PADDING, RECON, SLICES, H, W, write_raw_volume
from torch.utils.data import DataLoader

from recon_lib.data.dataset import DatasetNotPreparedError, KneeDataset
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.layout import sidecar_path
from recon_lib.data.prepare import prepare_folder
from recon_lib.physics.masks import MaskFunc

#: the 80-column fixture acquires only 3 centre lines at fastMRI's AF 8 fraction (0.04): too few to
#: calibrate coil maps (see test_too_few_centre_lines_is_a_clear_error); mask tests use AF 4's fraction
CENTRE_FRACTIONS = [0.08, 0.08]

ACQS = ("CORPD_FBK", "CORPDFS_FBK", "CORPD_FBK")


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    """A prepared split folder of three small volumes (2 slices, 8 coils, 64 x 80 after readout crop)."""
    root = tmp_path_factory.mktemp("split")
    for i, acq in enumerate(ACQS):
        write_raw_volume(root / f"vol_{i}.h5", seed=20 + i, acquisition=acq)
    prepare_folder(root)
    return root


def masks_of(ds: KneeDataset) -> np.ndarray:
    return np.stack([ds[i]["mask"].numpy().ravel() for i in range(len(ds))])


def test_sample_shapes_dtypes_and_metadata(split):
    ds = KneeDataset(split, MaskFunc([4]), train=False)
    assert len(ds) == len(ACQS) * SLICES
    s = ds[3]
    h = H // 2
    assert s["kspace"].shape == (COILS, h, W) and s["kspace"].dtype == torch.complex64
    assert s["maps"].shape == (COILS, h, W) and s["maps"].dtype == torch.complex64
    assert s["mask"].shape == (1, 1, W) and s["mask"].dtype == torch.float32
    assert s["target"].shape == RECON and s["target"].dtype == torch.float32
    assert s["foreground"].shape == RECON and s["foreground"].dtype == torch.bool
    assert (s["fname"], s["slice"], s["acquisition"]) == ("vol_1.h5", 1, "CORPDFS_FBK")
    assert s["acceleration"] == 4.0
    with h5py.File(sidecar_path(split / "vol_1.h5"), "r") as f:
        assert float(s["max"]) == pytest.approx(float(f.attrs["max"]))
        full = torch.from_numpy(f["kspace"][1])
        np.testing.assert_array_equal(s["target"].numpy(), f["target"][1])
    # k-space is the stored k-space masked: equal on sampled columns, zero elsewhere
    sampled = s["mask"].ravel().bool()
    torch.testing.assert_close(s["kspace"][..., sampled], full[..., sampled])
    assert s["kspace"][..., ~sampled].abs().max() == 0


def test_fixed_masks_identical_across_slices_and_epochs(split):
    ds = KneeDataset(split, MaskFunc([4, 8], CENTRE_FRACTIONS), train=False)
    first = masks_of(ds)
    for v in range(len(ACQS)):
        np.testing.assert_array_equal(first[2 * v], first[2 * v + 1])  # both slices of a volume
    assert not np.array_equal(first[0], first[2])  # different volumes, different masks
    ds.set_epoch(5)
    np.testing.assert_array_equal(masks_of(ds), first)
    # a new instance (another process, another method) gets the very same masks
    np.testing.assert_array_equal(
        masks_of(KneeDataset(split, MaskFunc([4, 8], CENTRE_FRACTIONS), train=False, seed=99)), first
    )


def test_training_masks_change_with_epoch_and_are_deterministic(split):
    ds = KneeDataset(split, MaskFunc([4]), train=True, seed=1)
    e0 = masks_of(ds)
    assert len({m.tobytes() for m in e0}) == len(ds)  # a fresh mask per sample, even within a volume
    ds.set_epoch(1)
    e1 = masks_of(ds)
    assert all(not np.array_equal(a, b) for a, b in zip(e0, e1, strict=True))
    again = KneeDataset(split, MaskFunc([4]), train=True, seed=1)
    again.set_epoch(1)
    np.testing.assert_array_equal(masks_of(again), e1)
    backwards = np.stack([again[i]["mask"].numpy().ravel() for i in reversed(range(len(ds)))])
    np.testing.assert_array_equal(backwards, e1[::-1])  # independent of the reading order
    other_seed = KneeDataset(split, MaskFunc([4]), train=True, seed=2)
    other_seed.set_epoch(1)
    assert not np.array_equal(masks_of(other_seed), e1)


@pytest.mark.parametrize("af", [4, 8])
def test_acceleration_about_right_and_padding_never_sampled(split, af):
    ds = KneeDataset(split, MaskFunc([af], [0.08]), train=True, seed=3)
    np.testing.assert_array_equal(ds[0]["mask"].numpy().ravel(), ds.sample_mask(0)[0])  # what items use
    masks = []
    for epoch in range(50):
        ds.set_epoch(epoch)
        masks += [ds.sample_mask(i)[0] for i in range(len(ds))]
    masks = np.stack(masks).astype(np.float32)  # (300, W)
    assert masks[:, : PADDING[0]].max() == 0 and masks[:, PADDING[1] :].max() == 0
    effective = W / masks.sum(1).mean()
    # the padding columns are excluded from sampling, so the effective AF is a little higher than nominal
    assert af <= effective < af * W / (PADDING[1] - PADDING[0]) * 1.1
    centre = W // 2
    assert masks[:, centre].all()  # the fully sampled centre block (DC line) is always kept


def test_filters_and_limit(split):
    fs = KneeDataset(split, MaskFunc([4]), train=False, acquisitions=["CORPDFS_FBK"])
    assert len(fs) == SLICES and {fs[i]["acquisition"] for i in range(len(fs))} == {"CORPDFS_FBK"}
    pd = KneeDataset(split, MaskFunc([4]), train=False, acquisitions=("CORPD_FBK",), limit_volumes=1)
    assert [pd[i]["fname"] for i in range(len(pd))] == ["vol_0.h5"] * SLICES
    with pytest.raises(ValueError, match="limit_volumes"):
        KneeDataset(split, MaskFunc([4]), train=False, limit_volumes=-1)
    with pytest.raises(FileNotFoundError):
        KneeDataset(split / "missing", MaskFunc([4]), train=False)


def test_unprepared_or_incomplete_volumes_are_reported(split, tmp_path):
    folder = tmp_path / "split"
    folder.mkdir()
    raw = split / "vol_0.h5"
    (folder / raw.name).write_bytes(raw.read_bytes())
    sidecar_path(folder / raw.name).parent.mkdir()
    sidecar_path(folder / raw.name).write_bytes(sidecar_path(raw).read_bytes())
    assert len(KneeDataset(folder, MaskFunc([4]), train=False)) == SLICES
    write_raw_volume(folder / "vol_9.h5", seed=29)  # a raw file without a sidecar
    with pytest.raises(DatasetNotPreparedError, match="vol_9.h5"):
        KneeDataset(folder, MaskFunc([4]), train=False)
    (folder / "vol_9.h5").unlink()
    with h5py.File(sidecar_path(folder / "vol_0.h5"), "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(DataFormatError, match="complete"):
        KneeDataset(folder, MaskFunc([4]), train=False)


def test_default_collate_batches(split):
    ds = KneeDataset(split, MaskFunc([4]), train=False)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    h = H // 2
    assert batch["kspace"].shape == (3, COILS, h, W) and batch["kspace"].dtype == torch.complex64
    assert batch["maps"].shape == (3, COILS, h, W) and batch["mask"].shape == (3, 1, 1, W)
    assert batch["target"].shape == (3, *RECON) and batch["foreground"].dtype == torch.bool
    assert batch["max"].shape == (3,) and batch["max"].is_floating_point()
    assert batch["fname"] == ["vol_0.h5", "vol_0.h5", "vol_1.h5"] and batch["slice"].tolist() == [0, 1, 0]


def test_workers_give_the_same_batches(split):
    def batches(num_workers: int) -> list[dict]:
        ds = KneeDataset(split, MaskFunc([4, 8], CENTRE_FRACTIONS), train=True, seed=7)
        ds.set_epoch(2)
        loader = DataLoader(ds, batch_size=2, shuffle=False, num_workers=num_workers)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == len(ACQS) * SLICES // 2
    for a, b in zip(serial, parallel, strict=True):
        for key in ("kspace", "maps", "mask", "target", "foreground", "max", "acceleration"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
        assert a["fname"] == b["fname"]


def test_too_few_centre_lines_is_a_clear_error(split):
    """Maps come only from the lines a mask acquires; when those are too few, the sample is refused
    naming the file, the AF and the line count -- never served with maps from unacquired lines."""
    ds = KneeDataset(split, MaskFunc([8]), train=False)
    with pytest.raises(DataFormatError, match=r"vol_0\.h5: AF 8: 3 acquired centre lines .* too few"):
        ds[0]


def test_maps_are_the_ones_calibrated_on_the_acquired_lines(split):
    with h5py.File(sidecar_path(split / "vol_0.h5"), "r") as f:
        acs, full = f["maps_cf0.08"][0], f["maps_full"][0]
    sample = KneeDataset(split, MaskFunc([4]), train=False)[0]
    assert np.array_equal(sample["maps"].numpy(), acs) and not np.array_equal(acs, full)
