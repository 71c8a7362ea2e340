"""The SENSE g-factor against known cases: 1 when fully sampled, the textbook formula for equispaced
undersampling, the pseudo-replica estimate, and a real knee's maps at AF 8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_lib.physics.gfactor import gfactor_map, mask_projector, pseudo_replica_gfactor


def _maps(coils: int = 6, h: int = 8, w: int = 24, seed: int = 0) -> torch.Tensor:
    """Smooth random complex maps, normalised to sum_c |S_c|^2 = 1 (a well-posed small problem)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    maps = []
    for _ in range(coils):
        a, b, c, d = torch.randn(4, generator=g, dtype=torch.float64)
        maps.append(torch.exp(-((xx - 0.8 * a) ** 2 + (yy - 0.8 * b) ** 2)) * torch.exp(1j * (c * xx + d * yy)))
    s = torch.stack(maps)
    return s / s.abs().pow(2).sum(0).sqrt()


def test_fully_sampled_the_g_factor_is_one():
    g = gfactor_map(_maps(), torch.ones(24))
    np.testing.assert_allclose(g, 1.0, atol=1e-10)


@pytest.mark.parametrize("r", [2, 3, 4])
def test_equispaced_undersampling_gives_the_textbook_sense_g_factor(r):
    """Regular sampling aliases each pixel onto R others W/R apart: g = sqrt([(S^H S)^-1]_00 (S^H S)_00)."""
    maps = _maps(coils=6, h=4, w=24, seed=r)
    mask = torch.zeros(24)
    mask[::r] = 1
    g = gfactor_map(maps, mask)
    s = maps.numpy().astype(np.complex128)
    for row in range(4):
        for col in range(24):
            group = [(col + k * 24 // r) % 24 for k in range(r)]
            gram = s[:, row, group].conj().T @ s[:, row, group]
            expected = np.sqrt(np.linalg.inv(gram)[0, 0].real * gram[0, 0].real)
            assert g[row, col] == pytest.approx(expected, rel=1e-8)
    assert np.nanmin(g) >= 1 - 1e-9, "g >= 1: coils cannot beat the fully sampled SNR"


def test_pseudo_replicas_converge_to_the_analytic_map():
    maps = _maps(coils=6, h=6, w=24, seed=5)
    mask = torch.zeros(24)
    mask[::3] = 1
    mask[10:14] = 1
    analytic = gfactor_map(maps, mask)
    replicas = pseudo_replica_gfactor(maps, mask, replicas=400, seed=0)
    assert np.nanmedian(np.abs(replicas / analytic - 1)) < 0.05
    assert np.array_equal(
        pseudo_replica_gfactor(maps, mask, replicas=20, seed=1), pseudo_replica_gfactor(maps, mask, replicas=20, seed=1)
    )


def test_pixels_no_coil_sees_are_nan_and_bad_input_is_named():
    maps = _maps()
    maps[:, :, :3] = 0
    g = gfactor_map(maps, torch.ones(24))
    assert np.isnan(g[:, :3]).all() and np.isfinite(g[:, 3:]).all()
    with pytest.raises(ValueError, match="the mask has 20 columns, the maps 24"):
        gfactor_map(maps, torch.ones(20))
    with pytest.raises(ValueError, match="complex coil maps"):
        gfactor_map(maps.abs(), torch.ones(24))
    with pytest.raises(ValueError, match="at least one sampled column"):
        gfactor_map(maps, torch.zeros(24))
    assert torch.allclose(mask_projector(torch.ones(6)), torch.eye(6, dtype=torch.complex128))


def test_a_knee_at_af_8_amplifies_noise_more_than_at_af_4():
    from recon_lib.teaching.notebook import load_slice

    maps = {af: load_slice(acceleration=af)["maps"][0] for af in (4, 8)}
    masks = {af: load_slice(acceleration=af)["mask"].flatten() for af in (4, 8)}
    g = {af: gfactor_map(maps[af], masks[af]) for af in (4, 8)}
    assert np.nanmin(g[4]) > 0.999 and np.nanmedian(g[8]) > np.nanmedian(g[4]) > 1.0


def test_cg_sense_run_long_approaches_the_exact_inverse_and_stopped_early_amplifies_less():
    """The pseudo-replica g of CG-SENSE: near the analytic map once CG has converged (equispaced, a
    well-posed problem), well below it after two iterations (the early stop smooths the noise)."""
    from recon_lib.physics.gfactor import cg_sense_gfactor

    maps = _maps(seed=3).to(torch.complex64)
    mask = torch.zeros(24)
    mask[::2] = 1
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(8, 24, generator=generator, dtype=torch.float64).to(torch.complex64)
    kspace = torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(maps * image, dim=(-2, -1)), norm="ortho"), dim=(-2, -1)
    )
    args = (kspace[None] * mask, maps[None], mask.reshape(1, 1, 1, 24))
    exact = gfactor_map(maps, mask)
    converged = cg_sense_gfactor(*args, num_iters=60, replicas=200)
    assert abs(float(np.nanmedian(converged / exact)) - 1) < 0.1
    early = cg_sense_gfactor(*args, num_iters=2, replicas=200)
    assert np.nanmedian(early) < np.nanmedian(converged)
    with pytest.raises(ValueError, match="one slice"):
        cg_sense_gfactor(kspace, maps, mask, num_iters=2)
