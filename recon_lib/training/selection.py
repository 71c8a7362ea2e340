"""Which SN-GAN ships: a rule fixed before training, applied to snapshots taken during the stage.

An adversarial fine-tune trades fidelity for texture as it goes on, and how fast depends on the
acceleration (AF 4 moves several times faster than AF 8; issue 28). So the trainer keeps a snapshot
every ``snapshot_every`` steps after the discriminator's warm-up (the first one is the starting SN,
the generator not yet moved), and at the end of the stage ships **the last snapshot that every
acceleration accepts**:

* fidelity: its mean foreground PSNR against the noise-free truth is at most ``psnr_budget_db``
  below the starting SN's (per acceleration, over the validation volumes and two fixed mask draws);
* texture: its high-frequency energy over the truth's in the PD volumes' foreground
  (:func:`~recon_lib.metrics.quality.high_frequency_energy_ratio`) is at most ``hf_cap`` -- more
  would be texture the truth does not have.

With ``ship_per_acceleration`` the rule is also applied at each acceleration alone, and each
acceleration's choice ships as its own checkpoint (``sn_gan_af<a>.pt``) beside the one every
acceleration accepts: the same run, the same rule, one budget per acceleration.

If no snapshot qualifies, nothing ships (the stage fails, naming the scores). The scores are against
the noise-free image, which only a simulated validation split has; a split without it (real data)
scores against the SENSE reference, and the table says so.

Example:
    >>> rows = {10: {4: {"dpsnr": 0.0, "hf": 0.9}}, 20: {4: {"dpsnr": -0.6, "hf": 1.1}},
    ...         30: {4: {"dpsnr": -1.2, "hf": 1.2}}}
    >>> last_qualifying(rows, psnr_budget_db=1.0, hf_cap=1.15)
    20
    >>> rows[30][8] = {"dpsnr": -0.3, "hf": 0.7}
    >>> for step in (10, 20):
    ...     rows[step][8] = {"dpsnr": 0.0, "hf": 0.5}
    >>> last_qualifying_per_acceleration(rows, psnr_budget_db=1.0, hf_cap=1.15)
    {4: 20, 8: 30}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.data.volumes import iter_volumes
from recon_lib.metrics.quality import high_frequency_energy_ratio, psnr
from recon_lib.models.inference import reconstruct

__all__ = ["PD_ACQUISITION", "MASK_SEEDS", "snapshot_scores", "last_qualifying", "last_qualifying_per_acceleration"]

#: the acquisition whose texture the rule caps (PD shows the marrow's texture; PDFS is fat-suppressed)
PD_ACQUISITION = "CORPD_FBK"
#: the fixed mask draws every snapshot is scored under (the same for every snapshot)
MASK_SEEDS = (0, 1)


#: one volume of the split at one acceleration and mask draw: its facts, its slices, the starting SN's magnitude
_Item = tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]


class _Split:
    """The validation split at each acceleration and mask draw, with the starting SN's reconstructions."""

    def __init__(
        self, root: str | Path, start: nn.Module, accelerations: Sequence[float], device: torch.device
    ) -> None:
        self.device = device
        self.items: dict[float, list[_Item]] = {
            af: [
                (info, slices, self.run(start, slices))
                for seed in MASK_SEEDS
                for info, slices in iter_volumes(root, af, batch_size=1, mask_seed=seed)
            ]
            for af in accelerations
        }

    @torch.inference_mode()
    def run(self, model: nn.Module, slices: list[dict[str, Any]]) -> np.ndarray:
        """The magnitude of ``model`` on one volume's slices, ``(slices, rh, rw)``."""
        model.eval()
        return torch.cat([reconstruct(model, s, self.device).abs().cpu() for s in slices]).numpy()


def _scores(items: list[_Item], recs: list[np.ndarray]) -> dict[str, float]:
    """One snapshot's scores at one acceleration (means over volumes and mask draws)."""
    dpsnr, hf, hf_start, pd_seen = [], [], [], False
    for (info, _, start), rec in zip(items, recs, strict=True):
        truth = info["noise_free"] if info["noise_free"] is not None else info["target"]
        fg = info["foreground"]
        dpsnr.append(psnr(truth, rec, mask=fg) - psnr(truth, start, mask=fg))
        if info["acquisition"] == PD_ACQUISITION:
            pd_seen = True
            hf.append(high_frequency_energy_ratio(truth, rec, mask=fg))
            hf_start.append(high_frequency_energy_ratio(truth, start, mask=fg))
    if not pd_seen:  # no PD volume in the split: the cap applies to every volume
        for (info, _, start), rec in zip(items, recs, strict=True):
            truth = info["noise_free"] if info["noise_free"] is not None else info["target"]
            hf.append(high_frequency_energy_ratio(truth, rec, mask=info["foreground"]))
            hf_start.append(high_frequency_energy_ratio(truth, start, mask=info["foreground"]))
    return {"dpsnr": float(np.mean(dpsnr)), "hf": float(np.mean(hf)), "hf_start": float(np.mean(hf_start))}


def snapshot_scores(
    root: str | Path,
    start: nn.Module,
    snapshots: Mapping[int, nn.Module],
    accelerations: Sequence[float],
    device: torch.device | str = "cpu",
) -> dict[int, dict[float, dict[str, float]]]:
    """``{step: {acceleration: {"dpsnr", "hf", "hf_start"}}}`` for each snapshot model.

    Args:
        root: the validation split folder (prepared).
        start: the model the stage started from (the pre-trained SN): ``dpsnr`` is against it.
        snapshots: step -> the generator at that step.
        accelerations: the accelerations to score at.
        device: where the models run.
    """
    split = _Split(root, start, accelerations, torch.device(device))
    out: dict[int, dict[float, dict[str, float]]] = {}
    for step, model in snapshots.items():
        out[step] = {
            af: _scores(items, [split.run(model, batches) for _, batches, _ in items])
            for af, items in split.items.items()
        }
    return out


def last_qualifying(
    scores: Mapping[int, Mapping[float, Mapping[str, float]]], *, psnr_budget_db: float, hf_cap: float
) -> int | None:
    """The last step (in step order) whose scores meet the rule at every acceleration; None if none does."""
    ok = [
        step
        for step, by_af in scores.items()
        if all(s["dpsnr"] >= -psnr_budget_db and s["hf"] <= hf_cap and not math.isnan(s["hf"]) for s in by_af.values())
    ]
    return max(ok) if ok else None


def last_qualifying_per_acceleration(
    scores: Mapping[int, Mapping[float, Mapping[str, float]]], *, psnr_budget_db: float, hf_cap: float
) -> dict[float, int | None]:
    """:func:`last_qualifying` at each acceleration alone: ``{acceleration: step or None}``."""
    accelerations = sorted({af for by_af in scores.values() for af in by_af})
    return {
        af: last_qualifying(
            {step: {af: by_af[af]} for step, by_af in scores.items() if af in by_af},
            psnr_budget_db=psnr_budget_db,
            hf_cap=hf_cap,
        )
        for af in accelerations
    }
