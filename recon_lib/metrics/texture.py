"""Texture statistics against the noise-free truth, and a noise control matched in high-frequency energy.

Every statistic here is a ratio ``statistic(pred) / statistic(truth)`` inside the foreground, so
1 means the truth's texture, below 1 smoother (blurred), above 1 more fine detail than the truth
(restored texture, but also noise or artefacts). Each is computed slice by slice on the whole
slice (filters and Fourier transforms never cross slices) and summed over the foreground pixels of
the volume, so the edge of the foreground mask itself adds nothing:

* :func:`band_energy_ratios`: the energy of radial k-space bands (:data:`RADIAL_BANDS`, in
  normalised radius, 1 = the Nyquist frequency along an axis). The bands start above the
  calibration region of fastMRI's own geometry (the fully sampled centre covers radius 0.08 at AF 4 and
  0.04 at AF 8 there; 0.16 / 0.08 in the teaching geometry, whose first band starts inside the AF 4
  centre), where a reconstruction has to restore what the mask left out. The last band runs to the corners.
* :func:`local_std_ratio`: the mean local standard deviation (a ``window`` x ``window`` box).
* :func:`log_energy_ratio`: the energy of the Laplacian of Gaussian (scale ``sigma`` pixels), a
  blob and edge detector at the scale of fine texture.
* the HF-energy ratio of :func:`recon_lib.metrics.quality.high_frequency_energy_ratio` (radius above
  0.25), kept as it was, measured against the truth.

:func:`texture_ratios` gives all of them for one volume, inside the foreground.
:func:`region_texture_ratios` gives the two local ones (local standard deviation and LoG energy)
inside a tissue region instead, e.g. the PD bone marrow of the simulator's tissue labels
(``recon_lib.evaluation.perception`` reads them): only the pixels whose ``window`` x ``window``
box lies wholly inside the region count (:func:`interior`), so the region's own edges (marrow
against cortical bone) do not pass for texture.

None of these can tell texture from noise: white noise raises every one of them. The noise control
:func:`add_matched_noise` adds white Gaussian noise to a base reconstruction (the SN) until its
HF energy inside the foreground equals a target's (the SN-GAN's), so a method's ratios can be read
beside those of noise of the same high-frequency energy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from recon_lib.metrics.inputs import ArrayLike, as_mask, as_pair, as_volume
from recon_lib.metrics.quality import high_frequency_energy_ratio
from recon_lib.physics.fft import fft2c, ifft2c

__all__ = [
    "RADIAL_BANDS",
    "HF_CUTOFF",
    "band_label",
    "band_energy",
    "band_energy_ratios",
    "local_std_ratio",
    "log_energy_ratio",
    "texture_ratios",
    "REGION_MARGIN",
    "interior",
    "region_texture_ratios",
    "add_matched_noise",
    "high_pass",
    "WHITE_PERCENTILE",
    "visible_change",
]

#: radial k-space bands ``(low, high)`` in normalised radius (1 = Nyquist along an axis), above the calibration region
RADIAL_BANDS: tuple[tuple[float, float], ...] = ((0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, math.inf))
#: the cutoff of the HF-energy ratio (:func:`recon_lib.metrics.quality.high_frequency_energy_ratio`'s default)
HF_CUTOFF = 0.25
#: the white level of a display: this percentile of the reference (the explorers' grey scale)
WHITE_PERCENTILE = 99.5
#: pixels cut from a region's edge by :func:`interior`: half the side of :func:`local_std_ratio`'s 5 x 5 box
REGION_MARGIN = 2


def band_label(band: tuple[float, float]) -> str:
    """A band's name in result keys.

    Example:
        >>> band_label((0.1, 0.25)), band_label((0.75, math.inf))
        ('band_0.10-0.25', 'band_0.75+')
    """
    low, high = band
    return f"band_{low:.2f}+" if math.isinf(high) else f"band_{low:.2f}-{high:.2f}"


def _check_band(band: tuple[float, float]) -> tuple[float, float]:
    low, high = float(band[0]), float(band[1])
    if not (math.isfinite(low) and low >= 0 and high > low):
        raise ValueError(f"a band must be (low, high) with 0 <= low < high, got {band!r}")
    return low, high


def _band_pass(vol: np.ndarray, band: tuple[float, float]) -> torch.Tensor:
    """The part of each slice's k-space with normalised radius in ``(low, high]``, back in the image domain."""
    low, high = _check_band(band)
    _, H, W = vol.shape
    ky = (torch.arange(H, dtype=torch.float64) - H // 2) / (H / 2)
    kx = (torch.arange(W, dtype=torch.float64) - W // 2) / (W / 2)
    radius = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)  # (H, W)
    keep = ((radius > low) & (radius <= high)).to(torch.complex128)
    k = fft2c(torch.from_numpy(vol).to(torch.complex128))  # (S, H, W)
    return ifft2c(k * keep)  # (S, H, W) complex (real up to the unpaired Nyquist row and column)


def high_pass(volume: ArrayLike, cutoff: float = HF_CUTOFF) -> np.ndarray:
    """The part of each slice above the normalised k-space radius ``cutoff`` (the HF-energy ratio's
    band), back in the image domain: its real part, ``(S, H, W)`` or ``(H, W)`` as given.

    Example:
        >>> flat = np.ones((16, 16))
        >>> float(np.abs(high_pass(flat)).max()) < 1e-12  # a constant has no high frequencies
        True
    """
    v = as_volume("volume", volume)
    out = _band_pass(v, (float(cutoff), math.inf)).real.numpy()
    return out[0] if np.ndim(volume) == 2 else out


def _weights(m: np.ndarray | None, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.float64) if m is None else torch.from_numpy(m.astype(np.float64))


def band_energy(
    volume: ArrayLike, *, mask: ArrayLike | None = None, band: tuple[float, float] = (HF_CUTOFF, math.inf)
) -> float:
    """``sum |bandpass(volume)|^2`` over the foreground: the energy of one radial k-space band.

    With the default band this is the energy whose ratio is the HF-energy ratio.
    """
    v = as_volume("volume", volume)
    weights = _weights(as_mask(mask, v.shape), v.shape)
    return float((_band_pass(v, band).abs() ** 2 * weights).sum())


def _ratio(value: float, reference: float, what: str) -> float:
    if reference == 0:
        raise ValueError(f"the truth has no {what} inside the mask: the ratio is undefined")
    return value / reference


def band_energy_ratios(
    truth: ArrayLike,
    pred: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    bands: tuple[tuple[float, float], ...] = RADIAL_BANDS,
) -> dict[str, float]:
    """The energy of each radial band of ``pred`` over the truth's, inside the foreground.

    Returns:
        ``{band_label(band): ratio}`` in the order of ``bands``.
    """
    t, p = as_pair(truth, pred)
    m = as_mask(mask, t.shape)
    weights = _weights(m, t.shape)
    out = {}
    for band in bands:
        e_pred = float((_band_pass(p, band).abs() ** 2 * weights).sum())
        e_truth = float((_band_pass(t, band).abs() ** 2 * weights).sum())
        out[band_label(band)] = _ratio(e_pred, e_truth, f"energy in {band_label(band)}")
    return out


def _local_std(vol: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation over a ``window`` x ``window`` box around each pixel, slice by slice."""
    size = (1, window, window)
    mean = ndimage.uniform_filter(vol, size=size, mode="reflect")
    mean_sq = ndimage.uniform_filter(vol**2, size=size, mode="reflect")
    return np.sqrt(np.maximum(mean_sq - mean**2, 0.0))


def local_std_ratio(truth: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, window: int = 5) -> float:
    """Mean local standard deviation (``window`` x ``window`` box) of ``pred`` over the truth's, in the foreground."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an integer of at least 2, got {window!r}")
    t, p = as_pair(truth, pred)
    m = as_mask(mask, t.shape)
    sel = np.ones(t.shape, dtype=bool) if m is None else m
    return _ratio(float(_local_std(p, window)[sel].mean()), float(_local_std(t, window)[sel].mean()), "local spread")


def _log(vol: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian of each slice (a 3-D call would add the second difference across slices)."""
    return np.stack([ndimage.gaussian_laplace(image, sigma, mode="reflect") for image in vol])


def log_energy_ratio(truth: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, sigma: float = 1.0) -> float:
    """Energy of the Laplacian of Gaussian (scale ``sigma`` pixels) of ``pred`` over the truth's, in the foreground."""
    if not (math.isfinite(float(sigma)) and float(sigma) > 0):
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    t, p = as_pair(truth, pred)
    m = as_mask(mask, t.shape)
    sel = np.ones(t.shape, dtype=bool) if m is None else m
    e_pred = float((_log(p, float(sigma))[sel] ** 2).sum())
    e_truth = float((_log(t, float(sigma))[sel] ** 2).sum())
    return _ratio(e_pred, e_truth, "Laplacian-of-Gaussian energy")


def texture_ratios(truth: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None) -> dict[str, float]:
    """Every texture statistic of one volume against the truth (1 = the truth's texture).

    Keys: one per :data:`RADIAL_BANDS` (:func:`band_label`), ``local_std``, ``log_energy`` and
    ``hf_energy`` (the HF-energy ratio against the truth).

    Example:
        >>> x = np.random.default_rng(0).random((2, 32, 32))
        >>> sorted(set(texture_ratios(x, x).values()))
        [1.0]
    """
    t, p = as_pair(truth, pred)
    return {
        **band_energy_ratios(t, p, mask=mask),
        "local_std": local_std_ratio(t, p, mask=mask),
        "log_energy": log_energy_ratio(t, p, mask=mask),
        "hf_energy": high_frequency_energy_ratio(t, p, mask=mask, cutoff=HF_CUTOFF),
    }


def interior(mask: ArrayLike, margin: int = REGION_MARGIN) -> np.ndarray:
    """The pixels of ``mask`` whose ``(2 margin + 1)`` square box lies wholly inside it, slice by slice.

    Pixels within ``margin`` of the image border count as outside. ``margin`` 0 returns the mask.

    Returns:
        A bool array of ``mask``'s shape (``(S, H, W)`` or ``(H, W)``).

    Example:
        >>> square = np.zeros((9, 9), bool)
        >>> square[1:8, 1:8] = True  # 7 x 7
        >>> int(interior(square).sum())  # 3 x 3: the centres whose 5 x 5 box fits
        9
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"margin must be a non-negative integer, got {margin!r}")
    m = np.asarray(mask).astype(bool)
    if m.ndim not in (2, 3):
        raise ValueError(f"mask must be (H, W) or (S, H, W), got shape {m.shape}")
    if margin == 0:
        return m.copy()
    vol = m[None] if m.ndim == 2 else m
    box = np.ones((1, 2 * int(margin) + 1, 2 * int(margin) + 1), bool)  # one slice deep: never across slices
    out = ndimage.binary_erosion(vol, structure=box, border_value=0)
    return out[0] if m.ndim == 2 else out


def region_texture_ratios(
    truth: ArrayLike, pred: ArrayLike, region: ArrayLike, *, margin: int = REGION_MARGIN
) -> dict[str, float]:
    """Local standard deviation and Laplacian-of-Gaussian energy of ``pred`` over the truth's inside a
    tissue region (:func:`interior` of ``region``, so the statistics measure the tissue's texture,
    not its edges). Filters run on the whole slice, as in :func:`texture_ratios`.

    Returns:
        ``{"local_std": ..., "log_energy": ...}`` (1 = the truth's texture).

    Raises:
        ValueError: the interior of ``region`` is empty, or the truth has no texture inside it.
    """
    t, p = as_pair(truth, pred)
    region_mask = as_mask(region, t.shape)
    if region_mask is None:
        raise TypeError("region must be a mask, got None")
    inside = interior(region_mask, margin)
    if not inside.any():
        raise ValueError(f"the region has no pixel {margin} or more pixels inside its edge")
    return {"local_std": local_std_ratio(t, p, mask=inside), "log_energy": log_energy_ratio(t, p, mask=inside)}


def add_matched_noise(
    base: ArrayLike, target: ArrayLike, *, mask: ArrayLike | None = None, seed: int = 0, cutoff: float = HF_CUTOFF
) -> np.ndarray:
    """``base`` plus white Gaussian noise whose HF energy makes it equal to ``target``'s, inside the foreground.

    One draw ``n`` of unit white noise (seeded) is scaled by the ``s >= 0`` that solves
    ``E(base + s n) = E(target)`` exactly, ``E`` the energy above the normalised radius ``cutoff``
    summed over the foreground (:func:`band_energy`; the HF-energy ratio's measure). ``E`` is a
    quadratic in ``s``. When ``base`` already holds at least the target's energy, no noise is added.

    Returns:
        A float64 volume of ``base``'s shape (``(S, H, W)``).
    """
    b, t = as_pair(base, target)
    weights = _weights(as_mask(mask, b.shape), b.shape)
    band = (float(cutoff), math.inf)
    noise = np.random.default_rng(seed).standard_normal(b.shape)
    hb, hn = _band_pass(b, band), _band_pass(noise, band)
    goal = float((_band_pass(t, band).abs() ** 2 * weights).sum())
    a = float((hb.abs() ** 2 * weights).sum())
    half_b = float(((hb.conj() * hn).real * weights).sum())
    c = float((hn.abs() ** 2 * weights).sum())
    if goal <= a:
        return b.copy()
    scale = (-half_b + math.sqrt(half_b**2 + c * (goal - a))) / c  # the positive root of c s^2 + 2 half_b s + a = goal
    return b + scale * noise


def visible_change(
    base: ArrayLike, pred: ArrayLike, reference: ArrayLike, *, mask: ArrayLike | None = None, cutoff: float = HF_CUTOFF
) -> float:
    """How visible the fine detail that ``pred`` changes from ``base`` is: the RMS of the high-pass part
    (:func:`high_pass`, radius above ``cutoff``) of ``pred - base`` inside the foreground, as a fraction
    of the white level (the :data:`WHITE_PERCENTILE` th percentile of the whole ``reference``, as
    :func:`recon_lib.teaching.explorer.display.white_level` sets the explorers' grey scale).
    Issue 28's visible change: SN-GAN against SN, 0.03 = 3 % of white.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = np.full((1, 32, 32), 100.0)
        >>> visible_change(ref, ref, ref)
        0.0
        >>> round(visible_change(ref, ref + rng.standard_normal((1, 32, 32)), ref), 2)  # white noise: ~ sqrt(1 - pi/16)
        0.01
    """
    b, p = as_pair(base, pred)
    r = as_volume("reference", reference)
    if r.shape != b.shape:
        raise ValueError(f"reference {r.shape} must have base's shape {b.shape}")
    inside = as_mask(mask, b.shape)
    inside = np.ones(b.shape, dtype=bool) if inside is None else inside.astype(bool)
    white = float(np.percentile(r, WHITE_PERCENTILE))
    if not (math.isfinite(white) and white > 0):
        raise ValueError(f"the reference's white level is {white}: no grey scale to measure against")
    change = high_pass(p - b, cutoff)
    return float(np.sqrt(np.mean(change[inside] ** 2)) / white)
