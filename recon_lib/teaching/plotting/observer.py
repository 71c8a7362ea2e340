"""The observer's figure: how often the real scan is found, against α, beside what PSNR says."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recon_lib.teaching.plotting._common import DEFAULT_DPI, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_detection"]


def plot_detection(
    scores: Sequence[Mapping[str, Any]],
    psnr: Mapping[float, float],
    critic: Sequence[Mapping[str, float]] = (),
    who: str = "you",
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """Detection rate against α (with intervals, chance at 0.5) beside PSNR against α.

    Args:
        scores: rows of :func:`recon_lib.teaching.quiz.score` (``alpha``, ``detection_rate``, ``low``,
            ``high``, ``trials``); may be empty (no answer yet): the panel then says so.
        psnr: ``{alpha: PSNR in dB}`` of the reconstructions shown.
        critic: rows of :func:`recon_lib.teaching.quiz.critic_points` (``alpha``, ``accuracy``, ``low``, ``high``).
        who: the label of the human observer's curve (``"you"``, ``"the class"``).
    """
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4), dpi=dpi)
    left.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    left.text(0.02, 0.48, "chance: cannot tell", color="grey", fontsize=8, va="top")
    if scores:
        alphas = np.array([row["alpha"] for row in scores])
        rate = np.array([row["detection_rate"] for row in scores])
        errors = np.abs(np.array([[row["low"] for row in scores], [row["high"] for row in scores]]) - rate)
        total = sum(int(row["trials"]) for row in scores)
        left.errorbar(alphas, rate, yerr=errors, marker="o", capsize=3, label=f"{who} ({total} answers)")
    else:
        left.text(0.5, 0.2, "no answers yet:\nanswer the quiz above", ha="center", fontsize=10, color="C0")
    if critic:
        alphas = np.array([row["alpha"] for row in critic])
        acc = np.array([row["accuracy"] for row in critic])
        errors = np.abs(np.array([[row["low"] for row in critic], [row["high"] for row in critic]]) - acc)
        left.errorbar(alphas, acc, yerr=errors, marker="s", capsize=3, color="C3", linestyle="--",
                      label="held-out critic (test split)")  # fmt: skip
    left.set(xlim=(-0.05, 1.05), ylim=(0.0, 1.3), xlabel="α (0 = SN, 1 = SN-GAN)", ylabel="real scan found (fraction)")
    left.set_title("who can tell the reconstruction from the scan?", fontsize=10)
    if scores or critic:
        left.legend(fontsize=8, loc="upper center", ncol=2)
    points = sorted(psnr.items())
    right.plot([a for a, _ in points], [v for _, v in points], marker="o", color="C2")
    right.set(xlim=(-0.05, 1.05), xlabel="α (0 = SN, 1 = SN-GAN)", ylabel="PSNR (dB, foreground)")
    right.set_title("what PSNR says about the same images", fontsize=10)
    right.grid(alpha=0.3)
    left.grid(alpha=0.3)
    fig.tight_layout()
    return fig
