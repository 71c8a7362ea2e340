"""The perception–distortion trade-off (Blau & Michaeli, CVPR 2018) as a sketch, with measured points on it.

Blau & Michaeli prove that for any distortion measure, the best perceptual quality a method can have
at a given distortion, ``P(D) = min P(p_X, p_Xhat)`` subject to ``E d(X, Xhat) <= D``, is a
non-increasing convex function of ``D``: below it lies a region no reconstruction method can reach,
whatever its architecture or training. Its exact shape is unknown for any real problem, so
:func:`plot_perception_distortion_sketch` draws it as a schematic convex curve kept below every
measured point (each measured point is attainable, so the bound passes under it), and places the
measured points of the α sweep on the same axes as the measured plane of
:func:`recon_lib.evaluation.sweep_plot.plot_alpha_sweep`: distortion NMSE (against the SENSE
reference), perception the texture gap ``|1 - HF-energy ratio|`` against the noise-free truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recon_lib.evaluation.sweep_plot import texture_gap
from recon_lib.teaching.plotting._common import DEFAULT_DPI, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["sketch_bound", "plot_perception_distortion_sketch"]


def sketch_bound(points: np.ndarray, margin: float = 0.8) -> tuple[float, float, float]:
    """A schematic bound under ``points`` ``(n, 2)`` of (distortion, perception): ``(d_min, d_zero, p_top)``.

    The curve is ``P(D) = p_top * ((d_zero - D) / (d_zero - d_min)) ** 2`` on ``[d_min, d_zero]`` (convex,
    decreasing, 0 from ``d_zero`` on); left of ``d_min`` nothing is attainable. ``d_min`` lies left of the
    least distortion measured, ``d_zero`` right of the largest, and ``p_top`` is the largest value that keeps
    the curve at most ``margin`` times each point's perception -- so every measured point is attainable.

    Example:
        >>> d_min, d_zero, p_top = sketch_bound(np.array([[1.0, 0.3], [2.0, 0.1]]))
        >>> d_min < 1.0 < 2.0 < d_zero and p_top > 0
        True
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"points must be a finite (n, 2) array of (distortion, perception), got shape {pts.shape}")
    low, high = float(pts[:, 0].min()), float(pts[:, 0].max())
    span = (high - low) or abs(high) * 0.1 or 1.0
    d_min, d_zero = low - 0.25 * span, high + 0.6 * span
    shape = ((d_zero - pts[:, 0]) / (d_zero - d_min)) ** 2  # in (0, 1): the curve's profile at each point
    p_top = float(np.min(margin * np.maximum(pts[:, 1], 0.0) / shape))
    return d_min, d_zero, p_top


def _sweep_points(records: Sequence[Mapping[str, Any]], acceleration: int, mode: str) -> tuple[list, np.ndarray]:
    rows = sorted(
        (r for r in records if r["acceleration"] == acceleration and r["mode"] == mode), key=lambda r: r["alpha"]
    )
    if not rows:
        found = sorted({(r["mode"], r["acceleration"]) for r in records})
        raise ValueError(f"no {mode!r} records at AF {acceleration} in the sweep (it has {found})")
    alphas = [float(r["alpha"]) for r in rows]
    return alphas, np.array([[float(r["nmse"]), texture_gap(dict(r))] for r in rows])


def _draw_bound(ax: Any, d_min: float, d_zero: float, p_top: float, d_right: float, p_high: float) -> None:
    """The schematic bound, the unattainable region below it (shaded) and their labels."""
    d = np.linspace(d_min, d_right, 200)
    p = p_top * np.clip((d_zero - d) / (d_zero - d_min), 0.0, None) ** 2
    ax.fill_between(d, 0.0, p, color="0.82", zorder=0)
    ax.axvspan(ax.get_xlim()[0], d_min, color="0.82", zorder=0)
    ax.plot(d, p, color="black", linewidth=1.6, label="the bound P(D) (schematic: its true shape is unknown)")
    ax.text(
        d_min + 0.08 * (d_zero - d_min),
        0.12 * p_top,
        "unattainable:\nno method, however\ntrained, gets here",
        fontsize=9,
        color="0.25",
    )
    left = ax.get_xlim()[0]
    ax.text(
        (left + d_min) / 2,
        0.5 * p_high,
        "least distortion possible",
        rotation=90,
        ha="center",
        va="center",
        fontsize=8,
        color="0.25",
    )
    ax.annotate(
        "perfect perception\ncosts distortion", (d_zero, 0.0), xytext=(-10, 22), textcoords="offset points",
        fontsize=8, ha="center", arrowprops=dict(arrowstyle="->", color="0.3"),
    )  # fmt: skip


def plot_perception_distortion_sketch(
    records: Sequence[Mapping[str, Any]], acceleration: int = 4, mode: str = "network", dpi: int = DEFAULT_DPI
) -> Figure:
    """The perception–distortion plane as a sketch: the unattainable region under a convex decreasing
    bound (schematic) and the measured α path of one acceleration on it (SN at α = 0, SN-GAN at α = 1).

    Args:
        records: the α sweep's records (``docs/results/evaluation/alpha_sweep.json``; each with ``mode``,
            ``acceleration``, ``alpha``, ``nmse`` and ``hf_energy_ratio_truth`` or ``hf_energy_ratio``).
        acceleration: which acceleration's path to place.
        mode: ``"network"`` (interpSN, network interpolation) or ``"image"`` (pixel blending).
    """
    alphas, pts = _sweep_points(records, acceleration, mode)
    d_min, d_zero, p_top = sketch_bound(pts)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=dpi, layout="constrained")
    d_right = d_zero + 0.15 * (d_zero - d_min)
    p_high = 1.25 * max(float(pts[:, 1].max()), p_top)
    ax.set_xlim(d_min - 0.12 * (d_zero - d_min), d_right)
    ax.set_ylim(0.0, p_high)
    _draw_bound(ax, d_min, d_zero, p_top, d_right, p_high)
    ax.plot(pts[:, 0], pts[:, 1], color="tab:blue", marker="o", ms=3.5, linewidth=1.2,
            label=f"interpSN, α = {alphas[0]:g} … {alphas[-1]:g} (measured, AF {acceleration})")  # fmt: skip
    for (name, i), offset in zip((("SN (α = 0)", 0), ("SN-GAN (α = 1)", -1)), ((8, 4), (8, 4)), strict=True):
        ax.plot(*pts[i], marker="o", ms=8, color="tab:blue", markeredgecolor="black", zorder=3)
        ax.annotate(name, tuple(pts[i]), xytext=offset, textcoords="offset points", fontsize=9, fontweight="bold")
    ax.set_xlabel("distortion: NMSE against the reference (lower is better)")
    ax.set_ylabel("perception: texture gap |1 − HF ratio|\nagainst the truth (lower is better)")
    ax.set_title(f"The perception–distortion trade-off (Blau & Michaeli 2018): sketch, AF {acceleration}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return fig
