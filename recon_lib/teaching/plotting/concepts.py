"""Figures that explain a concept on a real slice: SSIM's three terms, the g-factor, the SN's cascades.

* :func:`ssim_terms` -- the local luminance, contrast and structure maps whose product is SSIM.
* :func:`plot_ssim_terms` -- the reference, the reconstruction and the three maps with their means.
* :func:`plot_gfactor` -- a g-factor map (log scale) beside a reconstruction.
* :func:`cascade_outputs` -- the SN's image after each cascade (its intermediate outputs).
* :func:`plot_cascades` -- those images and their error maps, one column per cascade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recon_lib.teaching.plotting._common import DEFAULT_DPI, image2d, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ssim_terms", "plot_ssim_terms", "plot_gfactor", "cascade_outputs", "plot_cascades"]


def _box_mean(x: np.ndarray, win: int) -> np.ndarray:
    """The mean over every ``win`` x ``win`` window (valid positions only)."""
    table = np.pad(x.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (table[win:, win:] - table[:-win, win:] - table[win:, :-win] + table[:-win, :-win]) / (win * win)


def ssim_terms(
    x: Any, y: Any, data_range: float, win_size: int = 7, k1: float = 0.01, k2: float = 0.03
) -> dict[str, np.ndarray]:
    """The three local terms of SSIM (Wang et al. 2004), on the fastMRI window (7 x 7 uniform, sample variances).

    ``luminance = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)``,
    ``contrast = (2 sigma_x sigma_y + C2) / (sigma_x^2 + sigma_y^2 + C2)``,
    ``structure = (sigma_xy + C3) / (sigma_x sigma_y + C3)`` with ``C3 = C2 / 2``; their product is the SSIM
    map of :func:`recon_lib.metrics.ssim.ssim` (``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``).

    Returns:
        ``{"luminance", "contrast", "structure", "ssim"}``, each ``(H - w + 1, W - w + 1)``.
    """
    a, b = image2d("x", x).astype(np.float64), image2d("y", y).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"x {a.shape} and y {b.shape} must have one shape")
    n = win_size * win_size
    mx, my = _box_mean(a, win_size), _box_mean(b, win_size)
    vx = np.maximum(n / (n - 1) * (_box_mean(a * a, win_size) - mx * mx), 0.0)
    vy = np.maximum(n / (n - 1) * (_box_mean(b * b, win_size) - my * my), 0.0)
    cxy = n / (n - 1) * (_box_mean(a * b, win_size) - mx * my)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    sx, sy = np.sqrt(vx), np.sqrt(vy)
    terms = {
        "luminance": (2 * mx * my + c1) / (mx * mx + my * my + c1),
        "contrast": (2 * sx * sy + c2) / (vx + vy + c2),
        "structure": (cxy + c2 / 2) / (sx * sy + c2 / 2),
    }
    terms["ssim"] = terms["luminance"] * terms["contrast"] * terms["structure"]
    return terms


def plot_ssim_terms(
    reference: Any,
    reconstruction: Any,
    data_range: float,
    title: str = "reconstruction",
    dpi: int = DEFAULT_DPI,
    foreground: Any | None = None,
) -> Figure:
    """The reference, the reconstruction, and SSIM's luminance, contrast and structure maps and their product.

    Each map's title gives its mean, and says over which region: the ``foreground`` (an image-size mask,
    mapped onto the SSIM map as :func:`recon_lib.metrics.ssim.crop_mask_to_ssim_map` does, so the product's
    mean is the SSIM that ``volume_metrics`` reports with that mask) or, without one, the whole map. The
    colour scale is fixed to [0, 1] for the four maps (1 = the two images agree in that respect), so
    where a term falls is where it costs SSIM.
    """
    plt = pyplot()
    terms = ssim_terms(reconstruction, reference, data_range)
    region, where = np.ones(terms["ssim"].shape, dtype=bool), "over the map"
    if foreground is not None:
        pad = (7 - 1) // 2
        mask = image2d("foreground", foreground, part="real") > 0
        region, where = mask[pad : mask.shape[0] - pad, pad : mask.shape[1] - pad], "over the foreground"
        if region.shape != terms["ssim"].shape or not region.any():
            raise ValueError(f"foreground must be a non-empty mask of the images' shape, got {mask.shape}")
    fig, axes = plt.subplots(2, 3, figsize=(9.6, 6.6), dpi=dpi)
    for ax, image, name in ((axes[0, 0], reference, "reference"), (axes[0, 1], reconstruction, title)):
        ax.imshow(image2d(name, image), cmap="gray", vmin=0, vmax=data_range)
        ax.set_title(name, fontsize=10)
    labels = {
        "ssim": (axes[0, 2], "SSIM = l · c · s"),
        "luminance": (axes[1, 0], "luminance l: local means"),
        "contrast": (axes[1, 1], "contrast c: local std devs"),
        "structure": (axes[1, 2], "structure s: local correlation"),
    }
    for key, (ax, label) in labels.items():
        shown = ax.imshow(terms[key], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{label}\nmean {where} {terms[key][region].mean():.3f}", fontsize=10)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.colorbar(shown, ax=list(axes.flat), fraction=0.025, pad=0.02, label="1 = the two images agree")
    return fig


def plot_gfactor(
    gfactors: Mapping[str, np.ndarray],
    reconstruction: Any,
    title: str = "CG-SENSE",
    dpi: int = DEFAULT_DPI,
    foreground: Any | None = None,
) -> Figure:
    """A reconstruction beside g-factor maps (``{"title": g}``), on one log colour scale around g = 1.

    With ``foreground`` (an image-size mask) the maps are shown and summarised inside it only (outside the
    object the coil maps vanish and g means nothing); each title gives the median there. The scale spans
    the maps' 1st to 99th percentiles and always includes 1 (below 1: the method smooths noise away).
    """
    from matplotlib.colors import LogNorm

    plt = pyplot()
    maps = {name: np.asarray(g, dtype=np.float64).copy() for name, g in gfactors.items()}
    where = "in the map"
    if foreground is not None:
        inside = image2d("foreground", foreground, part="real") > 0
        for name, g in maps.items():
            if g.shape != inside.shape:
                raise ValueError(f"{name}: the map {g.shape} and the foreground {inside.shape} differ in shape")
            g[~inside] = np.nan
        where = "in the knee"
    finite = np.concatenate([g[np.isfinite(g)] for g in maps.values()]) if maps else np.array([])
    if finite.size == 0:
        raise ValueError("the g-factor maps hold no finite value")
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(3.4 * (1 + len(maps)) + 0.8, 4.1), dpi=dpi)
    image = image2d("reconstruction", reconstruction)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=float(np.percentile(image, 99.5)))
    axes[0].set_title(title, fontsize=10)
    low, high = np.percentile(finite, [1, 99])
    vmin, vmax = min(0.5, float(low)), max(2.0, float(high))
    norm = LogNorm(vmin=vmin, vmax=vmax)
    for ax, (name, g) in zip(axes[1:], maps.items(), strict=True):
        ax.set_facecolor("black")
        shown = ax.imshow(g, cmap="magma", norm=norm)
        ax.set_title(f"{name}\nmedian g {where} = {np.nanmedian(g):.3g}", fontsize=10)
    bar = fig.colorbar(shown, ax=list(axes[1:]), fraction=0.03, pad=0.02, label="g (log scale; 1 = no extra noise)")
    ticks = [t for t in (0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e4, 1e5, 1e6) if vmin <= t <= vmax]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    bar.ax.minorticks_off()
    for ax in axes:
        ax.set_axis_off()
    return fig


def cascade_outputs(
    model: torch.nn.Module, kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor
) -> list[torch.Tensor]:
    """The SN's image before the first cascade (``E^H y``) and after each cascade, ``K + 1`` complex ``(B, H, W)``.

    Runs the network's own layers in its own order: ``x_{k+1} = DC_k(R_k(x_k))``; the last image equals
    ``model(kspace, maps, mask)``.
    """
    from recon_lib.physics.coils import sens_reduce

    for name in ("regularisers", "dc", "num_cascades", "shared_weights"):
        if not hasattr(model, name):
            raise TypeError(f"{type(model).__name__} is not a SensitivityNetwork (it has no {name!r})")
    regularisers, dcs = getattr(model, "regularisers"), getattr(model, "dc")  # noqa: B009 -- any SN-shaped module
    cascades, shared = int(getattr(model, "num_cascades")), bool(getattr(model, "shared_weights"))  # noqa: B009
    x = sens_reduce(kspace, maps, mask)
    images = [x]
    with torch.inference_mode():
        for n in range(cascades):
            i = 0 if shared else n
            x = dcs[i](regularisers[i](x), kspace, maps, mask)
            images.append(x)
    return images


def plot_cascades(
    images: list[Any], reference: Any, crop: tuple[int, int], psnrs: list[float] | None = None, dpi: int = DEFAULT_DPI
) -> Figure:
    """One column per stage (``E^H y``, cascade 1, ..., K): the image (cropped to ``crop`` (rh, rw) about
    the centre) above its error against ``reference`` in % of the reference's maximum, on one scale."""
    from recon_lib.core.tensors import center_crop

    plt = pyplot()
    ref = image2d("reference", reference)
    peak = float(ref.max()) or 1.0
    shown = [image2d(f"stage {k}", center_crop(torch.as_tensor(im).cpu(), crop)) for k, im in enumerate(images)]
    errors = [100 * np.abs(im - ref) / peak for im in shown]
    top = float(np.percentile(errors[0], 99.5))
    fig, axes = plt.subplots(2, len(shown), figsize=(2.3 * len(shown), 5.0), dpi=dpi, squeeze=False)
    for k, (im, err) in enumerate(zip(shown, errors, strict=True)):
        name = "E^H y (input)" if k == 0 else f"after cascade {k}"
        label = f"\n{psnrs[k]:.2f} dB" if psnrs is not None else ""
        axes[0, k].imshow(im, cmap="gray", vmin=0, vmax=peak)
        axes[0, k].set_title(name + label, fontsize=9)
        bar = axes[1, k].imshow(err, cmap="inferno", vmin=0, vmax=top)
        for ax in axes[:, k]:
            ax.set_axis_off()
    axes[1, 0].set_title("|error| (% of max)", fontsize=9)
    fig.colorbar(bar, ax=list(axes[1]), fraction=0.02, pad=0.01, label="% of the reference's maximum")
    return fig
