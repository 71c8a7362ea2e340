"""Balanced accuracy and ROC AUC of two sets of scores (the critic's and the SN-GAN discriminator's check)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from recon_lib.metrics.discrimination import balanced_accuracy, roc_auc


def test_a_constant_score_is_at_chance_whatever_the_class_sizes():
    assert balanced_accuracy(torch.full((7,), 0.5), torch.full((300,), 0.5), threshold=0.5) == 0.5
    assert balanced_accuracy(torch.full((7,), 0.9), torch.full((300,), 0.9), threshold=0.5) == 0.5
    assert roc_auc(torch.full((7,), 0.3), torch.full((300,), 0.3)) == 0.5


def test_auc_is_the_fraction_of_pairs_ranked_right_with_ties_half():
    rng = np.random.default_rng(0)
    real, fake = rng.integers(0, 5, 40).astype(float), rng.integers(0, 4, 30).astype(float)  # many ties
    pairs = [1.0 if r > f else 0.5 if r == f else 0.0 for r, f in itertools.product(real, fake)]
    assert roc_auc(real, fake) == pytest.approx(np.mean(pairs), abs=1e-12)
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert roc_auc(np.array([0.0]), np.array([1.0])) == 0.0


def test_balanced_accuracy_counts_each_class_at_the_threshold():
    real, fake = torch.tensor([0.2, 0.6, 0.9, 1.0]), torch.tensor([0.5, 0.1])
    assert balanced_accuracy(real, fake, threshold=0.5) == pytest.approx((3 / 4 + 2 / 2) / 2)  # 0.5 counts as fake


@pytest.mark.parametrize(
    "real,fake,error,match",
    [
        (torch.tensor([]), torch.tensor([1.0]), ValueError, "real holds no scores"),
        (torch.tensor([1.0]), torch.tensor([float("nan")]), ValueError, "fake holds non-finite"),
        (torch.tensor([1j]), torch.tensor([1.0]), TypeError, "real must hold real scores"),
    ],
)
def test_bad_scores_are_named(real, fake, error, match):
    with pytest.raises(error, match=match):
        balanced_accuracy(real, fake)
    with pytest.raises(error, match=match):
        roc_auc(real, fake)
