"""Image panels: a titled grid, zoomed crops, error maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Rectangle

from recon_lib.core.tensors import squeeze_leading
from recon_lib.teaching.plotting._common import (
    DEFAULT_DPI,
    ArrayLike,
    add_colorbar,
    as_dict,
    axes_grid,
    check_range_arg,
    image2d,
    pyplot,
    resolve_range,
    to_numpy,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_images", "zoom_crop", "error_map"]


def show_images(
    images: Mapping[str, ArrayLike],
    ncols: int | None = 4,
    cmap: str = "gray",
    colorbar: bool | str = False,
    units: str | None = None,
    vmin: float | str | None = None,
    vmax: float | str | None = None,
    part: str = "abs",
    suptitle: str | None = None,
    panel_size: float = 2.6,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """A grid of titled images.

    Args:
        images: ``{"title": image}``; each image ``(H, W)`` (leading size-1 dims are dropped),
            NumPy or torch, real or complex.
        ncols: panels per row (None: all in one row).
        cmap: colour map (``"gray"`` for magnitudes, ``"twilight"`` for phase).
        colorbar: False (none), True (one beside every panel) or ``"shared"`` (one for the whole
            figure; implies ``vmin = vmax = "shared"`` unless numbers are given).
        units: colour-bar label, e.g. ``"a.u."`` or ``"rad"``.
        vmin, vmax: display range: None (each image's own; 0 as minimum for non-negative
            data), ``"shared"`` (one range over all images -- use it to compare brightness)
            or a number.
        part: how complex images are shown: ``"abs"``, ``"angle"``, ``"real"`` or ``"imag"``.
        suptitle: a title over the whole figure.
        panel_size: width of one panel in inches.
        dpi: figure resolution.

    Returns:
        The figure: one axes per image, plus one colour-bar axes per image with
        ``colorbar=True`` or a single one with ``colorbar="shared"``.
    """
    items = as_dict("images", images, "image")
    if colorbar not in (True, False, "shared"):
        raise ValueError(f"colorbar must be True, False or 'shared', got {colorbar!r}")
    check_range_arg("vmin", vmin)
    check_range_arg("vmax", vmax)
    if colorbar == "shared":
        vmin = "shared" if vmin is None else vmin
        vmax = "shared" if vmax is None else vmax
    arrays = [image2d(f"images[{k!r}]", v, part) for k, v in items.items()]
    ranges = resolve_range(arrays, vmin, vmax)
    aspect = max(a.shape[0] / a.shape[1] for a in arrays)
    width = panel_size * (1.25 if colorbar is True else 1.0)
    fig, axes = axes_grid(len(arrays), ncols, (width, panel_size * aspect + 0.45), dpi, layout="constrained")
    for ax, (title, arr), (lo, hi) in zip(axes, zip(items, arrays, strict=True), ranges, strict=True):
        im = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar is True:
            add_colorbar(fig, im, ax, units)
    if colorbar == "shared":
        cb = fig.colorbar(im, ax=axes, fraction=0.025, pad=0.02, shrink=0.9)
        if units:
            cb.set_label(units)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def zoom_crop(
    images: ArrayLike | Mapping[str, ArrayLike],
    box: tuple[int, int, int, int],
    cmap: str = "gray",
    vmax: float | str | None = "shared",
    box_color: str = "#ffcc00",
    suptitle: str | None = None,
    panel_size: float = 2.6,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Full images with a crop box drawn on them and the enlarged crops.

    Args:
        images: one image ``(H, W)`` or ``{"title": image}`` (all of one shape).
        box: ``(top, left, height, width)`` of the crop in pixels.
        cmap: colour map.
        vmax: display maximum: ``"shared"`` (default: one scale for all, so brightness is
            comparable), None (per image) or a number.
        box_color: colour of the crop rectangle and of the crop panels' frames.
        suptitle: a title over the whole figure.
        panel_size: width of one panel in inches.
        dpi: figure resolution.

    Returns:
        The figure: for one image, two axes side by side (full, crop); for N images, a 2 x N
        grid (full images on top, crops below).
    """
    items = as_dict("images", images, "image")
    check_range_arg("vmax", vmax)
    arrays = [image2d(f"images[{k!r}]", v) for k, v in items.items()]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"all images must share one shape, got {[a.shape for a in arrays]}")
    if len(box) != 4:
        raise ValueError(f"box must be (top, left, height, width), got {box!r}")
    top, left, h, w = (int(v) for v in box)
    if not (h > 0 and w > 0 and 0 <= top and top + h <= shape[0] and 0 <= left and left + w <= shape[1]):
        raise ValueError(f"box {tuple(box)} (top, left, height, width) must lie inside the image of shape {shape}")
    ranges = resolve_range(arrays, None, vmax)
    n = len(arrays)
    if n == 1:
        fig, axes = pyplot().subplots(
            1, 2, figsize=(2 * panel_size, panel_size * shape[0] / shape[1] + 0.5), dpi=dpi, layout="constrained"
        )
        pairs = [(axes[0], axes[1])]
    else:
        fig, axes = pyplot().subplots(
            2,
            n,
            figsize=(panel_size * n, 2 * panel_size * shape[0] / shape[1] + 0.8),
            dpi=dpi,
            squeeze=False,
            layout="constrained",
        )
        pairs = [(axes[0, i], axes[1, i]) for i in range(n)]
    for (full_ax, crop_ax), (title, arr), (lo, hi) in zip(pairs, zip(items, arrays, strict=True), ranges, strict=True):
        full_ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        full_ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor=box_color, linewidth=1.5))
        full_ax.set_title(title, fontsize=10)
        crop_ax.imshow(arr[top : top + h, left : left + w], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        crop_ax.set_title(f"{title}, zoom x{shape[1] / w:.1f}" if n == 1 else f"zoom x{shape[1] / w:.1f}", fontsize=9)
        for ax in (full_ax, crop_ax):
            ax.set_xticks([])
            ax.set_yticks([])
        for spine in crop_ax.spines.values():
            spine.set_edgecolor(box_color)
            spine.set_linewidth(2)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def error_map(
    reconstructions: ArrayLike | Mapping[str, ArrayLike],
    reference: ArrayLike,
    vmax_percent: float | None = None,
    cmap: str = "inferno",
    ncols: int | None = None,
    suptitle: str | None = None,
    panel_size: float = 2.6,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Absolute error ``|rec - ref|`` in percent of ``max |ref|``, with a colour bar.

    Complex inputs are compared as complex numbers (magnitude of the complex difference) if
    both are complex, otherwise as magnitudes.

    Args:
        reconstructions: one image ``(H, W)`` or ``{"title": image}``.
        reference: the reference image ``(H, W)``.
        vmax_percent: top of the colour scale in % (default: the 99.5th percentile of the errors
            over all panels, so that a few extreme pixels do not darken everything; the panels
            share one scale and the colour bar marks clipped values with an arrow).
        cmap: colour map.
        ncols: panels per row (None: one row).
        suptitle: a title over the whole figure.
        panel_size: width of one panel in inches.
        dpi: figure resolution.

    Returns:
        The figure: one image axes per reconstruction and one colour bar shared by all
        (the panels share one scale).
    """
    items = as_dict("reconstructions", reconstructions, "error")
    ref_arr = to_numpy("reference", reference)
    ref_arr = squeeze_leading(ref_arr, 2)
    if ref_arr.ndim != 2:
        raise ValueError(f"reference must be a 2-D image (H, W), got shape {ref_arr.shape}")
    scale = float(np.max(np.abs(ref_arr)))
    if scale <= 0:
        raise ValueError("reference is all zeros: the error cannot be expressed in % of its maximum")
    errors = []
    for k, v in items.items():
        rec = to_numpy(f"reconstructions[{k!r}]", v)
        rec = squeeze_leading(rec, 2)
        if rec.shape != ref_arr.shape:
            raise ValueError(f"reconstructions[{k!r}] has shape {rec.shape}, the reference {ref_arr.shape}")
        if np.iscomplexobj(rec) and np.iscomplexobj(ref_arr):
            diff = np.abs(rec - ref_arr)
        else:
            diff = np.abs(np.abs(rec) - np.abs(ref_arr))
        errors.append(100.0 * diff / scale)
    if vmax_percent is not None:
        top = float(vmax_percent)
    else:
        top = float(np.percentile(np.concatenate([e.ravel() for e in errors]), 99.5))
    if not top > 0:
        top = max(max(float(e.max()) for e in errors), 1e-6)
    clipped = any(float(e.max()) > top for e in errors)
    aspect = ref_arr.shape[0] / ref_arr.shape[1]
    n = len(errors)
    extra = 0.35 if n == 1 else 0.8 / max(1, min(n, ncols or n))  # room for the one colour bar
    fig, axes = axes_grid(n, ncols, (panel_size * (1 + extra), panel_size * aspect + 0.45), dpi, layout="constrained")
    for ax, title, err in zip(axes, items, errors, strict=True):
        im = ax.imshow(err, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    cb = fig.colorbar(
        im, ax=axes, fraction=0.046 if n == 1 else 0.025, pad=0.03, extend="max" if clipped else "neither"
    )
    cb.set_label("|error| (% of max |ref|)")
    if suptitle:
        fig.suptitle(suptitle)
    return fig
