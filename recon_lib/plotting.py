"""Matplotlib helpers for legible teaching figures.

Every helper takes NumPy arrays or torch tensors (complex images are shown as magnitudes
unless stated otherwise), builds one ``matplotlib.figure.Figure`` with titles, axis labels
where they carry meaning, and colour bars with units, and returns it. In a notebook the
figure appears below the cell; in a script call ``fig.savefig(...)`` or ``plt.show()``.

Images follow the recon_lib layout: rows are the readout axis H (vertical), columns the
phase-encode axis W (horizontal), so undersampling removes *columns* and aliasing folds
along the horizontal axis.

Helpers:

* :func:`show_images` -- a grid of titled images from a dict ``{"title": image}``.
* :func:`zoom_crop` -- full images with a crop box and enlarged crops below.
* :func:`error_map` -- ``|rec - ref|`` in percent of ``max |ref|``.
* :func:`log_kspace` -- ``log10 |k|`` of one or several coils.
* :func:`mask_and_psf` -- a sampling mask and its 1-D / 2-D point-spread functions.
* :func:`plot_training_log` -- loss and validation curves from ``recon_lib.train`` JSONL logs.
* :func:`plot_curves` -- a few named 1-D curves on one axes (e.g. convergence histories).
* :func:`interpolation_schematic` -- the paper's idea in one picture.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.ticker import MaxNLocator

__all__ = [
    "show_images",
    "zoom_crop",
    "error_map",
    "log_kspace",
    "mask_and_psf",
    "plot_training_log",
    "plot_curves",
    "interpolation_schematic",
    "DEFAULT_DPI",
]

#: resolution of the figures (kept modest so notebooks with outputs stay small)
DEFAULT_DPI = 72

ArrayLike = Any  # numpy array or torch tensor


# ---- input handling -------------------------------------------------------------------------
def _to_numpy(name: str, value: ArrayLike) -> np.ndarray:
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


def _image2d(name: str, value: ArrayLike, part: str = "abs") -> np.ndarray:
    """A 2-D real image from an array/tensor with optional leading singleton dims."""
    arr = _to_numpy(name, value)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
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


def _as_dict(name: str, images: ArrayLike | Mapping[str, ArrayLike], default_title: str) -> dict[str, ArrayLike]:
    if isinstance(images, Mapping):
        if len(images) == 0:
            raise ValueError(f"{name} must not be empty")
        return {str(k): v for k, v in images.items()}
    return {default_title: images}


def _grid(n: int, ncols: int | None, panel: tuple[float, float], dpi: int, **kw: Any) -> tuple[Figure, list[Any]]:
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), dpi=dpi, squeeze=False, **kw
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _colorbar(fig: Figure, im: Any, ax: Any, label: str | None) -> Any:
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    if label:
        cb.set_label(label)
    return cb


def _resolve_range(arrays: Sequence[np.ndarray], vmin: float | str | None, vmax: float | str | None) -> list[tuple[float, float]]:
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


def _check_range_arg(name: str, value: Any) -> None:
    if value is None or value == "shared":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be None, 'shared' or a number, got {value!r}")


# ---- images ----------------------------------------------------------------------------------
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
    items = _as_dict("images", images, "image")
    if colorbar not in (True, False, "shared"):
        raise ValueError(f"colorbar must be True, False or 'shared', got {colorbar!r}")
    _check_range_arg("vmin", vmin)
    _check_range_arg("vmax", vmax)
    if colorbar == "shared":
        vmin = "shared" if vmin is None else vmin
        vmax = "shared" if vmax is None else vmax
    arrays = [_image2d(f"images[{k!r}]", v, part) for k, v in items.items()]
    ranges = _resolve_range(arrays, vmin, vmax)
    aspect = max(a.shape[0] / a.shape[1] for a in arrays)
    width = panel_size * (1.25 if colorbar is True else 1.0)
    fig, axes = _grid(len(arrays), ncols, (width, panel_size * aspect + 0.45), dpi, layout="constrained")
    for ax, (title, arr), (lo, hi) in zip(axes, zip(items, arrays), ranges):
        im = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar is True:
            _colorbar(fig, im, ax, units)
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
    items = _as_dict("images", images, "image")
    _check_range_arg("vmax", vmax)
    arrays = [_image2d(f"images[{k!r}]", v) for k, v in items.items()]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"all images must share one shape, got {[a.shape for a in arrays]}")
    if len(box) != 4:
        raise ValueError(f"box must be (top, left, height, width), got {box!r}")
    top, left, h, w = (int(v) for v in box)
    if not (h > 0 and w > 0 and 0 <= top and top + h <= shape[0] and 0 <= left and left + w <= shape[1]):
        raise ValueError(f"box {tuple(box)} (top, left, height, width) must lie inside the image of shape {shape}")
    ranges = _resolve_range(arrays, None, vmax)
    n = len(arrays)
    if n == 1:
        fig, axes = plt.subplots(1, 2, figsize=(2 * panel_size, panel_size * shape[0] / shape[1] + 0.5), dpi=dpi, layout="constrained")
        pairs = [(axes[0], axes[1])]
    else:
        fig, axes = plt.subplots(2, n, figsize=(panel_size * n, 2 * panel_size * shape[0] / shape[1] + 0.8), dpi=dpi, squeeze=False, layout="constrained")
        pairs = [(axes[0, i], axes[1, i]) for i in range(n)]
    for (full_ax, crop_ax), (title, arr), (lo, hi) in zip(pairs, zip(items, arrays), ranges):
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
    items = _as_dict("reconstructions", reconstructions, "error")
    ref_arr = _to_numpy("reference", reference)
    while ref_arr.ndim > 2 and ref_arr.shape[0] == 1:
        ref_arr = ref_arr[0]
    if ref_arr.ndim != 2:
        raise ValueError(f"reference must be a 2-D image (H, W), got shape {ref_arr.shape}")
    scale = float(np.max(np.abs(ref_arr)))
    if scale <= 0:
        raise ValueError("reference is all zeros: the error cannot be expressed in % of its maximum")
    errors = []
    for k, v in items.items():
        rec = _to_numpy(f"reconstructions[{k!r}]", v)
        while rec.ndim > 2 and rec.shape[0] == 1:
            rec = rec[0]
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
    fig, axes = _grid(n, ncols, (panel_size * (1 + extra), panel_size * aspect + 0.45), dpi, layout="constrained")
    for ax, title, err in zip(axes, items, errors):
        im = ax.imshow(err, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    cb = fig.colorbar(im, ax=axes, fraction=0.046 if n == 1 else 0.025, pad=0.03, extend="max" if clipped else "neither")
    cb.set_label("|error| (% of max |ref|)")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# ---- k-space and sampling -----------------------------------------------------------------
def log_kspace(
    kspace: ArrayLike | Mapping[str, ArrayLike],
    coils: Sequence[int] | None = None,
    title: str = "k-space",
    ncols: int | None = 4,
    eps: float | None = None,
    panel_size: float = 2.6,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """``log10 |k|`` of k-space, with the readout (kx) vertical and phase encode (ky) horizontal.

    All panels share one colour scale, so brightness is comparable between them.

    Args:
        kspace: ``(H, W)`` for one coil or ``(C, H, W)`` (leading size-1 dims are dropped), or
            ``{"title": k-space}`` of such arrays to compare several (one panel each).
        coils: coil indices to show side by side; None: the root-sum-of-squares over coils
            for multi-coil input.
        title: panel title for a single array (coil panels add ``"coil c"``).
        ncols: panels per row.
        eps: floor added before the log (default: 1e-6 of the largest magnitude).
        panel_size: width of one panel in inches.
        dpi: figure resolution.

    Returns:
        The figure: one image axes and one colour-bar axes per panel.
    """
    items = _as_dict("kspace", kspace, title)
    panels: dict[str, np.ndarray] = {}
    for name, value in items.items():
        arr = _to_numpy(f"kspace[{name!r}]" if isinstance(kspace, Mapping) else "kspace", value)
        while arr.ndim > 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim not in (2, 3):
            raise ValueError(f"kspace must be (H, W) or (C, H, W), got shape {arr.shape}")
        mag = np.abs(arr).astype(np.float64)
        if mag.ndim == 2:
            panels[name] = mag
        elif coils is None:
            panels[f"{name} (RSS over {mag.shape[0]} coils)"] = np.sqrt((mag**2).sum(axis=0))
        else:
            for c in coils:
                if not 0 <= int(c) < mag.shape[0]:
                    raise ValueError(f"coil index {c} out of range for {mag.shape[0]} coils")
                panels[f"{name}, coil {int(c)}"] = mag[int(c)]
    shapes = {p.shape for p in panels.values()}
    if len(shapes) != 1:
        raise ValueError(f"all k-spaces must share one (H, W) shape, got {sorted(shapes)}")
    floor = float(eps) if eps is not None else 1e-6 * max(float(p.max()) for p in panels.values()) + 1e-30
    logs = {k: np.log10(p + floor) for k, p in panels.items()}
    lo = min(float(v.min()) for v in logs.values())
    hi = max(float(v.max()) for v in logs.values())
    h, w = next(iter(logs.values())).shape
    fig, axes = _grid(len(logs), ncols, (panel_size * 1.3, panel_size * h / w + 0.6), dpi, layout="constrained")
    for ax, (name, img) in zip(axes, logs.items()):
        im = ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"ky (phase encode, W = {w})", fontsize=8)
        ax.set_ylabel(f"kx (readout, H = {h})", fontsize=8)
        ax.tick_params(labelsize=7)
        _colorbar(fig, im, ax, "log10 |k| (a.u.)")
    return fig


def _mask_1d(name: str, mask: ArrayLike) -> np.ndarray:
    arr = _to_numpy(name, mask)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real 0/1 mask, got a complex array")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim > 1:
        if any(s != 1 for s in arr.shape[:-1]):
            raise ValueError(
                f"{name} must be a column mask (W,) or broadcastable like (1, 1, 1, W), got shape {arr.shape}"
            )
        arr = arr.reshape(-1)
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must contain only 0 and 1")
    if arr.sum() == 0:
        raise ValueError(f"{name} samples no column")
    return arr


def _main_lobe(psf: np.ndarray, centre: int) -> np.ndarray:
    """Indices of the main lobe: from the peak outwards while |PSF| keeps decreasing."""
    right = centre
    while right + 1 < psf.size and psf[right + 1] < psf[right]:
        right += 1
    left = centre
    while left - 1 >= 0 and psf[left - 1] < psf[left]:
        left -= 1
    return np.arange(left, right + 1)


def mask_and_psf(
    masks: ArrayLike | Mapping[str, ArrayLike],
    height: int | None = None,
    psf_halfwidth: int = 40,
    panel_size: float = 2.8,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """A Cartesian sampling mask and its point-spread function (PSF).

    The PSF is the image of a single bright point after undersampling: the inverse FFT of the
    mask. Readout (H) is fully sampled, so the 2-D PSF is non-zero only along the
    phase-encode axis W: aliasing spreads along W only. A random (variable-density) mask
    spreads it as low, noise-like side lobes; an equispaced one as distinct ghost copies.

    Args:
        masks: one column mask ``(W,)`` (or broadcastable, e.g. ``(1, 1, 1, W)``) or
            ``{"title": mask}`` for several masks (one row each).
        height: rows H of the mask picture and the 2-D PSF (default W).
        psf_halfwidth: the 2-D PSF panel shows offsets ``-psf_halfwidth .. psf_halfwidth``.
        panel_size: width of one panel in inches.
        dpi: figure resolution.

    Returns:
        The figure: per mask three axes (mask, 1-D PSF, 2-D PSF) plus a colour bar for the
        2-D PSF.
    """
    items = _as_dict("masks", masks, "mask")
    cols = {k: _mask_1d(f"masks[{k!r}]", v) for k, v in items.items()}
    n = len(cols)
    fig, axes = plt.subplots(n, 3, figsize=(3.3 * panel_size, panel_size * 0.95 * n + 0.3), dpi=dpi, squeeze=False, layout="constrained")
    for row, (name, m) in enumerate(cols.items()):
        width = m.size
        h = int(height) if height is not None else width
        af = width / m.sum()
        ax_m, ax_1, ax_2 = axes[row]
        ax_m.imshow(np.broadcast_to(m, (h, width)), cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax_m.set_title(f"{name}: {int(m.sum())}/{width} lines (R = {af:.1f})", fontsize=9)
        ax_m.set_xlabel("ky (phase encode)", fontsize=8)
        ax_m.set_ylabel("kx (readout)", fontsize=8)
        ax_m.tick_params(labelsize=7)
        psf = np.abs(np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(m))))
        psf /= psf.max()
        offsets = np.arange(width) - width // 2
        side = np.delete(psf, _main_lobe(psf, width // 2))
        ax_1.plot(offsets, psf, color="C0", linewidth=1)
        ax_1.set_yscale("log")
        ax_1.set_ylim(max(1e-3, float(side.min()) * 0.5), 1.5)
        ax_1.axhline(float(side.max()), color="C3", linestyle="--", linewidth=0.8, label=f"peak side lobe {side.max():.2f}")
        ax_1.legend(fontsize=7, loc="upper right")
        ax_1.set_title("1-D PSF along ky", fontsize=9)
        ax_1.set_xlabel("offset (pixels along W)", fontsize=8)
        ax_1.set_ylabel("|PSF| / peak", fontsize=8)
        ax_1.tick_params(labelsize=7)
        hw = min(int(psf_halfwidth), width // 2)
        hh = min(6, h // 2)
        mask2d = np.broadcast_to(m, (h, width))  # every readout row sampled alike
        full2 = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(mask2d))))
        full2 /= full2.max()
        psf2 = full2[h // 2 - hh : h // 2 + hh + 1, width // 2 - hw : width // 2 + hw + 1]
        im = ax_2.imshow(
            np.log10(psf2 + 1e-3), cmap="magma", vmin=-3, vmax=0, aspect="auto", interpolation="nearest",
            extent=(-hw - 0.5, hw + 0.5, hh + 0.5, -hh - 0.5),
        )
        ax_2.set_title("2-D PSF: spreads along W only", fontsize=9)
        ax_2.set_xlabel("offset along W", fontsize=8)
        ax_2.set_ylabel("offset along H", fontsize=8)
        ax_2.tick_params(labelsize=7)
        _colorbar(fig, im, ax_2, "log10 |PSF| / peak")
    return fig


# ---- training logs --------------------------------------------------------------------------
def _read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not a JSON line ({err.msg})") from None
                if isinstance(rec, dict):
                    records.append(rec)
    return records


def _log_paths(jsonl_path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    items = [jsonl_path] if isinstance(jsonl_path, (str, os.PathLike)) else list(jsonl_path)
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.jsonl")) + sorted(p.glob("*/*.jsonl"))
            if not found:
                raise FileNotFoundError(f"no *.jsonl training logs in {p} or its sub-folders")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"training log {p} not found")
    return paths


def plot_training_log(
    jsonl_path: str | os.PathLike | Sequence[str | os.PathLike],
    smooth: int = 20,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Loss curves and validation metrics from ``recon_lib.train`` JSONL logs.

    Each log line is either a training step ``{"stage", "epoch", "step", "loss", ...}`` or a
    validation record ``{"stage", "epoch", "step", "type": "val", "psnr", "ssim", "nmse"}``.

    Args:
        jsonl_path: a ``log.jsonl`` file, a list of them, or a run folder (every ``*.jsonl`` in
            it and in its stage sub-folders, e.g. ``runs/teaching``).
        smooth: moving-average window (steps) drawn over the raw loss (1: none).
        dpi: figure resolution.

    Returns:
        The figure with three axes: training loss per step, validation PSNR (dB) and
        validation SSIM per epoch; one colour per stage.
    """
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer, got {smooth!r}")
    records = _read_jsonl(_log_paths(jsonl_path))
    train = [r for r in records if r.get("type") != "val" and "loss" in r]
    val = [r for r in records if r.get("type") == "val"]
    if not train and not val:
        raise ValueError(f"no training or validation records in {jsonl_path}")
    stages = list(dict.fromkeys(str(r.get("stage", "run")) for r in train + val))
    colours = {s: f"C{i % 10}" for i, s in enumerate(stages)}
    fig, (ax_l, ax_p, ax_s) = plt.subplots(1, 3, figsize=(11, 3.2), dpi=dpi, layout="constrained")
    for stage in stages:
        rows = sorted((r for r in train if str(r.get("stage", "run")) == stage), key=lambda r: r.get("step", 0))
        if rows:
            steps = np.array([r.get("step", i + 1) for i, r in enumerate(rows)], dtype=float)
            loss = np.array([r["loss"] for r in rows], dtype=float)
            ax_l.plot(steps, loss, color=colours[stage], alpha=0.3, linewidth=0.8)
            k = min(smooth, loss.size)
            if k > 1:
                avg = np.convolve(loss, np.ones(k) / k, mode="valid")
                ax_l.plot(steps[k - 1 :], avg, color=colours[stage], linewidth=1.6, label=f"{stage} (mean of {k})")
            else:
                ax_l.plot([], [], color=colours[stage], label=stage)
        vrows = sorted((r for r in val if str(r.get("stage", "run")) == stage), key=lambda r: r.get("epoch", 0))
        if vrows:
            epochs = [r.get("epoch", i + 1) for i, r in enumerate(vrows)]
            for ax, key in ((ax_p, "psnr"), (ax_s, "ssim")):
                ys = [r.get(key, np.nan) for r in vrows]
                ax.plot(epochs, ys, "o-", color=colours[stage], markersize=4, label=stage)
    ax_l.set_title("training loss")
    ax_l.set_xlabel("step (within stage)")
    ax_l.set_ylabel("loss")
    if train:
        ax_l.legend(fontsize=7)
    else:
        ax_l.text(0.5, 0.5, "no training steps logged", ha="center", va="center", transform=ax_l.transAxes)
    for ax, name, unit in ((ax_p, "validation PSNR", "PSNR (dB)"), (ax_s, "validation SSIM", "SSIM")):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        if val:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no validation records", ha="center", va="center", transform=ax.transAxes)
    return fig


def plot_curves(
    curves: Mapping[str, ArrayLike],
    xlabel: str = "iteration",
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = False,
    x: ArrayLike | None = None,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Named 1-D curves on one axes, e.g. CG residuals per iteration or metrics against alpha.

    Args:
        curves: ``{"label": values}``, each a 1-D array/tensor (size-1 dims are squeezed).
        xlabel, ylabel: axis labels (put units in them).
        title: axes title.
        logy: logarithmic y axis.
        x: shared x values (default ``0, 1, 2, ...`` per curve).
        dpi: figure resolution.

    Returns:
        The figure with one axes and one line per curve.
    """
    items = _as_dict("curves", curves, "curve")
    xs = None if x is None else np.asarray(_to_numpy("x", x), dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=dpi, layout="constrained")
    for label, values in items.items():
        ys = np.squeeze(np.asarray(_to_numpy(f"curves[{label!r}]", values), dtype=float))
        if ys.ndim != 1:
            raise ValueError(f"curves[{label!r}] must be 1-D, got shape {ys.shape}")
        if xs is not None and xs.size != ys.size:
            raise ValueError(f"curves[{label!r}] has {ys.size} values but x has {xs.size}")
        ax.plot(np.arange(ys.size) if xs is None else xs, ys, "o-", markersize=3, linewidth=1.2, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---- the paper's idea ----------------------------------------------------------------------
def _box(ax: Any, xy: tuple[float, float], text: str, colour: str, width: float = 0.24, height: float = 0.16) -> None:
    x, y = xy
    ax.add_patch(
        FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.015",
                       facecolor=colour, edgecolor="black", linewidth=1)
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], colour: str = "black") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=colour, linewidth=1.2))


def interpolation_schematic(dpi: int = DEFAULT_DPI) -> Figure:
    """The paper's idea in one figure.

    Left: the training recipe -- one pre-trained sensitivity network (SN) is fine-tuned twice,
    with :math:`L_{SN}` (SN) and with :math:`\\gamma L_{SN} + L_{LSGAN}` (SN-GAN), so both share
    an initialisation. Right: network interpolation
    :math:`\\theta(\\alpha) = (1-\\alpha)\\theta_{SN} + \\alpha\\theta_{SN-GAN}` walks from the
    smooth, high-fidelity end to the sharp, perceptual end (the perception-distortion trade-off).

    Returns:
        The figure with two axes.
    """
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=dpi, gridspec_kw={"width_ratios": [1.15, 1]})
    for ax in (ax_a, ax_b):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")

    ax_a.set_title("(a) training recipe: one start, two fine-tunings", fontsize=11)
    _box(ax_a, (0.15, 0.5), "SN\npre-trained\n$L_{SN}$", "#dddddd")
    _box(ax_a, (0.72, 0.8), "SN\nfine-tuned\n$\\theta_{SN}$", "#9ecae1")
    _box(ax_a, (0.72, 0.2), "SN-GAN\nfine-tuned\n$\\theta_{SN\\text{-}GAN}$", "#fdae6b")
    _arrow(ax_a, (0.28, 0.55), (0.59, 0.78))
    _arrow(ax_a, (0.28, 0.45), (0.59, 0.22))
    ax_a.text(0.32, 0.76, "$L_{SN} = 1-\\mathrm{SSIM} + \\lambda L_1$", ha="center", va="bottom", fontsize=9)
    ax_a.text(0.33, 0.22, "$\\gamma L_{SN} + L_{LSGAN}$", ha="center", va="top", fontsize=9)
    ax_a.text(0.15, 0.38, "50 epochs\nRMSProp, lr $10^{-4}$", ha="center", va="top", fontsize=8)
    ax_a.text(0.72, 0.5, "10 epochs each, lr $5\\cdot10^{-5}$\nsame architecture,\nsame initialisation",
              ha="center", va="center", fontsize=8, style="italic")

    ax_b.set_title("(b) interpolate the weights, not the images", fontsize=11)
    ax_b.text(0.5, 0.9, "$\\theta(\\alpha) = (1-\\alpha)\\,\\theta_{SN} + \\alpha\\,\\theta_{SN\\text{-}GAN}$",
              ha="center", va="center", fontsize=13)
    alphas = np.linspace(0, 1, 11)
    xs = 0.12 + 0.76 * alphas
    ax_b.plot([xs[0], xs[-1]], [0.55, 0.55], color="black", linewidth=1.2)
    cmap = plt.get_cmap("coolwarm")
    for a, x in zip(alphas, xs):
        ax_b.plot(x, 0.55, "o", color=cmap(a), markersize=9, markeredgecolor="black")
    for a in (0.0, 0.5, 1.0):
        ax_b.text(0.12 + 0.76 * a, 0.63, f"$\\alpha={a:g}$", ha="center", fontsize=9)
    ax_b.text(0.12, 0.44, "SN\nsmooth, high PSNR/SSIM\n(low distortion)", ha="center", va="top", fontsize=8.5, color="#08519c")
    ax_b.text(0.88, 0.44, "SN-GAN\nsharp textures, may\nhallucinate (perception)", ha="center", va="top", fontsize=8.5, color="#a63603")
    ax_b.text(0.5, 0.2, "interpSN\n(paper: $\\alpha=0.5$)", ha="center", va="top", fontsize=8.5)
    ax_b.text(0.5, 0.03, "one forward pass per $\\alpha$, no retraining: slide $\\alpha$ at test time",
              ha="center", va="bottom", fontsize=8, style="italic")
    return fig
