"""Undersampling masks: fastMRI semantics, acceleration, centre block, seeding, padding."""

import numpy as np
import pytest
import torch

from recon_lib.physics.masks import MaskFunc, mask_to_tensor, sample_mask, seed_from_name


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("af,cf", [(4, 0.08), (8, 0.04)])
@pytest.mark.parametrize("num_cols", [184, 368])
def test_effective_acceleration_within_ten_percent(kind, af, cf, num_cols):
    counts = [sample_mask(num_cols, cf, af, kind, seed=s).sum() for s in range(300)]
    effective = num_cols / np.mean(counts)
    assert abs(effective - af) / af < 0.10


@pytest.mark.parametrize("num_cols,cf", [(368, 0.08), (368, 0.04), (184, 0.08), (185, 0.04)])
def test_centre_block_has_round_n_cf_lines_around_dc(num_cols, cf):
    num_low = round(num_cols * cf)
    mask = sample_mask(num_cols, cf, 8 if cf == 0.04 else 4, seed=3)
    start = (num_cols - num_low + 1) // 2
    assert mask[start : start + num_low].all()
    assert mask[num_cols // 2]  # the DC column of a centred FFT is always sampled
    # the block is exactly num_low wide unless random lines happen to touch it: check with p = 0
    dense = sample_mask(num_cols, cf, num_cols / num_low, "random", seed=3)
    assert dense.sum() == num_low


def test_same_seed_same_mask_and_name_seeds_are_stable():
    a = sample_mask(368, 0.04, 8, seed=seed_from_name("file1000001.h5"))
    b = sample_mask(368, 0.04, 8, seed=seed_from_name("file1000001.h5"))
    c = sample_mask(368, 0.04, 8, seed=seed_from_name("file1000002.h5"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert seed_from_name("file1000001.h5") == 2151663471  # crc32: identical on every machine and run


def test_padding_columns_never_sampled():
    for s in range(50):
        mask = sample_mask(184, 0.08, 4, seed=s, padding=(4, 180))
        assert not mask[:4].any() and not mask[180:].any()
        mask, _ = MaskFunc([4, 8])(184, seed=s, padding=(4, 180))
        assert not mask[:4].any() and not mask[180:].any()


def test_mask_func_chooses_among_accelerations_with_default_fractions():
    mf = MaskFunc([4, 8])
    assert mf.center_fractions == [0.08, 0.04]
    afs = {mf(184, seed=s)[1] for s in range(40)}
    assert afs == {4, 8}
    t = mask_to_tensor(mf(184, seed=0)[0])
    assert t.shape == (1, 1, 1, 184) and t.dtype == torch.float32


def test_bad_mask_parameters():
    with pytest.raises(ValueError, match="center_fraction"):
        sample_mask(184, 1.5, 4)
    with pytest.raises(ValueError, match="acceleration"):
        sample_mask(184, 0.08, 0.5)
    with pytest.raises(ValueError, match="kind"):
        sample_mask(184, 0.08, 4, kind="poisson")
    with pytest.raises(ValueError, match="more than"):
        sample_mask(184, 0.5, 8)
    with pytest.raises(ValueError, match="padding"):
        sample_mask(184, 0.08, 4, padding=(10, 5))
    with pytest.raises(ValueError, match="no default centre fraction"):
        MaskFunc([6])
    with pytest.raises(ValueError, match="differ in length"):
        MaskFunc([4, 8], [0.08])
