"""The paper's idea in one picture."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from recon_lib.teaching.plotting._common import DEFAULT_DPI, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["interpolation_schematic"]


def _box(ax: Any, xy: tuple[float, float], text: str, colour: str, width: float = 0.24, height: float = 0.16) -> None:
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.015",
            facecolor=colour,
            edgecolor="black",
            linewidth=1,
        )
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
    fig, (ax_a, ax_b) = pyplot().subplots(1, 2, figsize=(11, 3.8), dpi=dpi, gridspec_kw={"width_ratios": [1.15, 1]})
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
    ax_a.text(
        0.72,
        0.5,
        "10 epochs each, lr $5\\cdot10^{-5}$\nsame architecture,\nsame initialisation",
        ha="center",
        va="center",
        fontsize=8,
        style="italic",
    )

    ax_b.set_title("(b) interpolate the weights (notebook 07 compares it with blending the images)", fontsize=11)
    ax_b.text(
        0.5,
        0.9,
        "$\\theta(\\alpha) = (1-\\alpha)\\,\\theta_{SN} + \\alpha\\,\\theta_{SN\\text{-}GAN}$",
        ha="center",
        va="center",
        fontsize=13,
    )
    alphas = np.linspace(0, 1, 11)
    xs = 0.12 + 0.76 * alphas
    ax_b.plot([xs[0], xs[-1]], [0.55, 0.55], color="black", linewidth=1.2)
    cmap = pyplot().get_cmap("coolwarm")
    for a, x in zip(alphas, xs, strict=True):
        ax_b.plot(x, 0.55, "o", color=cmap(a), markersize=9, markeredgecolor="black")
    for a in (0.0, 0.5, 1.0):
        ax_b.text(0.12 + 0.76 * a, 0.63, f"$\\alpha={a:g}$", ha="center", fontsize=9)
    ax_b.text(
        0.12, 0.44, "SN\nsmooth, high PSNR/SSIM\n(low distortion)", ha="center", va="top", fontsize=8.5, color="#08519c"
    )
    ax_b.text(
        0.88,
        0.44,
        "SN-GAN\nsharp textures, may\nhallucinate (perception)",
        ha="center",
        va="top",
        fontsize=8.5,
        color="#a63603",
    )
    ax_b.text(0.5, 0.2, "interpSN\n(paper: $\\alpha=0.5$)", ha="center", va="top", fontsize=8.5)
    ax_b.text(
        0.5,
        0.03,
        "one forward pass per $\\alpha$, no retraining: slide $\\alpha$ at test time",
        ha="center",
        va="bottom",
        fontsize=8,
        style="italic",
    )
    return fig
