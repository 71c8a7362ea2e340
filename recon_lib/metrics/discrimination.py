"""How well scores tell two samples apart: balanced accuracy at a threshold, and the ROC AUC.

Two users share these: the held-out critic of the evaluation (logits, threshold 0) and the
trainer's check of the SN-GAN's own discriminator on validation slices (LSGAN patch scores,
regressed to 1 for the reference and 0 for a reconstruction, so threshold 0.5).

* :func:`balanced_accuracy`: the mean of the fraction of ``real`` scores above the threshold and
  the fraction of ``fake`` scores at or below it. A constant score gives exactly 0.5, whatever the
  class sizes.
* :func:`roc_auc`: the probability that a random ``real`` score exceeds a random ``fake`` one (ties
  count half): the Mann-Whitney U statistic over ``len(real) * len(fake)``. 0.5 at chance; unlike
  the accuracy it needs no threshold, so it sees a discriminator that ranks well but is miscalibrated.

Example:
    >>> import torch
    >>> balanced_accuracy(torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.3, 0.6]), threshold=0.5)
    0.5833333432674408
    >>> roc_auc(torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.3, 0.6]))  # 4 of the 6 pairs ranked right
    0.6666666666666666
    >>> roc_auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0]))  # ties count half
    0.5
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

__all__ = ["balanced_accuracy", "roc_auc"]


def _scores(name: str, values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``values`` as a non-empty 1-D tensor of finite real numbers (``ValueError`` naming ``name`` otherwise)."""
    t = torch.as_tensor(values).detach().reshape(-1)
    if t.numel() == 0:
        raise ValueError(f"{name} holds no scores")
    if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold real scores, got dtype {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds non-finite scores")
    return t


def balanced_accuracy(
    real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, threshold: float = 0.0
) -> float:
    """The mean of the fractions of ``real`` scores called real (``> threshold``) and of ``fake`` scores
    called fake (``<= threshold``); each fraction in float32, as the critic has always computed it."""
    r, f = _scores("real", real), _scores("fake", fake)
    hit_real = float((r > threshold).float().mean())
    hit_fake = float((f <= threshold).float().mean())
    return (hit_real + hit_fake) / 2


def roc_auc(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray) -> float:
    """The area under the ROC curve of the scores, ``real`` the positive class (ties count half)."""
    r = _scores("real", real).double().cpu().numpy()
    f = _scores("fake", fake).double().cpu().numpy()
    ranks = stats.rankdata(np.concatenate([r, f]))  # average ranks: a tie counts half
    u = float(ranks[: r.size].sum()) - r.size * (r.size + 1) / 2
    return u / (r.size * f.size)
