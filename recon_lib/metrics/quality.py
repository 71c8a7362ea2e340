"""Per-volume image-quality metrics (fastMRI conventions).

Conventions (``fastmri/evaluate.py``), for real magnitude volumes ``gt``, ``pred`` of shape
``(slices, H, W)`` (a single ``(H, W)`` image is treated as one slice):

* ``nmse = ||gt - pred||^2 / ||gt||^2`` over the volume;
* ``psnr = 20 log10(L) - 10 log10(mean((gt - pred)^2))`` with ``L = gt.max()`` of the volume
  (scikit-image's ``peak_signal_noise_ratio(gt, pred, data_range=gt.max())``);
* ``ssim``: SSIM of each slice with the volume's ``L`` (uniform 7x7 window, see
  :mod:`recon_lib.metrics.ssim`), averaged over slices; computed in the inputs' precision as
  scikit-image does (two float32 volumes in float32, anything else in float64).

Foreground masks (the paper evaluates "only on foreground regions"): with a boolean mask
``(slices, H, W)``, NMSE and the MSE of PSNR use only the foreground pixels (``L`` stays the
volume maximum of ``gt``, fastMRI's ``max``), and each slice's SSIM map is averaged over the
foreground window centres; slices whose foreground is empty inside the valid SSIM map are left
out of the slice average.

Every metric is called as ``f(gt, pred, *, mask=None, data_range=None, ...)`` (reference first,
options keyword-only; checks in :mod:`recon_lib.metrics.inputs`). The weight-free texture measure
:func:`high_frequency_energy_ratio` quantifies "smooth vs textured" (1 = the reference's texture,
< 1 smoother, > 1 more high-frequency content: noise as much as GAN texture). The perceptual
indices validated against radiologists' scores (VIF, GMSD, HaarPSI) and HFEN are in
:mod:`recon_lib.metrics.perceptual`.

The results table that collects these per volume is :class:`recon_lib.metrics.table.MetricTable`.

References:
    J. Zbontar et al., "fastMRI: An open dataset and benchmarks for accelerated MRI",
    arXiv:1811.08839, 2018.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recon_lib.metrics.inputs import ArrayLike, as_mask, as_pair, input_precision, resolve_data_range
from recon_lib.metrics.ssim import crop_mask_to_ssim_map, ssim
from recon_lib.physics.fft import fft2c, ifft2c

__all__ = [
    "nmse",
    "psnr",
    "ssim_volume",
    "volume_metrics",
    "high_frequency_energy_ratio",
]


# ---- fastMRI metrics --------------------------------------------------------------------------
def nmse(gt: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2`` over the volume (or its foreground).

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask ``(slices, H, W)`` (nonzero = foreground).

    Returns:
        NMSE as a float (lower is better).
    """
    g, p = as_pair(gt, pred)
    return _nmse(g, p, as_mask(mask, g.shape))


def psnr(gt: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``20 log10(L) - 10 log10(MSE)``.

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        data_range: peak value ``L``; default ``gt.max()`` over the whole volume.
        mask: optional foreground mask; the MSE is then taken over foreground pixels only.

    Returns:
        PSNR as a float (``inf`` when ``pred == gt`` on the evaluated pixels).
    """
    g, p = as_pair(gt, pred)
    return _psnr(g, p, resolve_data_range(g, data_range), as_mask(mask, g.shape))


def ssim_volume(
    gt: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, data_range: float | None = None
) -> float:
    """Mean over slices of the per-slice SSIM (fastMRI: every slice uses the volume's max).

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        data_range: ``L`` of the SSIM constants; default ``gt.max()`` of the volume.
        mask: optional foreground mask; each slice's SSIM map is averaged over the foreground
            window centres (mask cropped by 3 pixels, :func:`recon_lib.metrics.ssim.crop_mask_to_ssim_map`)
            and slices without foreground there are skipped.

    Returns:
        SSIM as a float (higher is better, 1 for identical volumes).
    """
    g, p = as_pair(gt, pred)
    return _ssim_volume(g, p, resolve_data_range(g, data_range), as_mask(mask, g.shape), input_precision(gt, pred))


# The checked forms: volumes from as_pair, a mask from as_mask, L from resolve_data_range.
# volume_metrics checks its inputs once and calls these (the checks cost as much as NMSE itself).
def _nmse(g: np.ndarray, p: np.ndarray, m: np.ndarray | None) -> float:
    if m is not None:
        g, p = g[m], p[m]
    denom = float(np.sum(g**2))
    if denom == 0:
        raise ValueError("gt has zero energy (inside the mask): NMSE is undefined")
    return float(np.sum((g - p) ** 2)) / denom


def _psnr(g: np.ndarray, p: np.ndarray, L: float, m: np.ndarray | None) -> float:
    if m is not None:
        g, p = g[m], p[m]
    mse = float(np.mean((g - p) ** 2))
    if mse == 0:
        return math.inf
    return 20 * math.log10(L) - 10 * math.log10(mse)


def _ssim_volume(
    g: np.ndarray, p: np.ndarray, L: float, m: np.ndarray | None, precision: type[np.floating] = np.float64
) -> float:
    G, P = (torch.from_numpy(v.astype(precision, copy=False)) for v in (g, p))  # (S, H, W)
    if m is None:
        return float(ssim(P, G, L, reduction="mean"))
    M = torch.from_numpy(m)
    keep = crop_mask_to_ssim_map(M).flatten(1).any(dim=1)  # (S,)
    if not bool(keep.any()):
        raise ValueError("mask has no foreground inside the valid SSIM map of any slice")
    return float(ssim(P[keep], G[keep], L, mask=M[keep], reduction="mean"))


def volume_metrics(
    gt: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, data_range: float | None = None
) -> dict[str, float]:
    """NMSE, PSNR and SSIM of one volume: ``{"nmse": ..., "psnr": ..., "ssim": ...}``.

    Args:
        gt: reference magnitude volume ``(slices, H, W)``.
        pred: reconstruction of the same shape.
        mask: optional foreground mask ``(slices, H, W)``.
        data_range: peak value for PSNR/SSIM; default ``gt.max()`` of the volume.
    """
    g, p = as_pair(gt, pred)
    L = resolve_data_range(g, data_range)
    m = as_mask(mask, g.shape)
    precision = input_precision(gt, pred)
    return {"nmse": _nmse(g, p, m), "psnr": _psnr(g, p, L, m), "ssim": _ssim_volume(g, p, L, m, precision)}


# ---- texture measures -------------------------------------------------------------------------
def _high_pass(vol: np.ndarray, cutoff: float) -> torch.Tensor:
    """Zero the k-space inside the normalised radius ``cutoff`` (1 = Nyquist along an axis)."""
    S, H, W = vol.shape
    ky = (torch.arange(H, dtype=torch.float64) - H // 2) / (H / 2)
    kx = (torch.arange(W, dtype=torch.float64) - W // 2) / (W / 2)
    radius = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)  # (H, W)
    keep = (radius > cutoff).to(torch.complex128)
    k = fft2c(torch.from_numpy(vol).to(torch.complex128))  # (S, H, W)
    return ifft2c(k * keep)  # (S, H, W) complex (real up to rounding)


def high_frequency_energy_ratio(
    gt: ArrayLike, pred: ArrayLike, *, mask: ArrayLike | None = None, cutoff: float = 0.25
) -> float:
    """Energy of the high-pass of ``pred`` over that of ``gt``, inside the foreground.

    The high-pass keeps the k-space outside the normalised radius ``cutoff`` (radius 1 is the
    Nyquist frequency along an axis; k-space of each whole slice, so the mask edge itself
    adds nothing), then the energy ``sum |x_hp|^2`` is taken over the foreground pixels.

    Args:
        gt: reference magnitude volume ``(slices, H, W)`` (or ``(H, W)``).
        pred: reconstruction of the same shape.
        mask: optional foreground mask (nonzero = foreground).
        cutoff: normalised radius in ``(0, sqrt(2))`` below which frequencies are removed.

    Returns:
        The ratio: 1.0 for the reference's texture, < 1 smoother, > 1 more high-frequency
        content (noise, GAN texture, aliasing).
    """
    g, p = as_pair(gt, pred)
    if not (0 < float(cutoff) < math.sqrt(2)):
        raise ValueError(f"cutoff must lie in (0, sqrt(2)), got {cutoff!r}")
    m = as_mask(mask, g.shape)
    weights = torch.ones(g.shape, dtype=torch.float64) if m is None else torch.from_numpy(m.astype(np.float64))
    e_pred = float((_high_pass(p, cutoff).abs() ** 2 * weights).sum())
    e_gt = float((_high_pass(g, cutoff).abs() ** 2 * weights).sum())
    if e_gt == 0:
        raise ValueError("gt has no high-frequency energy inside the mask: the ratio is undefined")
    return e_pred / e_gt
