"""VIF, GMSD, HaarPSI and HFEN against independent oracles written from their authors' definitions.

Oracles: torchmetrics' VIF-P; GMSD and HaarPSI re-derived here in plain NumPy/SciPy from the
published algorithms (MATLAB's ``conv2(..., 'same')`` written as SciPy's full convolution sliced at
MATLAB's offset); HFEN with MATLAB's ``fspecial('log', 15, 1.5)`` built from its documented formula.
"""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import convolve2d
from torchmetrics.functional.image import visual_information_fidelity

from recon_lib.metrics.perceptual import gmsd, haarpsi, hfen, log_kernel, vif
from recon_lib.metrics.quality import high_frequency_energy_ratio, nmse, psnr, ssim_volume

METRICS = {"vif": vif, "gmsd": gmsd, "haarpsi": haarpsi, "hfen": hfen}
IDENTICAL = {"vif": 1.0, "gmsd": 0.0, "haarpsi": 1.0, "hfen": 0.0}
HIGHER_IS_BETTER = {"vif": True, "gmsd": False, "haarpsi": True, "hfen": False}


def knee_like(slices: int = 3, n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured magnitude volume with a noisy dark background, and its elliptic foreground."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    fg = (xx / 0.7) ** 2 + (yy / 0.8) ** 2 < 1
    vol = []
    for s in range(slices):
        texture = gaussian_filter(rng.standard_normal((n, n)), 1.2)
        edges = (np.cos(9 * xx + s) > 0.3) * 0.4
        vol.append(np.abs(fg * (1.0 + edges + 0.4 * texture) + 0.03 * rng.standard_normal((n, n))))
    return np.stack(vol), np.broadcast_to(fg, (slices, n, n)).copy()


# ---- oracles -------------------------------------------------------------------------------------
def matlab_same(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB conv2(x, k, 'same'): the full convolution from row/column ceil((k - 1) / 2)."""
    full = convolve2d(x, k, mode="full")
    r, c = math.ceil((k.shape[0] - 1) / 2), math.ceil((k.shape[1] - 1) / 2)
    return full[r : r + x.shape[0], c : c + x.shape[1]]


def oracle_gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    """GMSD.m (Xue et al. 2014) for one 8-bit-range image."""
    box = np.ones((2, 2)) / 4
    y1, y2 = matlab_same(ref, box)[::2, ::2], matlab_same(dist, box)[::2, ::2]
    dx = np.array([[1, 0, -1]] * 3) / 3

    def gm(y):
        return np.sqrt(matlab_same(y, dx) ** 2 + matlab_same(y, dx.T) ** 2)

    g1, g2 = gm(y1), gm(y2)
    q = (2 * g1 * g2 + 170) / (g1**2 + g2**2 + 170)
    return float(np.std(q, ddof=1))


def oracle_haarpsi(ref: np.ndarray, dist: np.ndarray) -> float:
    """HaarPSI (Reisenhofer et al. 2018), grayscale, with the 2x sub-sampling, for one 8-bit-range image."""
    C, alpha = 30.0, 4.2
    box = np.ones((2, 2)) / 4
    ref, dist = matlab_same(ref, box)[::2, ::2], matlab_same(dist, box)[::2, ::2]

    def coefficients(img):
        out = []
        for orientation in (0, 1):
            for j in (1, 2, 3):
                f = 2.0**-j * np.ones((2**j, 2**j))
                f[: 2 ** (j - 1), :] *= -1
                out.append(matlab_same(img, f if orientation == 0 else f.T))
        return out  # [vertical 1, 2, 3, horizontal 1, 2, 3]

    cr, cd = coefficients(ref), coefficients(dist)
    num = den = 0.0
    for o in (0, 1):
        w = np.maximum(np.abs(cr[3 * o + 2]), np.abs(cd[3 * o + 2]))
        sims = [
            (2 * np.abs(cr[3 * o + j]) * np.abs(cd[3 * o + j]) + C) / (cr[3 * o + j] ** 2 + cd[3 * o + j] ** 2 + C)
            for j in (0, 1)
        ]
        local = (sims[0] + sims[1]) / 2
        num += np.sum(w / (1 + np.exp(-alpha * local)))
        den += np.sum(w)
    pooled = num / den
    return float((np.log(pooled / (1 - pooled)) / alpha) ** 2)


def oracle_fspecial_log(size: int = 15, sigma: float = 1.5) -> np.ndarray:
    """fspecial('log', size, sigma) from its documented formula."""
    half = (size - 1) / 2
    x, y = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1))
    h = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    h[h < np.finfo(float).eps * h.max()] = 0
    h /= h.sum()
    h1 = h * (x**2 + y**2 - 2 * sigma**2) / sigma**4
    return h1 - h1.sum() / size**2


def to8(gt, pred):
    s = 255 / gt.max()
    return gt * s, pred * s


# ---- agreement with the oracles --------------------------------------------------------------------
@pytest.mark.parametrize("noise", [0.02, 0.1])
def test_vif_matches_torchmetrics_per_slice(noise):
    gt, _ = knee_like()
    pred = np.abs(gt + noise * np.random.default_rng(1).standard_normal(gt.shape))
    g8, p8 = to8(gt, pred)
    expected = visual_information_fidelity(
        torch.from_numpy(p8)[:, None], torch.from_numpy(g8)[:, None], reduction="none"
    ).numpy()
    assert vif(gt, pred) == pytest.approx(float(expected.mean()), rel=1e-9)
    # the data range is the volume's maximum; another L rescales the visual noise
    assert vif(gt, pred, data_range=2 * gt.max()) != pytest.approx(vif(gt, pred), rel=1e-3)


def test_gmsd_and_haarpsi_match_the_published_algorithms():
    gt, _ = knee_like()
    rng = np.random.default_rng(2)
    for pred in (
        np.abs(gt + 0.05 * rng.standard_normal(gt.shape)),
        np.stack([gaussian_filter(s, 1.3) for s in gt]),
        0.8 * gt,
    ):
        g8, p8 = to8(gt, pred)
        pairs = list(zip(g8, p8, strict=True))
        assert gmsd(gt, pred) == pytest.approx(np.mean([oracle_gmsd(a, b) for a, b in pairs]), rel=1e-10)
        assert haarpsi(gt, pred) == pytest.approx(np.mean([oracle_haarpsi(a, b) for a, b in pairs]), rel=1e-10)


def test_hfen_matches_fspecial_log_definition():
    assert log_kernel().numpy() == pytest.approx(oracle_fspecial_log(), abs=1e-15)
    assert abs(float(log_kernel().sum())) < 1e-14
    gt, fg = knee_like()
    pred = np.stack([gaussian_filter(s, 1.0) for s in gt])
    err = np.stack([convolve2d(p - g, oracle_fspecial_log(), mode="same") for g, p in zip(gt, pred, strict=True)])
    ref = np.stack([convolve2d(g, oracle_fspecial_log(), mode="same") for g in gt])
    assert hfen(gt, pred) == pytest.approx(np.linalg.norm(err) / np.linalg.norm(ref), rel=1e-10)
    assert hfen(gt, pred, mask=fg) == pytest.approx(np.linalg.norm(err[fg]) / np.linalg.norm(ref[fg]), rel=1e-10)
    # a ratio of norms: the same for any common scale of both volumes
    assert hfen(3 * gt, 3 * pred) == pytest.approx(hfen(gt, pred), rel=1e-12)


# ---- published properties ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(METRICS))
def test_identity_and_ordering_by_distortion_strength(name):
    f, up = METRICS[name], HIGHER_IS_BETTER[name]
    gt, fg = knee_like()
    rng = np.random.default_rng(3)
    for mask in (None, fg):
        assert f(gt, gt, mask=mask) == pytest.approx(IDENTICAL[name], abs=1e-9)
        for distort in (
            lambda s: np.abs(gt + s * rng.standard_normal(gt.shape)),
            lambda s: np.stack([gaussian_filter(x, 1 + 10 * s) for x in gt]),
        ):
            mild, strong = f(gt, distort(0.03), mask=mask), f(gt, distort(0.15), mask=mask)
            if up:
                assert IDENTICAL[name] > mild > strong
            else:
                assert IDENTICAL[name] < mild < strong
    # numpy and torch, 2-D and 3-D, give one value
    pred = np.abs(gt + 0.05)
    assert f(torch.from_numpy(gt), torch.from_numpy(pred)) == pytest.approx(f(gt, pred), rel=1e-12)
    assert f(gt[0], pred[0]) == pytest.approx(f(gt[:1], pred[:1]), rel=1e-12)


@pytest.mark.parametrize("name", list(METRICS))
def test_mask_ignores_everything_far_outside_the_foreground(name):
    """Each index's footprint (VIF's four scales reach ~20 pixels) is covered by a 24-pixel margin."""
    f = METRICS[name]
    gt, _ = knee_like(n=128)
    yy, xx = np.mgrid[:128, :128]
    r = np.hypot(yy - 64, xx - 64)
    centre = np.broadcast_to(r < 24, gt.shape)
    pred = gt + (r > 48) * np.random.default_rng(4).standard_normal(gt.shape)
    assert f(gt, pred, mask=centre) == pytest.approx(IDENTICAL[name], abs=1e-9)
    assert abs(f(gt, pred) - IDENTICAL[name]) > 1e-2


def test_haarpsi_lies_in_the_unit_interval_and_gmsd_is_a_deviation():
    gt, _ = knee_like()
    noisy = np.abs(gt + 0.5 * np.random.default_rng(5).standard_normal(gt.shape))
    assert 0 < haarpsi(gt, noisy) < 1
    # a uniform contrast change leaves gradient ratios constant: a smaller deviation than noise of equal MSE
    scaled = 0.9 * gt
    sigma = math.sqrt(np.mean((scaled - gt) ** 2))
    noise = gt + sigma * np.random.default_rng(6).standard_normal(gt.shape)
    assert gmsd(gt, scaled) < gmsd(gt, noise)


def test_the_texture_measure_and_perceptual_indices_disagree_on_noise():
    """Why the suite needs these indices: noise raises the HF-energy ratio as texture would (towards or past 1),
    while VIF and HaarPSI fall."""
    gt, fg = knee_like()
    blurred = np.stack([gaussian_filter(s, 1.5) for s in gt])
    noisy = np.abs(blurred + 0.15 * np.random.default_rng(7).standard_normal(gt.shape))
    assert high_frequency_energy_ratio(gt, noisy, mask=fg) > high_frequency_energy_ratio(gt, blurred, mask=fg)
    assert vif(gt, noisy, mask=fg) < vif(gt, blurred, mask=fg)
    assert haarpsi(gt, noisy, mask=fg) < haarpsi(gt, blurred, mask=fg)


# ---- bad input -------------------------------------------------------------------------------------
EVERY_METRIC = {**METRICS, "nmse": nmse, "psnr": psnr, "ssim_volume": ssim_volume, "hf": high_frequency_energy_ratio}


@pytest.mark.parametrize("name", list(EVERY_METRIC))
def test_bad_input_is_one_clear_error_naming_the_argument(name):
    f = EVERY_METRIC[name]
    gt, fg = knee_like(slices=2, n=64)
    pred = gt + 0.1
    nan = pred.copy()
    nan[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match="gt of shape .* and pred of shape .* must match"):
        f(gt, pred[:, :, :-1])
    with pytest.raises(ValueError, match="mask of shape"):
        f(gt, pred, mask=fg[:, :5])
    with pytest.raises(ValueError, match="pred holds 1 NaN or infinite"):
        f(gt, nan)
    with pytest.raises(ValueError, match="gt holds 1 NaN or infinite"):
        f(np.where(np.isnan(nan), np.inf, gt), pred)
    with pytest.raises(TypeError):
        f(gt, pred, fg)  # options are keyword-only
    if name not in ("nmse", "hf"):
        with pytest.raises(ValueError, match="data_range must be positive"):
            f(gt, pred, data_range=0.0)


def test_vif_needs_41_pixels():
    with pytest.raises(ValueError, match="at least 41"):
        vif(np.ones((1, 40, 64)), np.ones((1, 40, 64)))
