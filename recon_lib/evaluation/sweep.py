"""The alpha sweep: every measure against alpha, for network interpolation and for image blending.

Network: ``theta(alpha) = (1 - alpha) theta_SN + alpha theta_GAN``, then reconstruct. Image:
``|(1 - alpha) x_SN + alpha x_GAN|`` of the two end models' complex outputs. Both are scored on
the same volumes under the same masks (:mod:`recon_lib.evaluation.protocol`), so at each alpha the
two paths are compared *paired*: :func:`network_vs_blend` gives the mean difference with a 95 %
stratified bootstrap interval over volumes and an exact sign-flip test
(:mod:`recon_lib.metrics.statistics`).

The SN-GAN end point is the one that serves each acceleration: ``sn_gan_af<AF>.pt`` where the
adversarial fine-tune shipped one for that acceleration, else ``sn_gan.pt``
(:meth:`~recon_lib.models.stages.Stage.checkpoint_for`). :func:`load_end_points_by_acceleration`
loads each file once (accelerations served by one file share one model), and the sweeps take the
SN-GAN as one model or as ``{acceleration: model}``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from torch import nn

from recon_lib.evaluation.protocol import iter_volumes, run_method, score
from recon_lib.metrics.panel import BETTER, PERCEPTION_AXIS
from recon_lib.metrics.statistics import paired_differences
from recon_lib.models.checkpoint import CheckpointError, load_role_model
from recon_lib.models.inference import reconstruct
from recon_lib.models.interpolation import ModelInterpolator, WeightSpec, check_same_architecture
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN
from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS

__all__ = [
    "ALPHAS",
    "EndPoints",
    "GanSpec",
    "load_end_points",
    "load_end_points_by_acceleration",
    "load_sn_gans",
    "check_shipped_for",
    "sn_gan_checkpoints",
    "sn_gan_note",
    "with_checkpoints",
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


#: the SN-GAN of a sweep: one model for every acceleration, or one per acceleration
GanSpec = nn.Module | Mapping[int, nn.Module]


class EndPoints(NamedTuple):
    """The sweep's end points per acceleration (:func:`load_end_points_by_acceleration`).

    Attributes:
        sn: the SN (alpha = 0), one for every acceleration.
        gans: ``{acceleration: the SN-GAN serving it}`` (alpha = 1); accelerations served by one
            file share one model object.
        files: ``{acceleration: that SN-GAN's checkpoint file}``.
    """

    sn: nn.Module
    gans: dict[int, nn.Module]
    files: dict[int, Path]

    def checkpoints(self) -> dict[str, str]:
        """``{"4": ".../sn_gan.pt", "8": ".../sn_gan_af8.pt"}``: the SN-GAN file of each acceleration
        (string keys, as the JSON result files store them)."""
        return {str(af): str(path) for af, path in self.files.items()}


def sn_gan_checkpoints(checkpoint_dir: str | os.PathLike[str], accelerations: Iterable[float]) -> dict[int, Path]:
    """The SN-GAN checkpoint serving each acceleration: ``sn_gan_af<AF>.pt`` where it exists, else
    ``sn_gan.pt`` (:meth:`~recon_lib.models.stages.Stage.checkpoint_for`).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "sn_gan_af8.pt").write_bytes(b"")
        >>> {af: p.name for af, p in sn_gan_checkpoints(folder, [4, 8]).items()}
        {4: 'sn_gan.pt', 8: 'sn_gan_af8.pt'}
    """
    return {int(af): FINETUNE_GAN.checkpoint_for(checkpoint_dir, af) for af in accelerations}


def check_shipped_for(metadata: Mapping[str, Any], acceleration: int, path: Path) -> None:
    """``CheckpointError`` unless a per-acceleration checkpoint (``<stem>_af<AF>.pt``) that records
    ``shipped_for`` records ``acceleration``, the acceleration of its name (one that records none passes)."""
    shipped = metadata.get("shipped_for")
    if shipped is None:
        return
    try:
        same = float(shipped) == float(acceleration)
    except (TypeError, ValueError):
        same = False
    if not same:
        raise CheckpointError(
            f"{path} records shipped_for {shipped!r}, but its name makes it the checkpoint of AF {acceleration}"
        )


def load_sn_gans(
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    accelerations: Iterable[float] | None = None,
) -> tuple[dict[int, nn.Module], dict[int, Path]]:
    """The SN-GAN serving each acceleration (:func:`sn_gan_checkpoints`), each file loaded once.

    Each file is checked against the SN-GAN role (:func:`~recon_lib.models.checkpoint.check_role`):
    a per-acceleration file (``sn_gan_af<AF>.pt``) for its own acceleration (and the ``shipped_for``
    it records), the shared ``sn_gan.pt`` for the accelerations it serves.

    Args:
        checkpoint_dir: the checkpoint folder.
        device: where the models go.
        accelerations: the accelerations to serve; None: the known ones
            (:data:`~recon_lib.physics.masks.DEFAULT_CENTER_FRACTIONS`), and the shared file is not
            checked for accelerations (as :func:`load_end_points` without ``accelerations``).

    Returns:
        ``({acceleration: model}, {acceleration: file})``; accelerations served by one file share
        one model object.

    Raises:
        CheckpointError: a file is missing, damaged, not a sensitivity network or not an SN-GAN.
    """
    afs = [int(a) for a in (DEFAULT_CENTER_FRACTIONS if accelerations is None else accelerations)]
    files = sn_gan_checkpoints(checkpoint_dir, afs)
    served: dict[Path, list[int]] = defaultdict(list)
    for af, path in files.items():
        served[path].append(af)
    shared = FINETUNE_GAN.checkpoint_path(checkpoint_dir)
    models: dict[Path, nn.Module] = {}
    for path, afs_served in served.items():
        own = path != shared
        check = afs_served if own or accelerations is not None else None
        models[path], metadata = load_role_model(path, "sn_gan", device, check)
        if own:
            check_shipped_for(metadata, afs_served[0], path)
    return {af: models[path] for af, path in files.items()}, files


def _check_interpolable(sn: nn.Module, gan: nn.Module, sn_path: Path, gan_path: Path) -> None:
    """``CheckpointError`` naming both files unless ``gan`` can be interpolated with ``sn``
    (:func:`~recon_lib.models.interpolation.check_same_architecture`)."""
    try:
        check_same_architecture([sn, gan], ["the SN", "the SN-GAN"])
    except ValueError as err:
        raise CheckpointError(f"{gan_path} cannot be interpolated with {sn_path}: {err}") from None


def load_end_points(
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    accelerations: Iterable[float] | None = None,
    acceleration: float | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The sweep's end points from a checkpoint folder: the SN (alpha = 0) and the SN-GAN (alpha = 1).

    Each file is checked against its role (:func:`~recon_lib.models.checkpoint.check_role`): the
    stage it records, and, given ``accelerations``, that it was trained for them.

    Args:
        acceleration: None: the SN-GAN every acceleration accepts (``sn_gan.pt``); an acceleration:
            the SN-GAN that serves it (``sn_gan_af<AF>.pt`` where it exists,
            :func:`sn_gan_checkpoints`), checked for that acceleration. For several
            accelerations, :func:`load_end_points_by_acceleration`.

    Raises:
        CheckpointError: a file is missing, damaged, not a sensitivity network or not of its role.
    """
    sn, _ = load_role_model(FINETUNE_SN.checkpoint_path(checkpoint_dir), "sn", device, accelerations)
    if acceleration is None:
        gan, _ = load_role_model(FINETUNE_GAN.checkpoint_path(checkpoint_dir), "sn_gan", device, accelerations)
        return sn, gan
    gans, _ = load_sn_gans(checkpoint_dir, device, [acceleration])
    return sn, gans[int(acceleration)]


def load_end_points_by_acceleration(
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    accelerations: Iterable[float] = (4, 8),
) -> EndPoints:
    """The SN, and per acceleration the SN-GAN serving it (:func:`load_sn_gans`): what the sweeps,
    Table 1 and the lessons interpolate at each acceleration.

    The SN is checked for every acceleration; each SN-GAN as :func:`load_sn_gans` checks it, and
    for being interpolable with the SN (one architecture and state-dict layout).

    Raises:
        CheckpointError: a file is missing, damaged, not of its role, or not interpolable with the
            SN (the message names the file).
    """
    accelerations = [int(a) for a in accelerations]
    sn_path = FINETUNE_SN.checkpoint_path(checkpoint_dir)
    sn, _ = load_role_model(sn_path, "sn", device, accelerations)
    gans, files = load_sn_gans(checkpoint_dir, device, accelerations)
    for af, gan in gans.items():
        _check_interpolable(sn, gan, sn_path, files[af])
    return EndPoints(sn, gans, files)


def sn_gan_note(files: Mapping[Any, Any]) -> str:
    """One sentence naming the SN-GAN checkpoint of each acceleration, for the Markdown results.

    Example:
        >>> sn_gan_note({4: "checkpoints/sn_gan.pt", 8: "checkpoints/sn_gan_af8.pt"})
        'SN-GAN checkpoint per acceleration: AF 4: `checkpoints/sn_gan.pt`; AF 8: `checkpoints/sn_gan_af8.pt`.'
    """
    per = "; ".join(f"AF {af}: `{path}`" for af, path in sorted(files.items(), key=lambda kv: float(kv[0])))
    return f"SN-GAN checkpoint per acceleration: {per}."


def with_checkpoints(records: Iterable[dict[str, Any]], files: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """``records`` (each with an ``acceleration``) with ``sn_gan_checkpoint``: the file of the
    SN-GAN that served its acceleration (``files``: acceleration -> file; string or int keys)."""
    by_af = {int(af): str(path) for af, path in files.items()}
    return [{**r, "sn_gan_checkpoint": by_af[int(r["acceleration"])]} for r in records]


def _gan_at(gan: GanSpec, acceleration: float) -> nn.Module:
    """The SN-GAN of ``acceleration``: ``gan`` itself, or its entry when it maps accelerations to models."""
    if isinstance(gan, nn.Module):
        return gan
    if int(acceleration) not in gan:
        served = ", ".join(f"{a:g}" for a in sorted(gan))
        raise ValueError(f"no SN-GAN given for AF {acceleration:g} (the SN-GANs given serve AF {served})")
    return gan[int(acceleration)]


def _forward(model: nn.Module, device: torch.device | str) -> Callable[[Mapping[str, Any]], torch.Tensor]:
    """``model``'s reconstruction of a batch (a method :func:`~recon_lib.evaluation.protocol.run_method` runs)."""
    return lambda batch: reconstruct(model, batch, device)


def _interpolators(
    first: nn.Module, ends: Sequence[Sequence[nn.Module]], device: torch.device | str
) -> list[tuple[nn.Module, ModelInterpolator]]:
    """A live model and its interpolator per set of end models; sets of the same models share one."""
    made: dict[tuple[int, ...], tuple[nn.Module, ModelInterpolator]] = {}
    out = []
    for models in ends:
        key = tuple(id(m) for m in models)
        if key not in made:
            live = type(first)(**cast(dict[str, Any], first.config)).to(device).eval()
            made[key] = (live, ModelInterpolator(live, [m.state_dict() for m in models]))
        out.append(made[key])
    return out


def alpha_sweep_rows(
    root: str | Path,
    sn: nn.Module,
    gan: GanSpec,
    alphas: Iterable[float] = ALPHAS,
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> list[dict[str, Any]]:
    """One row per (mode, acceleration, alpha, volume, mask seed) with every measure of the metric panel.

    ``gan``: the SN-GAN (alpha = 1) of every acceleration, or ``{acceleration: SN-GAN}``
    (:attr:`EndPoints.gans`): each acceleration is then swept towards its own SN-GAN.

    Rows carry ``method`` (``"network α=0.3"`` / ``"image α=0.3"``), ``mode``, ``alpha``,
    ``acceleration``, ``acquisition``, ``volume`` and ``mask_seed``: the form
    :func:`~recon_lib.metrics.statistics.paired_differences` reads.
    """
    from tqdm.auto import tqdm

    alphas = [float(a) for a in alphas]
    accelerations = list(accelerations)
    ends = [_gan_at(gan, af) for af in accelerations]  # every acceleration served before anything runs
    paths = _interpolators(sn, [(sn, g) for g in ends], device)
    rows = []
    for af, end, (live, interp) in zip(accelerations, ends, paths, strict=True):
        for seed in mask_seeds:
            volumes = list(iter_volumes(root, af, limit_volumes, mask_seed=seed))
            for info, batches in tqdm(
                volumes, desc=f"α sweep, AF {af}, mask {seed}", disable=not progress, leave=False
            ):
                with torch.inference_mode():
                    x_sn = torch.cat([reconstruct(sn, b, device).cpu() for b in batches])
                    x_gan = torch.cat([reconstruct(end, b, device).cpu() for b in batches])
                for a in alphas:
                    interp.set_alpha(a)
                    preds = {
                        "network": run_method(_forward(live, device), batches),
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
    gan: GanSpec,
    alphas: Iterable[float] = ALPHAS,
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> list[dict[str, Any]]:
    """Metrics against alpha for network interpolation and for image-space blending.

    ``gan``: one SN-GAN, or ``{acceleration: SN-GAN}`` (see :func:`alpha_sweep_rows`).

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
    models: Sequence[nn.Module] | Mapping[int, Sequence[nn.Module]],
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
    ``models``: the end models of every acceleration, or ``{acceleration: end models}`` (e.g. the
    SN and the SN-GAN serving that acceleration).

    Returns:
        Per-(schedule, volume, mask) rows as :func:`alpha_sweep_rows` gives them, with ``method``
        the schedule's name (``mode`` ``"schedule"``, ``alpha`` None): summarise with
        :func:`summarise_sweep` or compare pairs with :func:`~recon_lib.metrics.statistics.paired_differences`.
    """
    accelerations = list(accelerations)
    if isinstance(models, Mapping):
        missing = [af for af in accelerations if int(af) not in models]
        if missing:
            raise ValueError(f"no end models given for AF {missing[0]:g} (given for AF {sorted(models)})")
        first, ends = list(next(iter(models.values()))), [list(models[int(af)]) for af in accelerations]
    else:
        first = list(models)
        ends = [first] * len(accelerations)
    paths = _interpolators(first[0], [first, *ends], device)
    for _, interp in dict.fromkeys(paths):  # every schedule checked before anything runs
        for name, weights in schedules.items():
            try:
                interp.set_weights(weights)
            except (TypeError, ValueError) as err:
                raise ValueError(f"schedule {name!r}: {err}") from None
    rows = []
    for af, (live, interp) in zip(accelerations, paths[1:], strict=True):
        for seed in mask_seeds:
            for info, batches in iter_volumes(root, af, limit_volumes, mask_seed=seed):
                for name, weights in schedules.items():
                    interp.set_weights(weights)
                    pred = run_method(_forward(live, device), batches)
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
