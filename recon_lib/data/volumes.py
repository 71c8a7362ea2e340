"""A split's volumes under fixed masks: what every comparison of methods, and the trainer's choice among
SN-GAN snapshots, iterate over.

Every method sees the same masks: for each (volume, acceleration, mask seed) the mask is seeded by the
file name and the seed (:func:`~recon_lib.physics.masks.seed_from_name`), as fastMRI does for its
validation data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from recon_lib.data.dataset import KneeDataset
from recon_lib.physics.masks import MaskFunc

__all__ = ["iter_volumes", "collate"]


def iter_volumes(
    root: str | Path, acceleration: float, limit_volumes: int | None = None, batch_size: int = 4, mask_seed: int = 0
) -> Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(info, batches)`` per test volume at one acceleration, with fixed per-volume masks.

    ``info`` holds ``fname``, ``acquisition``, ``target`` (slices, rh, rw), ``foreground``, ``mask_seed``
    and ``noise_free`` (the simulator's noise-free magnitude, or None for real data).
    """
    ds = KneeDataset(
        root, mask_func=MaskFunc([acceleration]), train=False, limit_volumes=limit_volumes, mask_seed=mask_seed
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False)
    by_volume: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order: list[str] = []
    for sample in loader:
        name = sample["fname"][0]
        if name not in by_volume:
            order.append(name)
        by_volume[name].append(sample)
    for name in order:
        slices = by_volume[name]
        batches = [collate(slices[i : i + batch_size]) for i in range(0, len(slices), batch_size)]
        info = {
            "fname": name,
            "acquisition": slices[0]["acquisition"][0],
            "target": torch.cat([s["target"] for s in slices]).numpy(),
            "foreground": torch.cat([s["foreground"] for s in slices]).numpy().astype(bool),
            "mask_seed": mask_seed,
            "noise_free": ds.noise_free(next(i for i, r in enumerate(ds.volumes) if r.fname == name)),
        }
        yield info, batches


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch from per-slice samples: tensors concatenated, other fields as flat lists."""
    out: dict[str, Any] = {}
    for key, value in samples[0].items():
        if isinstance(value, torch.Tensor):
            out[key] = torch.cat([s[key] for s in samples])
        else:
            out[key] = [v for s in samples for v in s[key]]
    return out
