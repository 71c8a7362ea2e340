"""Argument checks shared by every image-quality metric: one place for the volume, mask and data-range rules.

Every metric of :mod:`recon_lib.metrics.quality` and :mod:`recon_lib.metrics.perceptual` is called as
``f(gt, pred, *, mask=None, data_range=None, ...)`` on real magnitude volumes ``(S, H, W)`` (NumPy
or torch; a single ``(H, W)`` image is one slice). Bad input raises one error naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["ArrayLike", "as_volume", "as_pair", "as_mask", "resolve_data_range", "input_precision"]

ArrayLike = np.ndarray | torch.Tensor


def as_volume(name: str, value: object) -> np.ndarray:
    """Real, finite ``(S, H, W)`` float64 array from a numpy array or torch tensor (2-D -> one slice)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch.Tensor, got {type(value).__name__}")
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be a real magnitude volume, got complex dtype {value.dtype}; take abs() first")
    if value.ndim not in (2, 3):
        raise ValueError(f"{name} must be (slices, H, W) or (H, W), got shape {value.shape}")
    arr = value.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s) of {arr.size}")
    return arr[None] if arr.ndim == 2 else arr


def as_pair(gt: ArrayLike, pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``gt`` and ``pred`` as checked volumes of one shape."""
    g, p = as_volume("gt", gt), as_volume("pred", pred)
    if g.shape != p.shape:
        raise ValueError(f"gt of shape {tuple(gt.shape)} and pred of shape {tuple(pred.shape)} must match")
    return g, p


def as_mask(mask: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Boolean foreground mask of ``shape`` (nonzero = foreground), or None."""
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array or torch.Tensor, got {type(mask).__name__}")
    m = mask[None] if mask.ndim == 2 and len(shape) == 3 else mask
    try:
        m = np.array(np.broadcast_to(m != 0, shape))  # a writable copy
    except ValueError:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to the volume shape {shape}") from None
    if not m.any():
        raise ValueError("mask selects no foreground pixel")
    return m


def resolve_data_range(gt: np.ndarray, data_range: float | None) -> float:
    """fastMRI's peak ``L``: ``gt.max()`` of the volume unless given; positive and finite."""
    value = float(gt.max()) if data_range is None else float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"data_range must be positive and finite (default gt.max()), got {value}")
    return value


def input_precision(*values: object) -> type[np.floating]:
    """``np.float32`` when every value is a float32 array or tensor, else ``np.float64``.

    SSIM's window moments are computed in this precision, as scikit-image's
    ``structural_similarity`` does (float32 images stay float32); sums such as NMSE and the MSE of
    PSNR always accumulate in float64.
    """
    single = (np.dtype(np.float32), torch.float32)
    return np.float32 if values and all(getattr(v, "dtype", None) in single for v in values) else np.float64
