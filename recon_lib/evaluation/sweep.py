"""The alpha sweep: every measure against alpha, for network interpolation and for image blending.

Network: ``theta(alpha) = (1 - alpha) theta_SN + alpha theta_GAN``, then reconstruct. Image:
``|(1 - alpha) x_SN + alpha x_GAN|`` of the two end models' complex outputs. Both are scored on
the same volumes under the same masks (:mod:`recon_lib.evaluation.protocol`), so at each alpha the
two paths are compared *paired*: :func:`network_vs_blend` gives the mean difference with a 95 %
stratified bootstrap interval over volumes and an exact sign-flip test
(:mod:`recon_lib.metrics.statistics`).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from recon_lib.evaluation.protocol import iter_volumes, run_method, score
from recon_lib.metrics.panel import BETTER, PERCEPTION_AXIS
from recon_lib.metrics.statistics import paired_differences
from recon_lib.models.checkpoint import load_role_model
from recon_lib.models.inference import reconstruct
from recon_lib.models.interpolation import ModelInterpolator, WeightSpec
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

__all__ = [
    "ALPHAS",
    "load_end_points",
    "alpha_sweep_rows",
    "summarise_sweep",
    "alpha_sweep",
    "network_vs_blend",
    "select_alpha",
    "load_sweep_records",
    "schedule_scores",
    "SWEEP_DIFFERENCES",
]

ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))
#: measures whose network-minus-blend differences are tested (distortion, the perception axis, texture)
SWEEP_DIFFERENCES = ("psnr", "ssim", "vif", "haarpsi", "hf_energy_ratio")


def _method(mode: str, alpha: float) -> str:
    return f"{mode} α={alpha:g}"


def load_end_points(
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    accelerations: Iterable[float] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The sweep's end points from a checkpoint folder: the SN (alpha = 0) and the SN-GAN (alpha = 1).

    Each file is checked against its role (:func:`~recon_lib.models.checkpoint.check_role`): the
    stage it records, and, given ``accelerations``, that it was trained for them.

    Raises:
        CheckpointError: a file is missing, damaged, not a sensitivity network or not of its role.
    """
    sn, _ = load_role_model(FINETUNE_SN.checkpoint_path(checkpoint_dir), "sn", device, accelerations)
    gan, _ = load_role_model(FINETUNE_GAN.checkpoint_path(checkpoint_dir), "sn_gan", device, accelerations)
    return sn, gan


def alpha_sweep_rows(
    root: str | Path,
    sn: nn.Module,
    gan: nn.Module,
    alphas: Iterable[float] = ALPHAS,
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> list[dict[str, Any]]:
    """One row per (mode, acceleration, alpha, volume, mask seed) with every measure of the metric panel.

    Rows carry ``method`` (``"network α=0.3"`` / ``"image α=0.3"``), ``mode``, ``alpha``,
    ``acceleration``, ``acquisition``, ``volume`` and ``mask_seed``: the form
    :func:`~recon_lib.metrics.statistics.paired_differences` reads.
    """
    from tqdm.auto import tqdm

    alphas = [float(a) for a in alphas]
    live = type(sn)(**cast(dict[str, Any], sn.config)).to(device).eval()
    interp = ModelInterpolator(live, [sn.state_dict(), gan.state_dict()])
    rows = []
    for af in accelerations:
        for seed in mask_seeds:
            volumes = list(iter_volumes(root, af, limit_volumes, mask_seed=seed))
            for info, batches in tqdm(
                volumes, desc=f"α sweep, AF {af}, mask {seed}", disable=not progress, leave=False
            ):
                with torch.inference_mode():
                    x_sn = torch.cat([reconstruct(sn, b, device).cpu() for b in batches])
                    x_gan = torch.cat([reconstruct(gan, b, device).cpu() for b in batches])
                for a in alphas:
                    interp.set_alpha(a)
                    preds = {
                        "network": run_method(lambda b: reconstruct(live, b, device), batches),
                        "image": ((1 - a) * x_sn + a * x_gan).abs().numpy(),
                    }
                    for mode, pred in preds.items():
                        rows.append(
                            {
                                "method": _method(mode, a),
                                "mode": mode,
                                "alpha": a,
                                "acceleration": int(af),
                                "acquisition": info["acquisition"],
                                "volume": info["fname"],
                                "mask_seed": int(seed),
                                **score(info, pred),
                            }
                        )
    return rows


def summarise_sweep(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, acceleration): mean and std over volumes (each volume's value is its
    mean over its masks) of every measure, with ``method``, ``mode``, ``alpha``, ``volumes`` and ``masks``."""
    keys = ("method", "mode", "alpha", "acceleration", "acquisition", "volume", "mask_seed")
    grouped: dict[tuple[str, str, int, float | None], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        grouped[(r["method"], r["mode"], r["acceleration"], r["alpha"])][r["volume"]].append(r)
    records = []
    for (method, mode, af, a), by_volume in grouped.items():
        measures = [k for k in next(iter(by_volume.values()))[0] if k not in keys]
        per_volume = [{k: float(np.mean([m[k] for m in masks])) for k in measures} for masks in by_volume.values()]
        rec: dict[str, Any] = {"method": method, "mode": mode, "acceleration": af, "alpha": a}
        rec["volumes"] = len(per_volume)
        rec["masks"] = len(next(iter(by_volume.values())))
        for key in measures:
            vals = np.array([v[key] for v in per_volume])
            rec[key] = float(vals.mean())
            rec[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        records.append(rec)
    return records


def alpha_sweep(
    root: str | Path,
    sn: nn.Module,
    gan: nn.Module,
    alphas: Iterable[float] = ALPHAS,
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> list[dict[str, Any]]:
    """Metrics against alpha for network interpolation and for image-space blending.

    Returns:
        :func:`summarise_sweep` of :func:`alpha_sweep_rows`: one record per (mode, acceleration,
        alpha) with the mean and std over volumes of every measure of the metric panel.
    """
    return summarise_sweep(
        alpha_sweep_rows(root, sn, gan, alphas, accelerations, limit_volumes, device, progress, mask_seeds)
    )


def network_vs_blend(
    rows: Sequence[dict[str, Any]],
    metrics: Iterable[str] = SWEEP_DIFFERENCES,
    reps: int = 10_000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired differences network - blend at every interior alpha (the end points are the same model).

    Returns:
        :func:`~recon_lib.metrics.statistics.paired_differences` records (``a`` = ``"network α=…"``,
        ``b`` = ``"image α=…"``) with ``alpha`` added: mean over volumes, 95 % bootstrap CI and
        the sign-flip ``p_value``.
    """
    alphas = sorted({float(r["alpha"]) for r in rows} - {0.0, 1.0})
    present = {k for r in rows[:1] for k in r}
    wanted = [m for m in metrics if m in present]
    out = []
    for a in alphas:
        for rec in paired_differences(
            rows, [(_method("network", a), _method("image", a))], wanted, reps=reps, seed=seed
        ):
            out.append({"alpha": a, **rec})
    return out


def select_alpha(
    records: Sequence[dict[str, Any]],
    acceleration: int,
    *,
    budget_db: float = 0.5,
    score: str = PERCEPTION_AXIS,
    better: str | None = None,
    mode: str = "network",
) -> dict[str, Any]:
    """Automatic alpha (the paper's future work): the best ``score`` within a fidelity budget.

    Among the swept alphas whose mean PSNR is at most ``budget_db`` below the SN's (alpha = 0), the
    one with the best mean ``score``; ties go to the smaller alpha (closer to the SN). Run it on
    sweep records of the *validation* split (:func:`alpha_sweep` on ``val/``), then use the alpha on
    the test split.

    Args:
        records: :func:`summarise_sweep` / :func:`alpha_sweep` records.
        acceleration: the acceleration to choose for.
        budget_db: the PSNR the user is willing to give up (>= 0).
        score: the measure to optimise (default the perception axis, VIF).
        better: ``"higher"``, ``"lower"`` or ``"closer_to_1"`` (default: the panel's direction for
            ``score``, ``"closer_to_1"`` for HF-energy ratios).
        mode: ``"network"`` (interpolation) or ``"image"`` (blending).

    Returns:
        ``{"alpha", "acceleration", "score", "value", "psnr", "psnr_drop", "psnr_change", "budget_db",
        "admissible"}`` (``psnr_change = -psnr_drop``, the chosen alpha's PSNR minus the SN's, for
        printing with a sign; ``admissible``: the alphas within the budget).

    Example:
        >>> recs = [{"mode": "network", "acceleration": 8, "alpha": a, "psnr": p, "vif": v}
        ...         for a, p, v in [(0.0, 30.0, 0.50), (0.5, 29.8, 0.55), (1.0, 29.0, 0.60)]]
        >>> select_alpha(recs, 8, budget_db=0.5)["alpha"]
        0.5
    """
    if not (isinstance(budget_db, (int, float)) and math.isfinite(budget_db) and budget_db >= 0):
        raise ValueError(f"budget_db must be a non-negative number of dB, got {budget_db!r}")
    rows = sorted(
        (r for r in records if r["mode"] == mode and int(r["acceleration"]) == int(acceleration)),
        key=lambda r: r["alpha"],
    )
    if not rows:
        raise ValueError(f"the sweep holds no {mode!r} records at AF {acceleration}")
    if score not in rows[0]:
        measures = sorted(k for k in rows[0] if k not in ("mode", "acceleration", "alpha") and not k.endswith("_std"))
        raise ValueError(f"score {score!r} is not in the sweep records (they hold: {', '.join(measures)})")
    direction = better or ("closer_to_1" if score.startswith("hf_energy_ratio") else BETTER.get(score))
    keys = {"higher": lambda v: -v, "lower": lambda v: v, "closer_to_1": lambda v: abs(1 - v)}
    if direction not in keys:
        raise ValueError(f"better must be 'higher', 'lower' or 'closer_to_1' for {score!r}, got {direction!r}")
    base = next((r for r in rows if r["alpha"] == 0.0), None)
    if base is None:
        raise ValueError(f"the sweep at AF {acceleration} has no alpha = 0 (the SN) to measure the budget from")
    admissible = [r for r in rows if r["psnr"] >= base["psnr"] - budget_db]
    best = min(admissible, key=lambda r: (keys[direction](r[score]), r["alpha"]))
    return {
        "alpha": best["alpha"],
        "acceleration": int(acceleration),
        "score": score,
        "value": best[score],
        "psnr": best["psnr"],
        "psnr_drop": base["psnr"] - best["psnr"],
        "psnr_change": best["psnr"] - base["psnr"],
        "budget_db": float(budget_db),
        "admissible": [r["alpha"] for r in admissible],
    }


def schedule_scores(
    root: str | Path,
    models: Sequence[nn.Module],
    schedules: Mapping[str, WeightSpec],
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    mask_seeds: Iterable[int] = (0,),
) -> list[dict[str, Any]]:
    """Every measure of the metric panel for networks interpolated by named weight schedules.

    A schedule is anything :meth:`~recon_lib.models.interpolation.ModelInterpolator.set_weights`
    takes: one simplex point (e.g. ``[0.5, 0.5]``, global alpha 0.5), or weights per key prefix
    (:func:`~recon_lib.models.interpolation.cascade_weights`: early cascades SN, late ones SN-GAN).

    Returns:
        Per-(schedule, volume, mask) rows as :func:`alpha_sweep_rows` gives them, with ``method``
        the schedule's name (``mode`` ``"schedule"``, ``alpha`` None): summarise with
        :func:`summarise_sweep` or compare pairs with :func:`~recon_lib.metrics.statistics.paired_differences`.
    """
    first = models[0]
    live = type(first)(**cast(dict[str, Any], first.config)).to(device).eval()
    interp = ModelInterpolator(live, [m.state_dict() for m in models])
    for name, weights in schedules.items():  # every schedule checked before anything runs
        try:
            interp.set_weights(weights)
        except (TypeError, ValueError) as err:
            raise ValueError(f"schedule {name!r}: {err}") from None
    rows = []
    for af in accelerations:
        for seed in mask_seeds:
            for info, batches in iter_volumes(root, af, limit_volumes, mask_seed=seed):
                for name, weights in schedules.items():
                    interp.set_weights(weights)
                    pred = run_method(lambda b: reconstruct(live, b, device), batches)
                    rows.append(
                        {
                            "method": name,
                            "mode": "schedule",
                            "alpha": None,
                            "acceleration": int(af),
                            "acquisition": info["acquisition"],
                            "volume": info["fname"],
                            "mask_seed": int(seed),
                            **score(info, pred),
                        }
                    )
    return rows


def load_sweep_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Sweep records from a JSON file (a list, or ``{"records": [...]}`` as ``make alpha-validation``
    writes); a clear error names the file when it is missing or not sweep records."""
    import json

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no validation sweep at {file}: run `make alpha-validation` to make it")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not JSON: {err}") from None
    records = data.get("records") if isinstance(data, dict) else data
    needed = {"mode", "acceleration", "alpha", "psnr"}
    if not (isinstance(records, list) and records and all(isinstance(r, dict) and needed <= set(r) for r in records)):
        raise ValueError(f"{file} holds no sweep records (a list of dicts with {', '.join(sorted(needed))})")
    return records
