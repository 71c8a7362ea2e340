"""ESPIRiT coil maps: agreement with sigpy's EspiritCalib and with the phantom's true maps.

Map correlation at a pixel x (invariant to ESPIRiT's arbitrary per-pixel common phase):
``corr(x) = |sum_c conj(S_est,c(x)) S_ref,c(x)| / (||S_est(x)|| ||S_ref(x)||)``, averaged over a
foreground (tissue) mask.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sigpy.mri.app import EspiritCalib
from test_prepare import make_raw_arrays

from recon_lib.core.tensors import center_crop
from recon_lib.data.phantom.simulate import simulate_volume
from recon_lib.physics.espirit import ESPIRIT_DEFAULTS, espirit_maps
from recon_lib.physics.fft import remove_readout_oversampling


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


@pytest.fixture(scope="module", params=["CORPD_FBK", "CORPDFS_FBK"])
def phantom_slice(request):
    """One slice of a teaching-geometry phantom (15 coils, raw 320 x 184, 160 x 184 after crop) and
    its ESPIRiT maps calibrated on the readout-cropped k-space."""
    vol = simulate_volume(11, request.param, num_slices=1)
    return vol, espirit_maps(remove_readout_oversampling(torch.from_numpy(vol.kspace)))


def _tissue_in_recon_crop(vol, corr: torch.Tensor) -> torch.Tensor:
    rh, rw = vol.geometry.recon_size
    tissue = center_crop(torch.from_numpy(vol.tissue_labels != 0), (rh, rw))
    assert tissue.float().mean() > 0.3
    return center_crop(corr, (rh, rw))[tissue]


def test_phantom_maps_correlate_with_the_truth(phantom_slice):
    """Calibrated on the readout-cropped k-space: mean map correlation over the tissue inside the
    recon crop >= 0.99 (the brief's criterion), and 95 % of the pixels above 0.95."""
    vol, maps = phantom_slice
    corr = _tissue_in_recon_crop(vol, map_correlation(maps, torch.from_numpy(vol.maps)))
    assert corr.mean() >= 0.99
    assert torch.quantile(corr, 0.05) > 0.95  # not just on average


def test_calibrating_on_oversampled_kspace_fixes_the_field_of_view_edges(phantom_slice):
    """With ``crop_readout=True`` (raw k-space, maps of the central H/2 rows) the maps match the
    truth at *every* tissue pixel; calibrated on the cropped k-space they fail near the top and
    bottom edges, where the object is cut by the field of view (a second eigenvalue near 1)."""
    vol, cropped = phantom_slice
    raw = torch.from_numpy(vol.kspace)  # (1, 15, 320, 184)
    truth = torch.from_numpy(vol.maps)  # (1, 15, 160, 184)
    maps, eig = espirit_maps(raw, crop_readout=True, return_eigenvalues=True)
    assert maps.shape == truth.shape and eig.shape == (1, 160, 184)
    good = _tissue_in_recon_crop(vol, map_correlation(maps, truth))
    assert good.mean() >= 0.9995 and good.min() >= 0.99
    edge = _tissue_in_recon_crop(vol, map_correlation(cropped, truth))
    assert edge.min() < 0.9 and (edge < 0.99).float().mean() > 0.005  # the failure crop_readout avoids


def test_crop_readout_equals_the_central_rows_of_the_full_computation():
    kspace, _, _ = make_raw_arrays(seed=5, slices=1)  # (1, 8, 128, 80) raw, readout oversampled
    k = torch.from_numpy(kspace)
    full, full_eig = espirit_maps(k, return_eigenvalues=True)
    rows, rows_eig = espirit_maps(k, crop_readout=True, return_eigenvalues=True)
    h = k.shape[-2]
    torch.testing.assert_close(rows, full[..., h // 4 : h // 4 + h // 2, :], rtol=0, atol=1e-5)
    torch.testing.assert_close(rows_eig, full_eig[..., h // 4 : h // 4 + h // 2, :], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="crop_readout"):
        espirit_maps(k[..., :-1, :], crop_readout=True)


def test_bad_arguments():
    k = torch.zeros(1, 4, 32, 32, dtype=torch.complex64)
    with pytest.raises(TypeError, match="complex"):
        espirit_maps(k.real)
    with pytest.raises(ValueError, match="calib_width"):
        espirit_maps(k, calib_width=40)
    with pytest.raises(ValueError, match="threshold"):
        espirit_maps(k, threshold=1.5)


# ---- maps calibrated on the acquired centre lines only ---------------------------------------------
def test_acquired_line_maps_use_nothing_but_the_acquired_lines():
    """Zeroing every column the AF 8 mask does not acquire (and the acquired outer lines too)
    leaves the maps bit-identical: only the centre block enters the calibration."""
    from recon_lib.physics.masks import center_lines, sample_mask

    kspace, _, _ = make_raw_arrays(seed=6, slices=1)  # (1, 8, 128, 80)
    full = torch.from_numpy(kspace)
    cols = center_lines(full.shape[-1], 0.1)  # 8 lines
    only_centre = torch.zeros_like(full)
    only_centre[..., cols] = full[..., cols]
    mask = torch.from_numpy(sample_mask(full.shape[-1], 0.1, 4, seed=3))
    assert bool(mask[cols].all())  # the mask always acquires exactly these lines
    a = espirit_maps(full, calib_columns=cols, kernel_width=3, crop_readout=True)
    b = espirit_maps(only_centre, calib_columns=cols, kernel_width=3, crop_readout=True)
    c = espirit_maps(full * mask, calib_columns=cols, kernel_width=3, crop_readout=True)
    assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("acceleration,kernel", [(4, 6), (8, 3)])
def test_acquired_line_maps_match_the_truth(phantom_slice, acceleration, kernel):
    """Teaching geometry: AF 4's 15 lines with sigpy's 6-wide kernel, AF 8's 7 lines with a 3-wide
    kernel (the largest the criterion allows) both recover the phantom's true maps."""
    from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS, center_lines

    vol, _ = phantom_slice
    raw = torch.from_numpy(vol.kspace)  # (1, 15, 320, 184)
    cols = center_lines(raw.shape[-1], DEFAULT_CENTER_FRACTIONS[acceleration])
    maps = espirit_maps(raw, calib_width=48, kernel_width=kernel, crop_readout=True, calib_columns=cols)
    corr = _tissue_in_recon_crop(vol, map_correlation(maps, torch.from_numpy(vol.maps)))
    assert corr.mean() >= 0.999 and corr.min() >= 0.98


def test_too_few_lines_for_the_kernel_is_a_clear_error():
    from recon_lib.physics.masks import center_lines

    k = torch.zeros(1, 4, 64, 184, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"7 calibration lines allow 2 position\(s\) of a 6-wide kernel"):
        espirit_maps(k, calib_columns=center_lines(184, 0.04))
    with pytest.raises(ValueError, match="contiguous slice"):
        espirit_maps(k, calib_columns=slice(80, 100, 2))
