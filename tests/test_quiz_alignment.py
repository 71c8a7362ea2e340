"""The quiz's two crops show one place: the same box of the same slice, for every trial (issue 29, item 5:
"the crops of trial 1 do not show the same place"). At AF 8 the reconstruction is much blurrier than the
reference, so a pair can *look* misaligned; these tests show that it is not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from recon_lib.teaching import suite
from recon_lib.teaching.quiz import Quiz

SHIFT = 6  # the shifts searched, in pixels each way


def _best_shift(quiz: Quiz, trial) -> tuple[tuple[int, int], float]:
    """The shift of the reconstruction's crop that correlates best with the reference's crop, and the
    correlation at no shift."""
    real = quiz.reference[trial.window]
    image = quiz.reconstructions[trial.alpha]
    best, at_zero = None, None
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            top, left = trial.row + dy, trial.col + dx
            if top < 0 or left < 0 or top + trial.size > image.shape[0] or left + trial.size > image.shape[1]:
                continue
            crop = image[top : top + trial.size, left : left + trial.size]
            r = float(np.corrcoef(real.ravel(), crop.ravel())[0, 1])
            if best is None or r > best[0]:
                best = (r, (dy, dx))
            if (dy, dx) == (0, 0):
                at_zero = r
    return best[1], at_zero


def _structured_slice(size: int = 96, seed: int = 0):
    """A reference with structure at every scale (blobs, edges, texture) and its blurred 'reconstructions'."""
    rng = np.random.default_rng(seed)
    reference = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2) * 4 + 1.0
    reference[30:60, 20:24] += 1.0
    reference += 0.1 * rng.standard_normal((size, size))
    recons = {a: ndimage.gaussian_filter(reference, 1.0 + 0.5 * a) for a in (0.0, 0.5, 1.0)}
    foreground = np.zeros((size, size), bool)
    foreground[6:-6, 6:-6] = True
    return reference, recons, foreground


def test_every_pair_is_one_box_of_the_slice_and_says_where():
    reference, recons, fg = _structured_slice()
    q = Quiz(reference, recons, fg, repeats=4, size=24, seed=3)
    for t in q.trials:
        left, right = q.pair(t)
        real, fake = (left, right) if t.reference_side == "left" else (right, left)
        assert np.array_equal(real, reference[t.window]) and np.array_equal(fake, recons[t.alpha][t.window])
        shift, r = _best_shift(q, t)
        assert shift == (0, 0) and r > 0.8, (t, shift, r)
    first = q.trials[0]
    where = f"rows {first.row}–{first.row + 23}, columns {first.col}–{first.col + 23}"
    assert where in first.where()
    fig = q.figure(first)
    assert where in fig.get_supxlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)
    q.widget()  # ipywidgets: a dependency of the notebooks extra the tests install
    assert where in q.widgets["status"].value


@pytest.mark.slow
def test_the_shipped_quiz_pairs_are_aligned_at_af8():
    """The notebook's quiz (shipped SN and SN-GAN, AF 8): for every trial the reconstruction's crop
    correlates best with the reference's at no shift."""
    suite.require_data()  # make test prepares the data and the checkpoints ship: missing ones are a failure
    q = Quiz.from_checkpoints(suite.checkpoint_dir(), alphas=(0.0, 0.5, 1.0), acceleration=8, repeats=2)
    for t in q.trials:
        shift, r = _best_shift(q, t)
        assert shift == (0, 0) and r > 0.6, (t, shift, r)
