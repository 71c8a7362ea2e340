"""Running a reconstruction model on dataset samples: one path for training, evaluation and notebooks.

Every reconstructor in recon_lib (``SensitivityNetwork``, ``UNetReconstructor``) maps
``(kspace, maps, mask)`` to a complex image on the k-space grid ``(B, H, W)``; the reference
lives on the smaller recon grid ``(rh, rw)``, so outputs are centre-cropped before comparing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from recon_lib.core.tensors import center_crop
from recon_lib.physics.coils import sens_reduce

__all__ = ["model_inputs", "reconstruct", "zero_filled"]


def model_inputs(batch: Mapping[str, Any], device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """``(kspace, maps, mask)`` of a (collated) dataset batch, moved to ``device``."""
    for key in ("kspace", "maps", "mask"):
        if key not in batch:
            raise KeyError(f"batch has no {key!r} entry (keys: {sorted(batch)})")
    return tuple(batch[k].to(device, non_blocking=True) for k in ("kspace", "maps", "mask"))


def reconstruct(model: nn.Module, batch: Mapping[str, Any], device: torch.device | str = "cpu") -> torch.Tensor:
    """Reconstruct a batch and crop to the reference size.

    Returns:
        Complex image ``(B, rh, rw)`` on ``device`` (rh, rw = the batch's ``target`` size).
    """
    kspace, maps, mask = model_inputs(batch, device)
    out = model(kspace, maps, mask)  # (B, H, W) complex
    return center_crop(out, tuple(batch["target"].shape[-2:]))


def zero_filled(batch: Mapping[str, Any], device: torch.device | str = "cpu") -> torch.Tensor:
    """Zero-filled SENSE image ``E^H y`` cropped to the reference size, complex ``(B, rh, rw)``."""
    kspace, maps, mask = model_inputs(batch, device)
    return center_crop(sens_reduce(kspace, maps, mask), tuple(batch["target"].shape[-2:]))
