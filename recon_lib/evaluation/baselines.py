"""The classical rows of Table 1, each tuned on the validation split: CG-SENSE and L1-wavelet.

A classical method is only a fair baseline when its free parameter is chosen as carefully as the
networks' weights, and on data the test never sees: CG-SENSE's iteration count (it semi-converges:
later iterations amplify noise) and L1-wavelet's sparsity weight are each chosen per acceleration
as the value with the lowest mean foreground NMSE over the validation volumes.

L1-wavelet's weight is given relative to the data: ``lam = fraction * max|E^H y|`` of each slice
(the zero-filled SENSE image's peak), so one fraction suits every slice and scan scaling.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.core.tensors import center_crop
from recon_lib.evaluation.protocol import Reconstructor, iter_volumes, run_method
from recon_lib.metrics.quality import nmse
from recon_lib.physics.classical import cg_sense, l1_wavelet
from recon_lib.physics.coils import sens_reduce

__all__ = ["L1_FRACTIONS", "choose_cg_iterations", "choose_l1_fraction", "cg_method", "l1_method"]

#: the candidate L1-wavelet weights, as fractions of each slice's max|E^H y| (a geometric grid)
L1_FRACTIONS = (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008)
#: FISTA iterations of the L1-wavelet row
L1_ITERS = 30


def _per_af(value: Any, batch: Mapping[str, Any]) -> Any:
    return value[int(batch["acceleration"][0])] if isinstance(value, Mapping) else value


def cg_method(iters: int | Mapping[int, int], device: torch.device | str = "cpu") -> Reconstructor:
    """CG-SENSE with ``iters`` iterations (or one count per acceleration), cropped to the target."""

    def cg(batch: Mapping[str, Any]) -> torch.Tensor:
        k, s, m = (batch[key].to(device) for key in ("kspace", "maps", "mask"))
        return center_crop(cg_sense(k, s, m, num_iters=_per_af(iters, batch)), tuple(batch["target"].shape[-2:]))

    return cg


def l1_method(fraction: float | Mapping[int, float], device: torch.device | str = "cpu") -> Reconstructor:
    """L1-wavelet (sigpy, db4, 30 FISTA iterations) with ``lam = fraction * max|E^H y|`` per slice."""

    def l1(batch: Mapping[str, Any]) -> torch.Tensor:
        k, s, m = batch["kspace"], batch["maps"], batch["mask"]
        frac = float(_per_af(fraction, batch))
        peaks = sens_reduce(k * m, s).abs().amax(dim=(-2, -1))  # (B,)
        slices = [
            l1_wavelet(k[i : i + 1], s[i : i + 1], m[i : i + 1], lam=frac * float(peaks[i]), num_iters=L1_ITERS)
            for i in range(k.shape[0])
        ]
        return center_crop(torch.cat(slices), tuple(batch["target"].shape[-2:])).to(device)

    return l1


def choose_cg_iterations(
    root: str | Path, accelerations: Iterable[int] = (4, 8), max_iters: int = 30, limit_volumes: int | None = None
) -> dict[int, int]:
    """CG-SENSE's iteration count per acceleration, chosen on a (validation) split: the count with the
    lowest mean foreground NMSE over its volumes.

    Returns:
        ``{acceleration: iterations}``.
    """
    chosen = {}
    for af in accelerations:
        curves = []
        for info, batches in iter_volumes(root, af, limit_volumes):
            with torch.inference_mode():
                iterates = [
                    cg_sense(b["kspace"], b["maps"], b["mask"], num_iters=max_iters, return_history=True)[1]["iterates"]
                    for b in batches
                ]  # per batch: (max_iters + 1, B, H, W)
            size = tuple(info["target"].shape[-2:])
            curve = []
            for i in range(1, max_iters + 1):
                pred = torch.cat([center_crop(it[i], size).abs() for it in iterates]).numpy()
                curve.append(nmse(info["target"], pred, mask=info["foreground"]))
            curves.append(curve)
        chosen[int(af)] = int(np.argmin(np.mean(curves, axis=0))) + 1
    return chosen


def choose_l1_fraction(
    root: str | Path,
    accelerations: Iterable[int] = (4, 8),
    fractions: Iterable[float] = L1_FRACTIONS,
    limit_volumes: int | None = None,
) -> dict[int, float]:
    """L1-wavelet's weight (a fraction of max|E^H y|) per acceleration, chosen on a (validation) split:
    the candidate with the lowest mean foreground NMSE over its volumes.

    Returns:
        ``{acceleration: fraction}``.
    """
    candidates = [float(f) for f in fractions]
    if not candidates or not all(f > 0 for f in candidates):
        raise ValueError(f"fractions must be positive numbers, got {candidates!r}")
    chosen = {}
    for af in accelerations:
        volumes = list(iter_volumes(root, af, limit_volumes))
        errors = [
            np.mean([nmse(i["target"], run_method(l1_method(f), b), mask=i["foreground"]) for i, b in volumes])
            for f in candidates
        ]
        best = int(np.argmin(errors))
        if best in (0, len(candidates) - 1) and len(candidates) > 1:
            warnings.warn(
                f"L1-wavelet weight at AF {af}: the best candidate {candidates[best]:g} is at the edge of the grid "
                f"{candidates}; the optimum may lie beyond it",
                stacklevel=2,
            )
        chosen[int(af)] = candidates[best]
    return chosen
