"""Shared plumbing of the plotting helpers: input conversion, grids, colour bars, lazy pyplot.

The module is private to :mod:`recon_lib.teaching.plotting` (its name starts with ``_``); its
functions are the plotting modules' shared helpers, so their own names are plain (no module uses
another module's private name), and the package does not export them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recon_lib.core.tensors import squeeze_leading

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use (importing recon_lib never starts a GUI backend)."""
    import matplotlib.pyplot as plt

    return plt


DEFAULT_DPI = 72

ArrayLike = Any  # numpy array or torch tensor


# ---- input handling -------------------------------------------------------------------------
def to_numpy(name: str, value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16 or value.dtype == torch.float16:
            value = value.float()
        return value.numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple, range)):
        return np.asarray(value)
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(value).__name__}")


def image2d(name: str, value: ArrayLike, part: str = "abs") -> np.ndarray:
    """A 2-D real image from an array/tensor with optional leading singleton dims."""
    arr = to_numpy(name, value)
    arr = squeeze_leading(arr, 2)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D image (H, W) (leading size-1 dims allowed), got shape {arr.shape}")
    if np.iscomplexobj(arr):
        if part == "abs":
            arr = np.abs(arr)
        elif part == "angle":
            arr = np.angle(arr)
        elif part == "real":
            arr = arr.real
        elif part == "imag":
            arr = arr.imag
        else:
            raise ValueError(f"part must be 'abs', 'angle', 'real' or 'imag', got {part!r}")
    return arr.astype(np.float64)


def as_dict(name: str, images: ArrayLike | Mapping[str, ArrayLike], default_title: str) -> dict[str, ArrayLike]:
    if isinstance(images, Mapping):
        if len(images) == 0:
            raise ValueError(f"{name} must not be empty")
        return {str(k): v for k, v in images.items()}
    return {default_title: images}


def axes_grid(n: int, ncols: int | None, panel: tuple[float, float], dpi: int, **kw: Any) -> tuple[Figure, list[Any]]:
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    fig, axes = pyplot().subplots(
        nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), dpi=dpi, squeeze=False, **kw
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def add_colorbar(fig: Figure, im: Any, ax: Any, label: str | None) -> Any:
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    if label:
        cb.set_label(label)
    return cb


def resolve_range(
    arrays: Sequence[np.ndarray], vmin: float | str | None, vmax: float | str | None
) -> list[tuple[float, float]]:
    """Per-image (vmin, vmax): None = each image's own range (vmin 0 for non-negative data),
    "shared" = the range over all images, a number = that value."""
    out = []
    all_min = min(float(np.min(a)) for a in arrays)
    all_max = max(float(np.max(a)) for a in arrays)
    for a in arrays:
        lo = float(np.min(a))
        hi = float(np.max(a))
        if vmin is None:
            lo_v = 0.0 if all_min >= 0 else lo
        elif vmin == "shared":
            lo_v = 0.0 if all_min >= 0 else all_min
        else:
            lo_v = float(vmin)
        if vmax is None:
            hi_v = hi
        elif vmax == "shared":
            hi_v = all_max
        else:
            hi_v = float(vmax)
        if hi_v <= lo_v:
            hi_v = lo_v + 1e-12
        out.append((lo_v, hi_v))
    return out


def check_range_arg(name: str, value: Any) -> None:
    if value is None or value == "shared":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be None, 'shared' or a number, got {value!r}")
