"""k-space and sampling: log-magnitude k-space, masks and their point-spread functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from recon_lib.core.tensors import squeeze_leading
from recon_lib.teaching.plotting._common import (
    DEFAULT_DPI,
    ArrayLike,
    add_colorbar,
    as_dict,
    axes_grid,
    pyplot,
    to_numpy,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["log_kspace", "mask_and_psf"]


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
    items = as_dict("kspace", kspace, title)
    panels: dict[str, np.ndarray] = {}
    for name, value in items.items():
        arr = to_numpy(f"kspace[{name!r}]" if isinstance(kspace, Mapping) else "kspace", value)
        arr = squeeze_leading(arr, 3)
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
    fig, axes = axes_grid(len(logs), ncols, (panel_size * 1.3, panel_size * h / w + 0.6), dpi, layout="constrained")
    for ax, (name, img) in zip(axes, logs.items(), strict=True):
        im = ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"ky (phase encode, W = {w})", fontsize=8)
        ax.set_ylabel(f"kx (readout, H = {h})", fontsize=8)
        ax.tick_params(labelsize=7)
        add_colorbar(fig, im, ax, "log10 |k| (a.u.)")
    return fig


def _mask_1d(name: str, mask: ArrayLike) -> np.ndarray:
    arr = to_numpy(name, mask)
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
    items = as_dict("masks", masks, "mask")
    cols = {k: _mask_1d(f"masks[{k!r}]", v) for k, v in items.items()}
    n = len(cols)
    fig, axes = pyplot().subplots(
        n, 3, figsize=(3.3 * panel_size, panel_size * 0.95 * n + 0.3), dpi=dpi, squeeze=False, layout="constrained"
    )
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
        ax_1.axhline(
            float(side.max()), color="C3", linestyle="--", linewidth=0.8, label=f"peak side lobe {side.max():.2f}"
        )
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
            np.log10(psf2 + 1e-3),
            cmap="magma",
            vmin=-3,
            vmax=0,
            aspect="auto",
            interpolation="nearest",
            extent=(-hw - 0.5, hw + 0.5, hh + 0.5, -hh - 0.5),
        )
        ax_2.set_title("2-D PSF: spreads along W only", fontsize=9)
        ax_2.set_xlabel("offset along W", fontsize=8)
        ax_2.set_ylabel("offset along H", fontsize=8)
        ax_2.tick_params(labelsize=7)
        add_colorbar(fig, im, ax_2, "log10 |PSF| / peak")
    return fig
