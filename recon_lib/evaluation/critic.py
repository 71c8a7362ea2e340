"""A held-out critic: the classifier two-sample test between reference and reconstruction patches.

Blau & Michaeli define perception as a divergence between the distribution of reconstructions and
that of real images, and take a discriminator's success as its measure. The critic here is a fresh
small CNN (:class:`PatchCritic`), never the SN-GAN's discriminator: trained to tell fully sampled
SENSE-reference patches ("real") from a method's patches ("fake") on some volumes and scored on
the others (Lopez-Paz & Oquab's classifier two-sample test). Its held-out accuracy is 0.5 when the
two distributions cannot be told apart and 1 when every patch gives the method away.

Protocol (:func:`two_sample_test`):

* Units: one :class:`Unit` per test volume (or part of one, :func:`paired_units`) holds the
  reference and the method's magnitudes of the same slices and their foreground. Each magnitude
  volume is divided by its own 99.5th percentile inside the foreground, so a global gain cannot
  give a method away.
* Patches: ``patches_per_slice`` square patches per slice at random places where at least
  ``min_foreground`` of the patch is foreground; the reference and the method are cut at the same
  places, so the two classes show the same anatomy and differ only in how it is rendered.
* Folds by unit, stratified by contrast (the volumes' acquisition, CORPD_FBK / CORPDFS_FBK): within
  each contrast the units, in name order, go to the folds in turn, so every fold tests on both
  contrasts and trains on the rest. Each (fold, seed) trains a critic from scratch (the seed draws
  the patches, the initial weights, the batches and the flips) and scores it on the fold's units.
* Result (:class:`CriticResult`): the mean accuracy over the fold x seed runs with a t interval
  across those runs (they share data between seeds and folds, so read it as a lower bound on the
  uncertainty), and each run's accuracy.

The recipe (:data:`RECIPE`: 32-pixel patches, 64 per slice, the high-pass residual as a second
input channel at gain 10, width 8, 300 Adam steps of 64 patches at learning rate 5e-3) was fixed on
the validation split, SN against the reference. The validation split holds one volume per contrast,
so its units were half volumes (4 slices each; 2 folds, every fold testing one half of each volume).
Held-out accuracy of SN against the reference (mean over the runs: 2 folds x the seeds; the last
column is the wall time of one critic on 1 thread of a machine loaded by other jobs, noisy).

First the network on the patch alone (one input channel), 64 patches per slice unless said::

    patch  steps  lr      other                          seeds   AF 4    AF 8    s / critic
    16     300    3e-3                                   1       0.565   0.700    2.5
    16     600    3e-3                                   1       0.551   0.676    4.0
    16     300    3e-3    width 16                       1       0.521   0.716    3.9
    24     300    3e-3                                   1       0.569   0.749    3.5
    32     200    3e-3                                   1       0.601   0.784    3.9
    32     200    1e-2                                   1       0.549   0.802    2.4
    32     200    3e-3    batch 128                      1       0.610   0.813    6.2
    32     400    3e-3                                   1       0.618   0.834    8.5
    48     200    3e-3                                   1       0.649   0.856    5.5
    48     200    3e-3    32 patches / slice             1       0.671   0.855    4.7
    64     200    3e-3                                   1       0.648   0.898   11.1
    48     400    3e-3                                   1       0.738   0.903   15.7
    48     400    3e-3    three convolutions             1       0.649   0.846    8.6
    48     400    3e-3    three convolutions, batch 32   1       0.613   0.873    4.1
    48     300    3e-3                                   2       0.680   0.896    8.5
    48     400    3e-3    batch 32                       2       0.644   0.893    5.3
    48     200    5e-3                                   2       0.682   0.874    5.5
    48     300    5e-3                                   2       0.716   0.919    7.5

Power grew with patch size and steps and had not levelled off: the network was still learning to
look past the anatomy. The sanity anchor showed it too: zero-filled images at AF 8 (4 test volumes,
2 folds) were told from the reference with only 0.85-0.89 at 120-300 steps, 0.95 at 600-900 steps.
(That smoke run of the 48-pixel recipe also scored the other methods at AF 8 on those volumes; the
change below was chosen on the validation numbers alone.) A fixed high-pass residual channel (patch
minus its Gaussian blur, sigma 1 pixel) takes that learning away: zero-filled 0.997 at 120 steps. With
it, 2 seeds each::

    patch  steps  gain    AF 4    AF 8    s / critic
    48     300    5       0.874   0.981    9.9
    32     150    5       0.827   0.943    2.3
    32     300    5       0.888   0.967    4.2
    48     150    5       0.845   0.974    4.8
    32     300    2       0.805   0.950    4.3
    32     150    10      0.892   0.967    2.5
    32     300    10      0.930   0.979    4.3   <- RECIPE
    32     300    20      0.937   0.981    4.7

The recipe is the strongest of the cheap ones (gain 20 adds nothing within the runs' spread). The
learning rate 1e-2 sometimes failed to train (0.50); BatchNorm (tried, not kept) made runs unstable
(0.50 in some: running statistics of other volumes). ``python -m recon_lib.perception`` repeats the
chosen recipe's validation check and reports it beside the test results.

Two samples of one distribution drawn from *different volumes* (references of some training volumes
against references of others) are not a tight null here: with three volumes per class and
contrast, a critic picks up the volumes' own differences (anatomy, fat fraction, the noise level
after normalisation). In 5 random pairings of the training volumes the mean held-out accuracy of a
quick critic (32-pixel patches, 16 per slice, 120 steps, gain 10) ranged 0.44-0.56 (fold runs
0.37-0.59); without the high-pass channel 0.39-0.65. The paired design of the scores (the same
slices and places in both classes) removes that: a volume's own features are in both classes.

A comparison between methods counts only where the critic tells the SN from the reference with
accuracy of at least :data:`DETECTABLE`: the SN-GAN's claim is to look more like the reference than
the SN, and a critic that cannot see the SN's own difference has no room to show it.

References:
    Y. Blau, T. Michaeli, "The perception-distortion tradeoff", CVPR 2018.
    D. Lopez-Paz, M. Oquab, "Revisiting classifier two-sample tests", ICLR 2017.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage, stats
from torch import nn

from recon_lib.core.checks import check_int
from recon_lib.metrics.discrimination import balanced_accuracy

__all__ = [
    "CriticRecipe",
    "RECIPE",
    "DETECTABLE",
    "Unit",
    "CriticResult",
    "PatchCritic",
    "normalise",
    "paired_units",
    "assign_folds",
    "draw_patches",
    "train_critic",
    "critic_accuracy",
    "two_sample_test",
    "mean_interval",
]

#: the held-out accuracy at which the critic counts as telling the SN from the reference
DETECTABLE = 0.65


@dataclass(frozen=True)
class CriticRecipe:
    """How the critic is trained: patches, network width, optimisation.

    Attributes:
        patch: side of the square patches in pixels.
        patches_per_slice: patches cut from each slice (the same places in both classes).
        width: channels of the first convolution (the network is 2 -> w -> 2w -> 2w -> 4w channels: the
            patch and its high-pass residual in).
        steps: Adam steps.
        lr: Adam's learning rate.
        batch_size: patches per step, half of each class.
        min_foreground: the smallest fraction of a patch that must be foreground.
        highpass_gain: the weight of the patch's high-pass residual, the network's second input channel.
    """

    patch: int = 32
    patches_per_slice: int = 64
    width: int = 8
    steps: int = 300
    lr: float = 5e-3
    batch_size: int = 64
    min_foreground: float = 0.9
    highpass_gain: float = 10.0

    def __post_init__(self) -> None:
        for name in ("patch", "patches_per_slice", "width", "steps", "batch_size"):
            check_int(name, getattr(self, name), minimum=2 if name == "batch_size" else 1)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not (math.isfinite(self.highpass_gain) and self.highpass_gain >= 0):
            raise ValueError(f"highpass_gain must be non-negative, got {self.highpass_gain!r}")
        if not 0 < self.min_foreground <= 1:
            raise ValueError(f"min_foreground must lie in (0, 1], got {self.min_foreground!r}")


#: the recipe fixed on the validation split (the module docstring gives the evidence)
RECIPE = CriticRecipe()


@dataclass(frozen=True)
class Unit:
    """One unit of the fold split: slices of one volume, the reference and the method's magnitudes.

    Attributes:
        name: the unit's name (a volume's file name, with ``#k`` for its ``k``-th part).
        stratum: the volume's contrast (its acquisition).
        real: the reference magnitudes ``(S, H, W)``, normalised (:func:`normalise`).
        fake: the method's magnitudes, normalised, of the same shape.
        foreground: the foreground mask ``(S, H, W)``.
    """

    name: str
    stratum: str
    real: np.ndarray
    fake: np.ndarray
    foreground: np.ndarray


def normalise(volume: np.ndarray, foreground: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """``volume`` divided by its own ``percentile``-th percentile inside the foreground (float32)."""
    volume = np.asarray(volume, dtype=np.float64)
    scale = float(np.percentile(volume[np.asarray(foreground, dtype=bool)], percentile))
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"the volume's {percentile}th foreground percentile is {scale}: nothing to normalise by")
    return (volume / scale).astype(np.float32)


def paired_units(
    name: str, stratum: str, real: np.ndarray, fake: np.ndarray, foreground: np.ndarray, parts: int = 1
) -> list[Unit]:
    """The units of one volume: both magnitudes normalised over the whole volume, then its slices cut
    into ``parts`` contiguous blocks (``parts=1``: the volume is one unit)."""
    fg = np.asarray(foreground, dtype=bool)
    if not (np.shape(real) == np.shape(fake) == fg.shape and fg.ndim == 3):
        raise ValueError(
            f"real {np.shape(real)}, fake {np.shape(fake)} and foreground {fg.shape} must be one (S, H, W)"
        )
    parts = check_int("parts", parts, minimum=1, maximum=fg.shape[0])
    r, f = normalise(real, fg), normalise(fake, fg)
    blocks = np.array_split(np.arange(fg.shape[0]), parts)
    if parts == 1:
        return [Unit(name, stratum, r, f, fg)]
    return [Unit(f"{name}#{k}", stratum, r[b], f[b], fg[b]) for k, b in enumerate(blocks)]


def assign_folds(units: Sequence[Unit], folds: int | None = None) -> list[int]:
    """The fold of each unit: within each stratum, units in name order go to folds 0, 1, ... in turn.

    ``folds`` defaults to the smallest stratum's size (every fold tests one unit of that stratum).

    Raises:
        ValueError: fewer than two folds, or a stratum with fewer units than folds (a fold would
            test without that contrast).
    """
    strata = sorted({u.stratum for u in units})
    sizes = {s: sum(u.stratum == s for u in units) for s in strata}
    k = min(sizes.values(), default=0) if folds is None else int(folds)
    if k < 2 or any(n < k for n in sizes.values()):
        raise ValueError(f"{k} folds need at least {max(k, 2)} units of every contrast, got {sizes}")
    fold = [0] * len(units)
    for s in strata:
        members = sorted((u.name, i) for i, u in enumerate(units) if u.stratum == s)
        for j, (_, i) in enumerate(members):
            fold[i] = j % k
    return fold


def _unit_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def draw_patches(unit: Unit, recipe: CriticRecipe, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``recipe.patches_per_slice`` patches of each slice at the same random places in both classes.

    A place qualifies when at least ``recipe.min_foreground`` of its patch is foreground.

    Returns:
        ``(real, fake)``, each float32 ``(N, 1, patch, patch)``.
    """
    p, rng = recipe.patch, _unit_rng(seed, unit.name)
    real, fake = [], []
    for s in range(unit.foreground.shape[0]):
        if min(unit.foreground.shape[1:]) < p:
            raise ValueError(f"{unit.name}: slices {unit.foreground.shape[1:]} are smaller than a {p}-pixel patch")
        H, W = unit.foreground.shape[1:]
        cover = ndimage.uniform_filter(unit.foreground[s].astype(np.float64), size=p, mode="constant")
        # the box of output pixel c starts at c - p // 2: the patch with top-left corner (y, x) is at (y, x) + p // 2
        ok = np.argwhere(
            cover[p // 2 : p // 2 + H - p + 1, p // 2 : p // 2 + W - p + 1] >= recipe.min_foreground - 1e-9
        )
        if len(ok) == 0:
            continue
        for y, x in ok[rng.choice(len(ok), size=recipe.patches_per_slice, replace=len(ok) < recipe.patches_per_slice)]:
            real.append(unit.real[s, y : y + p, x : x + p])
            fake.append(unit.fake[s, y : y + p, x : x + p])
    if not real:
        raise ValueError(f"{unit.name}: no {p}-pixel patch is {recipe.min_foreground:.0%} foreground")
    return np.stack(real)[:, None].astype(np.float32), np.stack(fake)[:, None].astype(np.float32)


class PatchCritic(nn.Module):
    """A small CNN scoring a magnitude patch ``(B, 1, p, p)``: logit > 0 means "reference".

    The patch enters as two channels: itself and ``highpass_gain`` times its high-pass residual
    (the patch minus its Gaussian blur of scale 1 pixel; a fixed layer, no weights). Then four 3x3
    convolutions (widths ``w, 2w, 2w, 4w``, the second and fourth of stride 2) with LeakyReLU 0.2,
    global average pooling and a linear layer: a texture statistic of the patch, blind to where in
    the patch it occurs. Without the residual channel the network spends its steps learning to
    look past the anatomy's large slow variations (see the module docstring).
    """

    def __init__(self, width: int = 8, highpass_gain: float = 10.0) -> None:
        super().__init__()
        w = check_int("width", width, minimum=1)
        self.highpass_gain = float(highpass_gain)
        layers: list[nn.Module] = []
        for cin, cout, stride in ((2, w, 1), (w, 2 * w, 2), (2 * w, 2 * w, 1), (2 * w, 4 * w, 2)):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, 1)
        taps = torch.exp(-(torch.arange(-3, 4, dtype=torch.float32) ** 2) / 2)
        taps = taps / taps.sum()
        self.blur: torch.Tensor
        self.register_buffer("blur", (taps[:, None] * taps[None, :])[None, None])  # (1, 1, 7, 7), sigma 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = nn.functional.conv2d(nn.functional.pad(x, (3, 3, 3, 3), mode="replicate"), self.blur)
        return self.head(self.features(torch.cat([x, self.highpass_gain * (x - smooth)], dim=1))).squeeze(1)  # (B,)


def train_critic(real: np.ndarray, fake: np.ndarray, recipe: CriticRecipe, seed: int = 0) -> PatchCritic:
    """A fresh :class:`PatchCritic` trained to tell ``real`` patches from ``fake`` ones (balanced
    batches, random horizontal and vertical flips, logistic loss, Adam), seeded by ``seed``."""
    rng = np.random.default_rng([int(seed), 1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = PatchCritic(recipe.width, recipe.highpass_gain)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    half = recipe.batch_size // 2
    labels = torch.cat([torch.ones(half), torch.zeros(half)])
    model.train()
    for _ in range(recipe.steps):
        batch = np.concatenate([real[rng.integers(0, len(real), half)], fake[rng.integers(0, len(fake), half)]])
        flips = rng.integers(0, 2, size=(len(batch), 2)).astype(bool)
        batch[flips[:, 0]] = batch[flips[:, 0], :, :, ::-1]
        batch[flips[:, 1]] = batch[flips[:, 1], :, ::-1, :]
        loss = nn.functional.binary_cross_entropy_with_logits(model(torch.from_numpy(batch)), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def critic_accuracy(model: nn.Module, real: np.ndarray, fake: np.ndarray) -> float:
    """Balanced accuracy: the mean of the fractions of ``real`` called real and ``fake`` called fake."""
    with torch.inference_mode():
        return balanced_accuracy(model(torch.from_numpy(real)), model(torch.from_numpy(fake)), threshold=0.0)


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its Student t interval (nan bounds for one value).

    Example:
        >>> [round(v, 3) for v in mean_interval([0.6, 0.7, 0.8])]
        [0.7, 0.452, 0.948]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {values!r}")
    if x.size < 2:
        return float(x.mean()), math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


@dataclass(frozen=True)
class CriticResult:
    """The held-out accuracies of one two-sample test.

    Attributes:
        mean, low, high: the mean accuracy over the fold x seed runs and its 95 % t interval, cut to
            [0, 1] (nan bounds for a single run).
        runs: ``{"fold", "seed", "accuracy", "test_units"}`` of every run.
    """

    mean: float
    low: float
    high: float
    runs: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"runs": [dict(r) for r in self.runs]}


def two_sample_test(
    units: Sequence[Unit], recipe: CriticRecipe = RECIPE, seeds: Sequence[int] = (0, 1), folds: int | None = None
) -> CriticResult:
    """The critic's held-out accuracy on ``units`` (see the module docstring): one critic per fold and seed."""
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    fold_of = assign_folds(units, folds)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        patches = [draw_patches(u, recipe, seed) for u in units]
        for fold in sorted(set(fold_of)):
            train = [p for p, f in zip(patches, fold_of, strict=True) if f != fold]
            test = [p for p, f in zip(patches, fold_of, strict=True) if f == fold]
            model = train_critic(
                np.concatenate([r for r, _ in train]),
                np.concatenate([f for _, f in train]),
                recipe,
                seed=1000 * int(seed) + fold,
            )
            accuracy = critic_accuracy(
                model, np.concatenate([r for r, _ in test]), np.concatenate([f for _, f in test])
            )
            names = [u.name for u, f in zip(units, fold_of, strict=True) if f == fold]
            runs.append({"fold": fold, "seed": int(seed), "accuracy": accuracy, "test_units": names})
    mean, low, high = mean_interval([r["accuracy"] for r in runs])
    return CriticResult(mean=mean, low=max(low, 0.0), high=min(high, 1.0), runs=tuple(runs))
