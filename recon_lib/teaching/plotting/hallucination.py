"""A hallucination shown against the noise-free truth: where the SN-GAN's fine detail departs most from it.

:func:`plot_hallucination` draws the box of :func:`recon_lib.metrics.hallucination.hallucination_box`
(the rule is stated there: the fixed-size box where the SN-GAN's fine-detail error exceeds the SN's
most): the truth, the SN and the SN-GAN zoomed on it, their differences from the truth on one
symmetric scale, and the excess map over the whole slice with the box, so the reader sees where the
rule looked and what it found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from recon_lib.metrics.hallucination import HALLUCINATION_BOX, detail_errors, excess_detail, hallucination_box
from recon_lib.teaching.plotting._common import DEFAULT_DPI, image2d, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_hallucination"]

BOX_COLOUR = "#ffcc00"  # the zoom box's yellow, as in zoom_crop and the explorers


def _outline(ax: Any, box: tuple[int, int, int, int]) -> None:
    from matplotlib.patches import Rectangle

    top, left, h, w = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor=BOX_COLOUR, linewidth=1.5))


def _zoom_row(axes: Any, truth: np.ndarray, shown: Mapping[str, np.ndarray], box: tuple[int, int, int, int]) -> None:
    """The truth whole (box drawn), then the zooms of the truth and of each image on one grey window."""
    top, left, h, w = box
    window = (slice(top, top + h), slice(left, left + w))
    white = float(np.percentile(truth, 99.5)) or float(np.abs(truth).max()) or 1.0
    axes[0].imshow(truth, cmap="gray", vmin=0, vmax=white)
    _outline(axes[0], box)
    axes[0].set_title("noise-free truth", fontsize=10)
    zooms = {"truth": truth[window], **{name: image[window] for name, image in shown.items()}}
    # one grey window for the three zooms, stretched to the box's own range so that fine detail shows
    low, high = np.percentile(np.concatenate([z.ravel() for z in zooms.values()]), [0.5, 99.5])
    for ax, (name, zoom) in zip(axes[1:], zooms.items(), strict=True):
        ax.imshow(zoom, cmap="gray", vmin=low, vmax=max(float(high), float(low) + 1e-12), interpolation="nearest")
        ax.set_title(f"{name} (zoom)", fontsize=10)


def _caption(ax: Any, numbers: Mapping[str, Any], base: str, candidate: str) -> None:
    relative = numbers["relative"]
    ax.text(
        0.0,
        0.5,
        "fine-detail error energy\nin the box, in units of the\ntruth's own detail there:\n\n"
        f"{base}: {relative[base]:.2f}\n{candidate}: {relative[candidate]:.2f}\n"
        f"({numbers['ratio']:.1f}× the {base}'s)",
        ha="left",
        va="center",
        fontsize=9.5,
        transform=ax.transAxes,
    )
    ax.set_axis_off()


def plot_hallucination(
    truth: Any,
    images: Mapping[str, Any],
    box: tuple[int, int, int, int] | None = None,
    foreground: Any | None = None,
    size: int = HALLUCINATION_BOX,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """The truth, a base and a candidate reconstruction at ``box``, and their differences from the truth.

    Args:
        truth: the noise-free image ``(H, W)`` (magnitude).
        images: ``{name: image}``, the base first and the candidate second (``{"SN": ..., "SN-GAN": ...}``).
        box: ``(top, left, height, width)``; None: the rule's box
            (:func:`~recon_lib.metrics.hallucination.hallucination_box` of ``size`` pixels in ``foreground``).
        foreground: the mask the excess is counted in (None: the whole slice).

    Top row: the truth with the box, then the zooms of the truth and of each image on one grey window.
    Bottom row: the excess map ``high_pass(candidate - truth)**2 - high_pass(base - truth)**2`` over the
    slice (red: the candidate's fine detail departs further from the truth's than the base's), the box's
    numbers (:func:`~recon_lib.metrics.hallucination.detail_errors`), and each image minus the truth in
    the zoom, on one symmetric scale in % of the truth's white level (its 99.5th percentile).
    """
    t = image2d("truth", truth)
    shown = {str(name): image2d(str(name), x) for name, x in images.items()}
    if len(shown) != 2:
        raise ValueError(f"images must hold two reconstructions (base, candidate), got {list(shown)}")
    (base_name, base), (cand_name, cand) = shown.items()
    mask = None if foreground is None else image2d("foreground", foreground, part="real") > 0
    if box is None:
        box = hallucination_box(t, base, cand, mask=mask, size=size)
    numbers = detail_errors(t, shown, box)
    top, left, h, w = (int(v) for v in box)  # checked by detail_errors
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(10.4, 5.6), dpi=dpi, layout="constrained")
    _zoom_row(axes[0], t, shown, (top, left, h, w))
    excess = excess_detail(t, base, cand, mask)
    limit = float(np.percentile(np.abs(excess), 99.9)) or 1.0
    axes[1, 0].imshow(excess, cmap="RdBu_r", vmin=-limit, vmax=limit)
    _outline(axes[1, 0], (top, left, h, w))
    axes[1, 0].set_title(f"excess fine-detail error\nred: {cand_name}'s larger, blue: {base_name}'s", fontsize=9)
    _caption(axes[1, 1], numbers, base_name, cand_name)
    white = float(np.percentile(t, 99.5)) or float(np.abs(t).max()) or 1.0
    window = (slice(top, top + h), slice(left, left + w))
    diffs = {name: 100 * (image[window] - t[window]) / white for name, image in shown.items()}
    scale = max(float(np.abs(d).max()) for d in diffs.values()) or 1.0
    for ax, (name, diff) in zip(axes[1, 2:], diffs.items(), strict=True):
        bar = ax.imshow(diff, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(f"{name} − truth (zoom)", fontsize=10)
    fig.colorbar(bar, ax=list(axes[1, 2:]), shrink=0.9, label="% of the truth's white level")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
