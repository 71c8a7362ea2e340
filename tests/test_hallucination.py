"""The hallucination rule: the box lands on structure planted in the candidate only, identical images have no
excess, the numbers of a box, the figure."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from recon_lib.metrics.hallucination import HALLUCINATION_BOX, detail_errors, excess_detail, hallucination_box
from recon_lib.teaching.plotting import plot_hallucination

matplotlib.use("Agg")


def _scene(size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth truth with a few edges, an over-smooth base (the truth blurred) and the foreground."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:size, 0:size] / size
    truth = 0.5 + 0.3 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.08)
    truth[20:70, 30:34] += 0.2  # a bright bar: an edge both networks see
    truth += 0.02 * np.random.default_rng(seed).standard_normal((size, size))  # the truth's own fine texture
    base = ndimage.gaussian_filter(truth, 1.5)  # the SN: the truth without its fine detail
    foreground = np.zeros((size, size), bool)
    foreground[4:-4, 4:-4] = True
    return truth, base, foreground


def _plant(image: np.ndarray, top: int, left: int) -> np.ndarray:
    """The image with an invented structure: a small checkerboard of fine lines at (top, left)."""
    out = image.copy()
    out[top : top + 10, left : left + 10] += 0.15 * (np.indices((10, 10)).sum(0) % 2 - 0.5)
    return out


@pytest.mark.parametrize("where", [(12, 60), (70, 10), (40, 45)])
def test_the_box_lands_on_structure_planted_in_the_candidate_only(where):
    truth, base, fg = _scene()
    candidate = _plant(base, *where)
    top, left, h, w = hallucination_box(truth, base, candidate, mask=fg)
    assert (h, w) == (HALLUCINATION_BOX, HALLUCINATION_BOX)
    row, col = where
    assert top <= row and row + 10 <= top + h and left <= col and col + 10 <= left + w, (where, (top, left))
    numbers = detail_errors(truth, {"SN": base, "SN-GAN": candidate}, (top, left, h, w))
    assert numbers["excess"] > 0 and numbers["ratio"] > 1.5
    assert numbers["relative"]["SN-GAN"] > numbers["relative"]["SN"]


def test_structure_the_truth_has_is_not_a_hallucination():
    """The same checkerboard planted in the truth and the candidate: the candidate is *right* there, the
    base misses it, so the excess there is negative and the box goes elsewhere."""
    truth, base, fg = _scene()
    truth_with, candidate = _plant(truth, 40, 45), _plant(base, 40, 45)
    excess = excess_detail(truth_with, base, candidate, mask=fg)
    assert excess[40:50, 45:55].sum() < 0


def test_identical_images_have_no_excess_and_keep_the_centred_box():
    truth, base, fg = _scene()
    assert float(np.abs(excess_detail(truth, base, base, mask=fg)).max()) == 0.0
    assert float(np.abs(excess_detail(truth, truth, truth)).max()) == 0.0
    size = HALLUCINATION_BOX
    assert hallucination_box(truth, base, base, mask=fg) == ((96 - size) // 2, (96 - size) // 2, size, size)
    numbers = detail_errors(truth, {"a": truth, "b": truth}, (10, 10, 8, 8))
    assert numbers["excess"] == 0.0 and np.isnan(numbers["ratio"]) and numbers["detail_error"] == {"a": 0.0, "b": 0.0}


def test_the_excess_counts_only_the_foreground():
    truth, base, fg = _scene()
    candidate = _plant(base, 0, 0)  # in the corner, outside the foreground
    excess = excess_detail(truth, base, candidate, mask=fg)
    assert np.all(excess[~fg] == 0.0)
    top, left, h, w = hallucination_box(truth, base, candidate, mask=fg)
    assert not (top == 0 and left == 0), "a structure outside the foreground does not place the box"


def test_bad_inputs_fail_with_a_clear_message():
    truth, base, _ = _scene()
    with pytest.raises(ValueError, match="one shape"):
        excess_detail(truth, base[:-1], base)
    with pytest.raises(ValueError, match="size must be an int"):
        hallucination_box(truth, base, base, size=500)
    with pytest.raises(ValueError, match="must lie inside"):
        detail_errors(truth, {"a": base}, (90, 90, 20, 20))
    with pytest.raises(ValueError, match="finite real 2-D"):
        excess_detail(truth[None], base, base)


def test_the_figure_shows_the_zooms_the_differences_and_the_box():
    truth, base, fg = _scene()
    candidate = _plant(base, 12, 60)
    fig = plot_hallucination(truth, {"SN": base, "SN-GAN": candidate}, foreground=fg)
    titles = [ax.get_title() for ax in fig.axes]
    for title in ("noise-free truth", "truth (zoom)", "SN (zoom)", "SN-GAN (zoom)", "SN − truth (zoom)"):
        assert title in titles
    top, left, h, w = hallucination_box(truth, base, candidate, mask=fg)
    (outline,) = fig.axes[0].patches
    assert (outline.get_x(), outline.get_y(), outline.get_width(), outline.get_height()) == (
        left - 0.5,
        top - 0.5,
        w,
        h,
    )
    differences = [ax.images[0] for ax in fig.axes if ax.get_title().endswith("− truth (zoom)")]
    assert len({im.get_clim() for im in differences}) == 1, "both differences on one scale"
    low, high = differences[0].get_clim()
    assert high > 0 and low == -high, "a symmetric scale"
    import matplotlib.pyplot as plt

    plt.close(fig)
    with pytest.raises(ValueError, match="two reconstructions"):
        plot_hallucination(truth, {"SN": base})
