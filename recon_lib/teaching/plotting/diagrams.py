"""Box-and-arrow drawings: the paper's idea in one picture, the unrolled SN and its Down-Up block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from recon_lib.core.checks import check_int
from recon_lib.teaching.plotting._common import DEFAULT_DPI, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["interpolation_schematic", "sn_diagram"]


def _box(
    ax: Any,
    xy: tuple[float, float],
    text: str,
    colour: str,
    width: float = 0.24,
    height: float = 0.16,
    fontsize: float = 9,
) -> None:
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
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], colour: str = "black", **kw: Any) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=colour, linewidth=1.2, **kw))


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

    ax_a.set_title("(a) training recipe:\none start, two fine-tunings", fontsize=11)
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

    ax_b.set_title("(b) interpolate the weights\n(notebook 07 compares it with blending the images)", fontsize=11)
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


_BLOCK = "#9ecae1"  # Down-Up block
_DC = "#fdd0a2"  # data consistency
_DATA = "#e5f5e0"  # measured data
_PLAIN = "#eeeeee"  # images


def _draw_unrolled(ax: Any, num_cascades: int) -> None:
    """Panel (a): x0 = E^H y -> N x (Down-Up -> DC) -> x_N, the data entering every DC layer."""
    ax.set_title(f"(a) the unrolled SN: {num_cascades} cascades, each a Down-Up block then coil-wise DC", fontsize=11)
    shown = [1, 2, num_cascades] if num_cascades > 3 else list(range(1, num_cascades + 1))
    y, pad, gap = 0.42, 0.015, 0.028  # the boxes' centre line, their rounded pad, the free space between boxes
    cursor = 0.0  # the left edge of the next box, pad included

    def place(text: str, colour: str, width: float) -> tuple[float, float]:
        nonlocal cursor
        centre = cursor + pad + width / 2
        _box(ax, (centre, y), text, colour, width=width, height=0.3, fontsize=8.5)
        left, cursor = cursor, cursor + width + 2 * pad + gap
        return left, centre

    dc_centres: list[float] = []
    place("zero-filled\nSENSE image\n$x_0 = E^H y$", _PLAIN, 0.085)
    for i, n in enumerate(shown):
        if i and n != shown[i - 1] + 1:
            ax.text(cursor + 0.01, y, "$\\cdots$", ha="center", va="center", fontsize=16)
            _arrow(ax, (cursor - gap, y), (cursor, y))
            cursor += 0.02 + gap
        block_left, block_centre = place(f"Down-Up\nblock {n}\n$x + R_{{\\theta_{{{n}}}}}(x)$", _BLOCK, 0.07)
        _arrow(ax, (block_left - gap, y), (block_left, y))
        dc_left, dc_centre = place(f"DC {n}\ncoil-wise\nin k-space", _DC, 0.065)
        _arrow(ax, (dc_left - gap, y), (dc_left, y))
        dc_centres.append(dc_centre)
        ax.text(
            (block_centre + dc_centre) / 2, 0.2, f"cascade {n}", ha="center", va="top", fontsize=8.5, style="italic"
        )
    output_left, _ = place(f"output\n$x_{{{num_cascades}}}$", _PLAIN, 0.06)
    _arrow(ax, (output_left - gap, y), (output_left, y))
    ax.set_xlim(-0.01, cursor)
    middle = cursor / 2
    for dc_centre in dc_centres:
        _arrow(ax, (middle, 0.86), (dc_centre, y + 0.15 + pad), colour="#31a354", linestyle="--")
    _box(ax, (middle, 0.92), "measured k-space $M y_c$, mask $M$, coil maps $S_c$ (every DC layer gets them)", _DATA,
         width=0.62 * cursor, height=0.1)  # fmt: skip


_LEVELS = ((0.84, "H \u00d7 W"), (0.56, "H/2 \u00d7 W/2"), (0.3, "H/4 \u00d7 W/4"))


def _draw_down_up(ax: Any, features: int) -> None:
    """Panel (b): the Down-Up block's levels F, 2F, 4F, stride-2 downs, PixelShuffle ups, skips, residual."""
    f = features
    ax.set_title(f"(b) one Down-Up block (F = {f}): a U with two scales down and back, skips and a global residual",
                 fontsize=11)  # fmt: skip
    (y1, _), (y2, _), (y3, _) = _LEVELS
    _box(ax, (0.04, y1), "input $x$\ncomplex $H \\times W$\n= 2 channels\n(real, imag)", _PLAIN, 0.1, 0.2, 8.5)
    _box(ax, (0.215, y1), f"head 3\u00d73 conv 2\u2192{f}\n+ residual pair\n{f} ch", _BLOCK, 0.12, 0.2, 8.5)
    _box(ax, (0.31, y2), f"3\u00d73 conv, stride 2\n{f}\u2192{2 * f}, + residual\n{2 * f} ch", _BLOCK, 0.13, 0.17, 8.5)
    _box(
        ax, (0.5, y3), f"3\u00d73 conv, stride 2\n{2 * f}\u2192{4 * f}, + residual\n{4 * f} ch", _BLOCK, 0.14, 0.17, 8.5
    )
    up = "1\u00d71 conv, PixelShuffle(2)\n\u2192{}, concat skip, 1\u00d71\n+ {}, {} ch"
    _box(ax, (0.69, y2), up.format(2 * f, "residual", 2 * f), _BLOCK, 0.16, 0.17, 8.5)
    _box(ax, (0.8, y1), up.format(f, "residual pair", f), _BLOCK, 0.15, 0.2, 8.5)
    _box(ax, (0.8, y3), f"tail 3\u00d73 conv\n{f}\u21922 channels", _BLOCK, 0.11, 0.14, 8.5)
    ax.add_patch(Circle((0.94, y3), 0.022, facecolor="white", edgecolor="black"))
    ax.text(0.94, y3, "+", ha="center", va="center", fontsize=12)
    _box(ax, (0.94, y2), "output\n$x + R(x)$", _PLAIN, 0.08, 0.14, 8.5)
    arrows = (
        ((0.105, y1), (0.14, y1)),  # input -> head
        ((0.215, y1 - 0.115), (0.26, y2 + 0.09)),  # down 1
        ((0.33, y2 - 0.085), (0.45, y3 + 0.085)),  # down 2
        ((0.57, y3 + 0.04), (0.67, y2 - 0.085)),  # up 1
        ((0.72, y2 + 0.085), (0.78, y1 - 0.1)),  # up 2
        ((0.8, y1 - 0.115), (0.8, y3 + 0.085)),  # -> tail
        ((0.87, y3), (0.918, y3)),  # tail -> sum
        ((0.94, y3 + 0.022), (0.94, y2 - 0.085)),  # sum -> output
    )
    for start, end in arrows:
        _arrow(ax, start, end)
    for (x0, x1, y), label in (((0.29, 0.71, y1 + 0.02), "skip 1"), ((0.39, 0.595, y2 + 0.02), "skip 2")):
        _arrow(ax, (x0, y), (x1, y), colour="#756bb1", linestyle="--")
        ax.text((x0 + x1) / 2, y + 0.015, label, ha="center", va="bottom", fontsize=8.5, color="#756bb1")
    residual = "#d95f0e"
    ax.plot([0.04, 0.04, 0.94], [y1 - 0.115, 0.06, 0.06], color=residual, linestyle=":", linewidth=1.2)
    _arrow(ax, (0.94, 0.06), (0.94, y3 - 0.022), colour=residual, linestyle=":")
    ax.text(0.5, 0.045, "global residual: the block adds its correction to its input", ha="center", va="top",
            fontsize=8.5, color=residual)  # fmt: skip
    for y, grid in _LEVELS:
        ax.text(-0.095, y, grid, ha="left", va="center", fontsize=8.5, color="#555555")
    note = "down: stride-2 convs halve the grid; up: PixelShuffle doubles it back; every 3\u00d73 conv has a PReLU"
    ax.text(0.5, 0.17, note, ha="center", va="top", fontsize=8, style="italic")
    ax.set_xlim(-0.1, 1.0)


def sn_diagram(num_cascades: int = 5, features: int = 16, dpi: int = DEFAULT_DPI) -> Figure:
    """The unrolled sensitivity network (a) and one of its Down-Up blocks (b), boxes and arrows.

    (a): the zero-filled SENSE image ``x0 = E^H y`` passes ``num_cascades`` cascades, each a Down-Up
    block ``x + R_n(x)`` then coil-wise data consistency in k-space, which receives the measured
    k-space, the mask and the coil maps. (b): the block of
    :class:`~recon_lib.models.down_up.DownUpBlock`: levels ``F``, ``2F``, ``4F`` at full, half and
    quarter resolution, stride-2 convolutions down, 1x1 convolution + PixelShuffle up, a skip per
    level and the global residual.

    Args:
        num_cascades: ``N`` (the shipped SN: 5, the paper: 10); more than 3 are drawn as 1, 2, ..., N.
        features: the block's width ``F``.
        dpi: figure resolution.

    Returns:
        The figure with the two panels.
    """
    num_cascades = check_int("num_cascades", num_cascades, minimum=1)
    features = check_int("features", features, minimum=1)
    fig, (ax_a, ax_b) = pyplot().subplots(2, 1, figsize=(12, 8.2), dpi=dpi, gridspec_kw={"height_ratios": [1, 1.55]})
    for ax in (ax_a, ax_b):
        ax.set_ylim(0, 1)
        ax.axis("off")
    _draw_unrolled(ax_a, num_cascades)
    _draw_down_up(ax_b, features)
    fig.tight_layout()
    return fig
