"""One optimisation step of every training stage: the one definition the trainer and the benchmark share.

A :class:`Learner` bundles what a step updates: the reconstruction model and its optimiser, and
for the SN-GAN stage the discriminator and its optimiser. :func:`training_step` runs one step on
a (collated) dataset batch:

* SN and U-Net stages: ``L_SN`` (paper Eq. 1, :func:`~recon_lib.metrics.losses.sn_loss`) on the
  magnitude, over the foreground or the whole image (``loss_region``).
* SN-GAN stage: one LSGAN discriminator step on foreground-masked magnitudes in units of the
  volume maximum, then one generator step on
  :func:`~recon_lib.metrics.losses.sn_gan_generator_loss` (``gamma * L_SN + LSGAN``, paper Eq. 2).
  With ``generator_step=False`` the step trains the discriminator alone, on the output of the
  model as it is (computed without gradients; the model does not move): the steps of the
  discriminator warm-up and the extra discriminator steps between two generator steps.
  :func:`generator_moves` says which steps of a stage move the generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from recon_lib.core.compute import Compute
from recon_lib.metrics.losses import lsgan_discriminator_loss, masked_magnitude, sn_gan_generator_loss, sn_loss
from recon_lib.models.inference import reconstruct
from recon_lib.training.config import LOSS_REGIONS, StageConfig

__all__ = [
    "LOSS_REGIONS",
    "L1_WEIGHT",
    "Learner",
    "TrainingError",
    "reconstruction_loss",
    "training_step",
    "generator_moves",
    "stage_learning_rate",
    "set_learning_rate",
]

#: weight of the L1 term in ``L_SN`` (paper: 1e-3; L1 summed over the region, Sigma-net's convention)
L1_WEIGHT = 1e-3


class TrainingError(RuntimeError):
    """Training cannot continue (e.g. a non-finite loss); the last good checkpoint is kept."""


@dataclass
class Learner:
    """What one training step updates.

    Attributes:
        model: the reconstruction model (possibly wrapped in ``DistributedDataParallel``).
        optimiser: its optimiser.
        loss_region: one of :data:`~recon_lib.training.config.LOSS_REGIONS`.
        disc: the discriminator (SN-GAN stage only).
        d_optimiser: the discriminator's optimiser (SN-GAN stage only).
        gamma: weight of ``L_SN`` in the SN-GAN generator loss.
        compute: precision of the forward passes (:class:`~recon_lib.core.compute.Compute`; the
            losses, FFTs and data consistency stay float32 / complex64). Default: float32.
    """

    model: nn.Module
    optimiser: torch.optim.Optimizer
    loss_region: str = "foreground"
    disc: nn.Module | None = None
    d_optimiser: torch.optim.Optimizer | None = None
    gamma: float = 0.1
    compute: Compute = field(default_factory=Compute.fp32)

    def __post_init__(self) -> None:
        if self.loss_region not in LOSS_REGIONS:
            raise ValueError(f"loss_region must be one of {LOSS_REGIONS}, got {self.loss_region!r}")
        if (self.disc is None) != (self.d_optimiser is None):
            raise ValueError("disc and d_optimiser must be given together (SN-GAN) or not at all")


def _targets(
    batch: Mapping[str, Any], device: torch.device | str, region: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(target (B, rh, rw), data range (B,), loss mask or None)`` of a batch."""
    target = batch["target"].to(device)
    data_range = batch["max"].to(device=device, dtype=target.dtype)
    mask = batch["foreground"].to(device) if region == "foreground" else None
    return target, data_range, mask


def reconstruction_loss(
    rec: torch.Tensor, batch: Mapping[str, Any], device: torch.device | str = "cpu", region: str = "foreground"
) -> torch.Tensor:
    """``L_SN`` of a reconstruction ``rec`` (complex ``(B, rh, rw)``) against the batch's target."""
    target, data_range, mask = _targets(batch, device, region)
    return sn_loss(rec.abs(), target, data_range=data_range, mask=mask, lam=L1_WEIGHT, l1_reduction="sum")


def training_step(
    learner: Learner, batch: Mapping[str, Any], device: torch.device | str = "cpu", *, generator_step: bool = True
) -> dict[str, float]:
    """One optimisation step on ``batch``; returns the step's losses (``loss``, ``l_sn``, and for
    the SN-GAN ``d_loss`` and ``g_adv``).

    Args:
        learner: what the step updates.
        batch: a collated dataset batch.
        device: where to compute.
        generator_step: False: an SN-GAN step that trains the discriminator alone (the record then
            holds ``l_sn`` and ``d_loss`` only); a stage without a discriminator always steps its model.

    Raises:
        TrainingError: a loss is not finite (the weights it would have updated are left unchanged).
    """
    if not generator_step and learner.disc is None:
        raise ValueError("generator_step=False needs a discriminator: the step would update nothing")
    with torch.set_grad_enabled(generator_step and torch.is_grad_enabled()), learner.compute.autocast(device):
        rec = reconstruct(learner.model, batch, device)  # (B, rh, rw) complex
    l_sn = reconstruction_loss(rec, batch, device, learner.loss_region)
    record = {"l_sn": float(l_sn.item())}
    if learner.disc is None or learner.d_optimiser is None:
        loss = l_sn
    else:
        target, data_range, _ = _targets(batch, device, learner.loss_region)
        fake, d_loss = _discriminator_step(learner, rec, target, batch, device)
        record["d_loss"] = d_loss
        if not generator_step:
            return record
        mask = batch["foreground"].to(device) if learner.loss_region == "foreground" else None
        with learner.compute.autocast(device):
            scores = learner.disc(fake).float()
        loss = sn_gan_generator_loss(
            rec, target, scores, gamma=learner.gamma, data_range=data_range, mask=mask, lam=L1_WEIGHT
        )
        record["g_adv"] = float(loss.item() - learner.gamma * record["l_sn"])
    if not torch.isfinite(loss):
        raise TrainingError(f"non-finite loss ({loss.item()})")
    learner.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    learner.optimiser.step()
    return {"loss": float(loss.item()), **record}


def _discriminator_step(
    learner: Learner,
    rec: torch.Tensor,
    target: torch.Tensor,
    batch: Mapping[str, Any],
    device: torch.device | str,
) -> tuple[torch.Tensor, float]:
    """One LSGAN step of ``disc``: the reference (real) against ``rec`` (fake), foreground-masked
    magnitudes in units of the volume maximum. Returns ``(fake (B, 1, rh, rw), d_loss)``, the fake
    still attached to ``rec``'s graph for the generator's loss."""
    fg = batch["foreground"].to(device)
    scale = batch["max"].to(device=device, dtype=target.dtype).view(-1, 1, 1, 1)
    fake = masked_magnitude(rec, fg) / scale  # (B, 1, rh, rw)
    real = masked_magnitude(target, fg) / scale
    disc, d_optimiser = learner.disc, learner.d_optimiser
    assert disc is not None and d_optimiser is not None  # an SN-GAN learner (checked by the caller)
    with learner.compute.autocast(device):
        d_real, d_fake = disc(torch.cat([real, fake.detach()])).float().chunk(2)
    d_loss = lsgan_discriminator_loss(d_real, d_fake)
    if not torch.isfinite(d_loss):
        raise TrainingError(f"non-finite discriminator loss ({d_loss.item()})")
    d_optimiser.zero_grad(set_to_none=True)
    d_loss.backward()
    d_optimiser.step()
    return fake, float(d_loss.item())


def generator_moves(st: StageConfig, step: int) -> bool:
    """Whether the stage's step ``step`` (0-based) also steps the generator (else: the discriminator alone).

    The first ``st.d_warmup_steps`` steps are the discriminator's warm-up; after it, the generator
    steps on every ``st.d_steps``-th step, after that step's discriminator update (Σ-net's order).
    The defaults (no warm-up, one discriminator step) move the generator on every step.

    Example:
        >>> st = StageConfig(d_warmup_steps=2, d_steps=3)
        >>> [generator_moves(st, k) for k in range(8)]
        [False, False, False, False, True, False, False, True]
    """
    after = step - st.d_warmup_steps
    return after >= 0 and after % st.d_steps == st.d_steps - 1


def stage_learning_rate(st: StageConfig, step: int, total_steps: int) -> float:
    """The (generator's) learning rate of the stage's step ``step`` (0-based) of ``total_steps``.

    Derived from the step alone, so a resumed run continues the schedule exactly. The cosine
    schedule starts when the generator starts to move, at the end of the discriminator warm-up
    (``st.d_warmup_steps``, 0 but in the SN-GAN stage).

    Example:
        >>> st = StageConfig(epochs=1, lr=1e-3, lr_schedule="cosine")
        >>> [round(stage_learning_rate(st, k, 4), 6) for k in range(4)]
        [0.001, 0.000854, 0.0005, 0.000146]
    """
    if st.lr_schedule == "constant":
        return st.lr
    step, total_steps = max(step - st.d_warmup_steps, 0), total_steps - st.d_warmup_steps
    return st.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def set_learning_rate(optimiser: torch.optim.Optimizer, st: StageConfig, step: int, total_steps: int) -> None:
    """Set every parameter group of ``optimiser`` to :func:`stage_learning_rate`."""
    lr = stage_learning_rate(st, step, total_steps)
    for group in optimiser.param_groups:
        group["lr"] = lr
