"""SENSE coil operators: adjointness, normalisation, RSS, masking and entry checks."""

import pytest
import torch
from conftest import random_complex, smooth_maps

from recon_lib import apply_mask, normalize_maps, rss, sens_expand, sens_reduce


def test_full_sampling_with_normalised_maps_is_identity():
    maps = smooth_maps(2, 15, 64, 48)
    x = random_complex(2, 64, 48, seed=8)
    assert torch.allclose(sens_reduce(sens_expand(x, maps), maps), x, atol=1e-5)


def test_normalize_maps_gives_unit_sum_of_squares_on_support():
    maps = random_complex(1, 8, 16, 16, seed=9)
    maps[..., :4, :] = 0  # outside the support
    n = normalize_maps(maps)
    total = (n.abs() ** 2).sum(1)
    assert torch.allclose(total[..., 4:, :], torch.ones_like(total[..., 4:, :]), atol=1e-5)
    assert torch.count_nonzero(n[..., :4, :]) == 0


def test_rss_matches_definition_and_apply_mask_zeroes_columns():
    coil_images = random_complex(2, 15, 20, 22, seed=10)
    ref = torch.sqrt((coil_images.real**2 + coil_images.imag**2).sum(1))
    assert torch.allclose(rss(coil_images), ref, atol=1e-6)
    m = torch.zeros(1, 1, 1, 22)
    m[..., ::3] = 1
    k = apply_mask(coil_images, m)
    assert torch.count_nonzero(k[..., 1::3]) == 0
    assert torch.equal(k[..., ::3], coil_images[..., ::3])


def test_bad_inputs_name_the_problem():
    maps = random_complex(1, 4, 16, 16)
    x = random_complex(1, 16, 16)
    k = random_complex(1, 4, 16, 16)
    with pytest.raises(TypeError, match="x must be a complex tensor"):
        sens_expand(x.real, maps)
    with pytest.raises(ValueError, match="does not match maps"):
        sens_expand(random_complex(1, 16, 15), maps)
    with pytest.raises(ValueError, match="maps must have 4 dimensions"):
        sens_reduce(k, maps[0])
    with pytest.raises(ValueError, match="does not match maps"):
        sens_reduce(random_complex(1, 3, 16, 16), maps)
    with pytest.raises(ValueError, match="mask of shape"):
        sens_reduce(k, maps, torch.ones(1, 1, 1, 17))
    with pytest.raises(TypeError, match="mask must be a real tensor"):
        apply_mask(k, torch.ones(1, 1, 1, 16, dtype=torch.complex64))
