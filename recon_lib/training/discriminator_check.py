"""The SN-GAN discriminator's held-out check: does it tell the reference from the generator's output?

An adversarial fine-tune only does something when its discriminator learns: an LSGAN discriminator
that outputs a constant 0.5 scores ``d_loss = 0.25`` and ``g_adv = 0.25`` and hands the generator a
near-constant term (the first shipped SN-GAN ended there, issue 28). Its training loss alone does
not show it, so the trainer asks, on the validation slices the discriminator never trains on:

* real = the SENSE reference, fake = the current generator's reconstruction of the slice under the
  validation split's fixed mask, both as the training step feeds them: foreground-masked magnitudes
  in units of the volume maximum;
* patch accuracy (:func:`~recon_lib.metrics.discrimination.balanced_accuracy` at 0.5, the midpoint
  of LSGAN's targets 1 and 0) over the scores whose patches are centred on the foreground
  (:meth:`~recon_lib.models.discriminator.PatchDiscriminator.score_mask`; background patches are
  zero in both classes and would only pull the accuracy towards 0.5);
* image AUC (:func:`~recon_lib.metrics.discrimination.roc_auc`): each slice's mean foreground score,
  references against reconstructions.

The trainer runs it at the end of the discriminator warm-up and of every epoch, logs it and warns
when, after the warm-up, the accuracy is below :data:`CHANCE` (:func:`chance_warning`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from recon_lib.metrics.discrimination import balanced_accuracy, roc_auc
from recon_lib.metrics.losses import masked_magnitude
from recon_lib.models.inference import reconstruct

__all__ = ["CHANCE", "THRESHOLD", "discriminator_check", "chance_warning"]

#: a held-out patch accuracy below this, after the warm-up, counts as "the discriminator is at chance"
CHANCE = 0.55
#: the score above which a patch is called real: the midpoint of LSGAN's targets (real 1, fake 0)
THRESHOLD = 0.5


@torch.inference_mode()
def discriminator_check(
    disc: nn.Module, model: nn.Module, dataset: Dataset, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """The discriminator's held-out accuracy on every slice of ``dataset`` (see the module docstring).

    Both networks are put in eval mode for the check (a spectrally normalised discriminator then
    leaves its power-iteration state alone) and back in training mode after it. The slices are read
    in order, without a ``DataLoader`` (which would draw from torch's global generator).

    Returns:
        ``d_accuracy`` (patch), ``d_auc`` (image), ``d_real`` and ``d_fake`` (the mean foreground
        score of each class) and ``slices``.
    """
    disc.eval()
    model.eval()
    real_scores: list[torch.Tensor] = []
    fake_scores: list[torch.Tensor] = []
    real_images: list[torch.Tensor] = []
    fake_images: list[torch.Tensor] = []
    for index in range(len(dataset)):  # type: ignore[arg-type]
        batch: dict[str, Any] = default_collate([dataset[index]])
        rec = reconstruct(model, batch, device)
        target = batch["target"].to(device)
        fg = batch["foreground"].to(device)
        scale = batch["max"].to(device=device, dtype=target.dtype).view(-1, 1, 1, 1)
        scores = disc(torch.cat([masked_magnitude(target, fg), masked_magnitude(rec, fg)]) / scale)
        keep = disc.score_mask(fg)[0]  # type: ignore[operator]  # (1, h, w)
        if not bool(keep.any()):
            continue
        real, fake = scores[0][keep].float().cpu(), scores[1][keep].float().cpu()
        real_scores.append(real)
        fake_scores.append(fake)
        real_images.append(real.mean())
        fake_images.append(fake.mean())
    disc.train()
    model.train()
    if not real_scores:
        raise ValueError("no validation slice has a foreground to score")
    real_all, fake_all = torch.cat(real_scores), torch.cat(fake_scores)
    return {
        "d_accuracy": balanced_accuracy(real_all, fake_all, threshold=THRESHOLD),
        "d_auc": roc_auc(torch.stack(real_images), torch.stack(fake_images)),
        "d_real": float(real_all.mean()),
        "d_fake": float(fake_all.mean()),
        "slices": len(real_images),
    }


def chance_warning(stage: str, step: int, result: dict[str, float], warmup_steps: int) -> str | None:
    """The warning to give when the discriminator, after its warm-up, is at chance (None: it is not).

    Example:
        >>> import textwrap
        >>> print(textwrap.fill(chance_warning("finetune_gan", 384, {"d_accuracy": 0.51, "d_auc": 0.57}, 0), 96))
        finetune_gan step 384: the discriminator is at chance on held-out validation slices (patch
        accuracy 0.510 < 0.55, image AUC 0.570): the adversarial term is near-constant, so the generator
        is trained by gamma L_SN alone; raise d_lr (Σ-net: 1e-4), add a warm-up (d_warmup_steps) or
        d_steps
        >>> chance_warning("finetune_gan", 10, {"d_accuracy": 0.51, "d_auc": 0.5}, 20) is None  # still warming up
        True
    """
    if step < warmup_steps or result["d_accuracy"] >= CHANCE:
        return None
    return (
        f"{stage} step {step}: the discriminator is at chance on held-out validation slices "
        f"(patch accuracy {result['d_accuracy']:.3f} < {CHANCE}, image AUC {result['d_auc']:.3f}): the adversarial "
        "term is near-constant, so the generator is trained by gamma L_SN alone; raise d_lr (Σ-net: 1e-4), "
        "add a warm-up (d_warmup_steps) or d_steps"
    )
