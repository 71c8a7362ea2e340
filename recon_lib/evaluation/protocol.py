"""The evaluation protocol shared by Table 1 and the alpha sweep: test volumes under fixed masks, scored.

Every method sees the same masks: for each (volume, acceleration, mask seed) the mask is seeded
by the file name (and the seed; :func:`~recon_lib.physics.masks.seed_from_name`), as fastMRI does
for its validation data. A reconstruction is scored on the foreground with every measure of the
metric panel (:func:`recon_lib.metrics.panel.score_volume`), against the SENSE reference and,
where the raw file holds it, against the noise-free image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.data.dataset import KneeDataset
from recon_lib.data.volumes import collate, iter_volumes
from recon_lib.metrics.panel import score_volume
from recon_lib.physics.masks import MaskFunc

__all__ = ["Reconstructor", "has_truth", "score", "iter_volumes", "collate", "run_method"]

#: a reconstruction method: collated batch -> complex image cropped to the target size (B, rh, rw)
Reconstructor = Callable[[Mapping[str, Any]], torch.Tensor]


def has_truth(root: str | Path, limit_volumes: int | None = None) -> bool:
    """Whether every volume of a split folder holds the simulator's noise-free image."""
    ds = KneeDataset(root, mask_func=MaskFunc([4]), train=False, limit_volumes=limit_volumes)
    return all(ds.noise_free(i) is not None for i in range(len(ds.volumes)))


def score(info: Mapping[str, Any], pred: np.ndarray) -> dict[str, float]:
    """Every score of one reconstructed volume of ``info`` (:func:`iter_volumes`), by
    :func:`~recon_lib.metrics.panel.score_volume`."""
    return score_volume(info["target"], pred, mask=info["foreground"], truth=info["noise_free"])


def run_method(method: Reconstructor, batches: list[dict[str, Any]]) -> np.ndarray:
    """Magnitude of ``method`` on every batch of one volume, ``(slices, rh, rw)``, without gradients."""
    with torch.inference_mode():
        return torch.cat([method(b).abs().cpu() for b in batches]).numpy()  # (slices, rh, rw)
