"""ESPIRiT coil maps: agreement with sigpy's EspiritCalib and with the phantom's true maps.

Map correlation at a pixel x (invariant to ESPIRiT's per-pixel common phase):
``corr(x) = |sum_c conj(S_est,c(x)) S_ref,c(x)| / (||S_est(x)|| ||S_ref(x)||)``, averaged over a
foreground (tissue) mask.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sigpy.mri.app import EspiritCalib

from recon_lib.espirit import ESPIRIT_DEFAULTS, espirit_maps
from recon_lib.phantom import simulate_volume
from recon_lib.prepare import remove_readout_oversampling
from recon_lib.tensors import center_crop
from test_prepare import make_raw_arrays


def map_correlation(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-pixel correlation ``(B, H, W)`` of two map sets ``(B, C, H, W)`` (0 where either is 0)."""
    num = (est.conj() * ref).sum(1).abs()
    den = est.abs().pow(2).sum(1).sqrt() * ref.abs().pow(2).sum(1).sqrt()
    return torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num))


def test_matches_sigpy_espiritcalib():
    kspace, _, _ = make_raw_arrays(seed=3, slices=1)  # (1, 8, 128, 80), readout oversampled
    k = remove_readout_oversampling(torch.from_numpy(kspace))  # (1, 8, 64, 80)
    ours = espirit_maps(k)
    ref = EspiritCalib(
        k[0].numpy(),
        calib_width=ESPIRIT_DEFAULTS["calib_width"],
        thresh=ESPIRIT_DEFAULTS["threshold"],
        kernel_width=ESPIRIT_DEFAULTS["kernel_width"],
        crop=ESPIRIT_DEFAULTS["crop"],
        show_pbar=False,
    ).run()
    ref = torch.from_numpy(np.asarray(ref))[None]
    ours_kept, ref_kept = ours.abs().sum(1) > 0, ref.abs().sum(1) > 0
    assert (ours_kept == ref_kept).float().mean() > 0.99  # same eigenvalue crop
    both = ours_kept & ref_kept
    assert map_correlation(ours, ref)[both].min() > 0.999
    # same phase convention too (coil 0 real, non-negative): the maps themselves agree
    assert (ours - ref)[both.unsqueeze(1).expand_as(ours)].abs().max() < 1e-3


def test_maps_are_normalised_and_phase_fixed():
    kspace, _, _ = make_raw_arrays(seed=4, slices=2)
    maps, eig = espirit_maps(remove_readout_oversampling(torch.from_numpy(kspace)), return_eigenvalues=True)
    norm = maps.abs().pow(2).sum(1).sqrt()  # (B, H, W)
    kept = eig > ESPIRIT_DEFAULTS["crop"]
    torch.testing.assert_close(norm[kept], torch.ones_like(norm[kept]), atol=1e-4, rtol=0)
    assert norm[~kept].max() == 0 and kept.float().mean() > 0.3
    assert maps[:, 0].imag.abs().max() < 1e-5 and maps[:, 0].real.min() >= 0


@pytest.mark.parametrize("acquisition", ["CORPD_FBK", "CORPDFS_FBK"])
def test_phantom_maps_correlate_with_the_truth(acquisition):
    """Teaching geometry (15 coils, 160 x 184 after readout crop), default SNR: the mean map
    correlation over the tissue inside the recon crop is >= 0.99."""
    vol = simulate_volume(11, acquisition, num_slices=1)
    maps = espirit_maps(remove_readout_oversampling(torch.from_numpy(vol.kspace)))
    corr = map_correlation(maps, torch.from_numpy(vol.maps))  # (1, 160, 184)
    rh, rw = vol.geometry.recon_size
    tissue = center_crop(torch.from_numpy(vol.tissue_labels != 0), (rh, rw))
    corr = center_crop(corr, (rh, rw))
    assert tissue.float().mean() > 0.3
    assert corr[tissue].mean() >= 0.99
    assert torch.quantile(corr[tissue], 0.05) > 0.95  # not just on average


def test_bad_arguments():
    k = torch.zeros(1, 4, 32, 32, dtype=torch.complex64)
    with pytest.raises(TypeError, match="complex"):
        espirit_maps(k.real)
    with pytest.raises(ValueError, match="calib_width"):
        espirit_maps(k, calib_width=40)
    with pytest.raises(ValueError, match="threshold"):
        espirit_maps(k, threshold=1.5)
