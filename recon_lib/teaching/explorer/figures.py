"""The alpha explorer's static outputs: a matplotlib grid (for where widgets do not render) and the export.

:func:`static_grid` draws network interpolation against image blending at a few alphas as one
figure, for places where widgets do not render (a static HTML export, a PDF); :func:`export_view`
writes a view's figure, state and metrics so that a figure in a report can be re-made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recon_lib.metrics.texture import high_pass
from recon_lib.teaching.explorer.display import Display, nice_ceiling
from recon_lib.teaching.explorer.mixing import KINDS, NetworkMix, Point, alpha_point, shown_metrics

__all__ = ["static_grid", "export_view"]


def export_view(folder: str | os.PathLike, stem: str, figure: Any, state: Mapping[str, Any]) -> list[Path]:
    """Write ``stem.png`` (``figure``), ``stem.json`` (``state``) and ``stem.csv`` (the metrics of both
    kinds, one row each) into ``folder``; each file to a temporary name, renamed when complete.

    Returns:
        The three paths.
    """
    import csv
    import json

    import matplotlib.pyplot as plt

    from recon_lib.core.atomic import atomic_path

    folder = Path(folder)
    paths = [folder / f"{stem}.{ext}" for ext in ("png", "json", "csv")]
    try:
        with atomic_path(paths[0]) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(figure)
    with atomic_path(paths[1]) as tmp:
        Path(tmp).write_text(json.dumps(state, indent=1))
    with atomic_path(paths[2]) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        names = list(shown_metrics(*(state["metrics"][kind] for kind in KINDS)))
        writer.writerow(["kind", "alpha", *names])
        for kind in KINDS:
            writer.writerow([kind, state["alpha"], *(state["metrics"][kind][k] for k in names)])
    return paths


def static_grid(mix: NetworkMix, display: Display, alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> Any:
    """A matplotlib figure of the comparison at a few alphas (for where widgets do not render).

    Rows: the reference; the interpolated network (full slice with the crop box, then the
    zoom); image blending (zoom); the signed difference ``|x(alpha)| - |x_SN|`` of the network
    (zoom) on its own symmetric colour scale (red: brighter than the SN, blue: darker), shared by
    the columns; the texture: the zoom's high-pass part (above the HF-energy ratio's cutoff) on one
    grey scale, the reference's in the first column. Titles carry PSNR / SSIM of each image.

    Args:
        mix: a two-model :class:`~recon_lib.teaching.explorer.mixing.NetworkMix` (SN, SN-GAN).
        display: the slice's display (zoom box, white level).
        alphas: one or more values in ``[0, 1]``.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    if isinstance(alphas, (int, float)) or len(alphas) == 0:
        raise ValueError(f"alphas must be a non-empty sequence of values in [0, 1], got {alphas!r}")
    points = [mix.point(alpha_point(a)) for a in alphas]
    import matplotlib.pyplot as plt

    _, _, h, w = display.crop_box
    rh, rw = mix.reference.shape
    panel = 1.85
    fig, axes = plt.subplots(
        5,
        len(points) + 1,
        figsize=(panel * (len(points) + 1), panel * (rh / rw + 4 * h / w) + 1.4),
        dpi=72,
        squeeze=False,
        layout="constrained",
        height_ratios=[rh / rw, h / w, h / w, h / w, h / w],
    )
    _label_column(axes[:, 0], mix.reference, display)
    # the texture row: each zoom's high-pass (the HF-energy ratio's band), one grey scale for every column
    texture = [_zoomed_high_pass(mix.reference, display)] + [_zoomed_high_pass(p.network, display) for p in points]
    texture_limit = float(np.percentile(np.abs(texture[0]), 99.5)) or 1.0
    for j, part in enumerate(texture):
        axes[4, j].imshow(part, cmap="gray", vmin=-texture_limit, vmax=texture_limit, interpolation="nearest")
        axes[4, j].set_title(
            "texture: high-pass" if j == 0 else f"high-pass, α={points[j - 1].weights[1]:.2f}", fontsize=9
        )
        axes[4, j].set_xticks([])
        axes[4, j].set_yticks([])
    # in per cent of the display's white level, so the numbers read without knowing the scan's scale
    top, left = display.crop_box[:2]
    diffs = [100 * mix.difference(p.weights)[top : top + h, left : left + w] / display.white for p in points]
    limit = nice_ceiling(max(float(np.abs(d).max()) for d in diffs) or 1e-12)
    shown = [
        _alpha_column(axes[:, j], point, diff, limit, display)
        for j, (point, diff) in enumerate(zip(points, diffs, strict=True), start=1)
    ][-1]
    fig.colorbar(shown, ax=axes[3, 1:].tolist(), shrink=0.9, label="Δ (% of white level)")
    fig.suptitle("Network interpolation vs image blending (PSNR / SSIM on the foreground)", fontsize=11)
    return fig


def _zoomed_high_pass(image: np.ndarray, display: Display) -> np.ndarray:
    """The zoom box of ``image``'s high-pass part (:func:`~recon_lib.metrics.texture.high_pass`, whole slice)."""
    top, left, h, w = display.crop_box
    return high_pass(np.asarray(image, dtype=np.float64))[top : top + h, left : left + w]


def _show(ax: Any, image: np.ndarray, title: str, display: Display, box: bool = False, crop: bool = False) -> None:
    """``image`` in grey from 0 to the white level, whole with the zoom box (``box``) or its zoom (``crop``)."""
    from matplotlib.patches import Rectangle

    top, left, h, w = display.crop_box
    shown = image[top : top + h, left : left + w] if crop else image
    ax.imshow(shown, cmap="gray", vmin=0.0, vmax=display.white, interpolation="nearest")
    if box:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor="#ffcc00", linewidth=1.2))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _label_column(axes: Any, reference: np.ndarray, display: Display) -> None:
    """The first column: the reference (whole and zoomed) and what the rows below show."""
    _show(axes[0], reference, "reference", display, box=True)
    _show(axes[1], reference, "reference (zoom)", display, crop=True)
    axes[2].axis("off")
    axes[2].text(0.5, 0.5, "rows 2-4: zoom\nnetwork interp.\nvs image blend", ha="center", va="center", fontsize=9)
    axes[3].axis("off")
    axes[3].text(
        0.5,
        0.5,
        "|x(α)| − |x_SN|\n(zoom, own scale)\nred: brighter\nblue: darker",
        ha="center",
        va="center",
        fontsize=9,
    )


def _alpha_column(axes: Any, point: Point, diff: np.ndarray, limit: float, display: Display) -> Any:
    """One alpha's column: network (whole, zoom), blend (zoom), the difference from the SN; returns
    the difference's image (for the shared colour bar)."""
    alpha = point.weights[1]
    m, b = point.network_metrics, point.blend_metrics
    _show(axes[0], point.network, f"θ(α={alpha:.2f})\n{m['psnr']:.2f} dB / {m['ssim']:.4f}", display, box=True)
    _show(axes[1], point.network, "network (zoom)", display, crop=True)
    _show(axes[2], point.blend, f"image blend (zoom)\n{b['psnr']:.2f} dB / {b['ssim']:.4f}", display, crop=True)
    shown = axes[3].imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    axes[3].set_title(f"α={alpha:.2f} − SN\nmax |Δ| {np.abs(diff).max():.2g} %", fontsize=9)
    axes[3].set_xticks([])
    axes[3].set_yticks([])
    return shown
