"""Evaluation: the paper's Table 1, the alpha sweep and the perception-distortion plane.

``python -m recon_lib.evaluate --data data/knee --checkpoints checkpoints --out docs/results``
writes ``table1.md`` / ``table1.csv`` / ``table1.json`` (mean +- std over test volumes,
foreground metrics, fastMRI's per-volume convention), ``alpha_sweep.json`` and the plots
``alpha_metrics.png`` and ``perception_distortion.png``.

Every method sees the same masks: ``--mask-seeds N`` fixed masks per (volume, acceleration), the
first seeded by the file name as fastMRI does for its validation data, the others by the file name
and the mask seed (:func:`~recon_lib.physics.masks.seed_from_name`). A volume's score is the mean
over its masks; the table reports mean +- std over volumes. Re-drawing one volume's mask moves its
PSNR by several dB, so the key paired differences (:data:`COMPARISONS`) are reported with 95 %
bootstrap intervals that resample whole volumes, stratified by contrast
(:mod:`recon_lib.metrics.statistics`), in ``table1.md`` and under ``paired_differences`` in
``table1.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from recon_lib.core.devices import select_device
from recon_lib.core.tensors import center_crop
from recon_lib.data.dataset import DatasetNotPreparedError, KneeDataset
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.layout import raw_volumes, unprepared
from recon_lib.metrics.quality import (
    gradient_magnitude_similarity,
    high_frequency_energy_ratio,
    nmse,
    volume_metrics,
)
from recon_lib.metrics.statistics import differences_markdown, paired_differences
from recon_lib.metrics.table import MetricTable
from recon_lib.models.checkpoint import CheckpointError, load_model
from recon_lib.models.inference import reconstruct, zero_filled
from recon_lib.models.interpolation import ModelInterpolator
from recon_lib.physics.classical import cg_sense
from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS, MaskFunc
from recon_lib.training.sweep_plot import plot_alpha_sweep

__all__ = [
    "Reconstructor",
    "iter_volumes",
    "standard_methods",
    "evaluate_table",
    "table_differences",
    "table1_markdown",
    "choose_cg_iterations",
    "alpha_sweep",
    "plot_alpha_sweep",
    "TEXTURE_METRICS",
    "COMPARISONS",
    "main",
]

#: a reconstruction method: collated batch -> complex image cropped to the target size (B, rh, rw)
Reconstructor = Callable[[Mapping[str, Any]], torch.Tensor]

#: weight-free texture measures reported beside the distortion metrics (1.0 = like the reference)
TEXTURE_METRICS = ("hf_energy_ratio", "gms")
#: scores against the simulator's noise-free image (where the raw files hold one): a texture
#: measure against the noisy SENSE reference rewards noise as much as texture
TRUTH_METRICS = ("psnr_truth", "ssim_truth", "hf_energy_ratio_truth")
ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))
#: the paired differences Table 1's notes report (``interpSN`` stands for the interpSN row at the chosen alpha)
COMPARISONS = (
    ("SN", "CG-SENSE"),
    ("SN", "U-Net"),
    ("U-Net", "Zero-filled"),
    ("SN-GAN", "SN"),
    ("interpSN", "SN"),
)
#: metrics whose paired differences are reported
DIFFERENCE_METRICS = ("psnr", "ssim", "hf_energy_ratio", "psnr_truth", "hf_energy_ratio_truth")


def texture_metrics(gt: np.ndarray, pred: np.ndarray, fg: np.ndarray) -> dict[str, float]:
    """High-frequency energy ratio and gradient-magnitude similarity inside the foreground."""
    return {
        "hf_energy_ratio": high_frequency_energy_ratio(pred, gt, fg),
        "gms": gradient_magnitude_similarity(pred, gt, fg),
    }


def truth_metrics(truth: np.ndarray, pred: np.ndarray, fg: np.ndarray) -> dict[str, float]:
    """PSNR / SSIM (data range: the noise-free volume's maximum) and HF-energy ratio against the noise-free image."""
    m = volume_metrics(truth, pred, fg)
    return {
        "psnr_truth": m["psnr"],
        "ssim_truth": m["ssim"],
        "hf_energy_ratio_truth": high_frequency_energy_ratio(pred, truth, fg),
    }


def has_truth(root: str | Path, limit_volumes: int | None = None) -> bool:
    """Whether every volume of a split folder holds the simulator's noise-free image."""
    ds = KneeDataset(root, mask_func=MaskFunc([4]), train=False, limit_volumes=limit_volumes)
    return all(ds.noise_free(i) is not None for i in range(len(ds.volumes)))


def _scores(info: Mapping[str, Any], pred: np.ndarray) -> dict[str, float]:
    """Every score of one reconstructed volume: against the SENSE reference, and against the truth if known."""
    gt, fg = info["target"], info["foreground"]
    values = volume_metrics(gt, pred, fg) | texture_metrics(gt, pred, fg)
    if info["noise_free"] is not None:
        values |= truth_metrics(info["noise_free"], pred, fg)
    return values


def iter_volumes(
    root: str | Path, acceleration: int, limit_volumes: int | None = None, batch_size: int = 4, mask_seed: int = 0
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
        batches = [_collate(slices[i : i + batch_size]) for i in range(0, len(slices), batch_size)]
        info = {
            "fname": name,
            "acquisition": slices[0]["acquisition"][0],
            "target": torch.cat([s["target"] for s in slices]).numpy(),
            "foreground": torch.cat([s["foreground"] for s in slices]).numpy().astype(bool),
            "mask_seed": mask_seed,
            "noise_free": ds.noise_free(next(i for i, r in enumerate(ds.volumes) if r.fname == name)),
        }
        yield info, batches


def _collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in samples[0].items():
        if isinstance(value, torch.Tensor):
            out[key] = torch.cat([s[key] for s in samples])
        else:
            out[key] = [v for s in samples for v in s[key]]
    return out


def _run(method: Reconstructor, batches: list[dict[str, Any]]) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([method(b).abs().cpu() for b in batches]).numpy()  # (slices, rh, rw)


def choose_cg_iterations(
    root: str | Path, accelerations: Iterable[int] = (4, 8), max_iters: int = 30, limit_volumes: int | None = None
) -> dict[int, int]:
    """CG-SENSE's iteration count per acceleration, chosen on a (validation) split: the count with the
    lowest mean foreground NMSE over its volumes (CG-SENSE semi-converges: later iterations amplify noise).

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
                curve.append(nmse(info["target"], pred, info["foreground"]))
            curves.append(curve)
        chosen[int(af)] = int(np.argmin(np.mean(curves, axis=0))) + 1
    return chosen


def standard_methods(
    checkpoint_dir: str | Path,
    device: torch.device | str = "cpu",
    alpha: float = 0.5,
    cg_iters: int | Mapping[int, int] = 10,
) -> dict[str, Reconstructor]:
    """Zero-filled, CG-SENSE, U-Net, SN, SN-GAN and interpSN(alpha) from a checkpoint folder.

    ``cg_iters``: CG-SENSE's iteration count, or one per acceleration (:func:`choose_cg_iterations`).
    """
    ckpt = Path(checkpoint_dir)
    unet, _ = load_model(ckpt / "unet.pt", device, expected_class="UNetReconstructor")
    sn, _ = load_model(ckpt / "sn_finetuned.pt", device, expected_class="SensitivityNetwork")
    gan, _ = load_model(ckpt / "sn_gan.pt", device, expected_class="SensitivityNetwork")
    interp, _ = load_model(ckpt / "sn_finetuned.pt", device)
    try:
        ModelInterpolator(interp, [sn.state_dict(), gan.state_dict()]).set_alpha(alpha)
    except ValueError as err:
        raise CheckpointError(
            f"{ckpt / 'sn_gan.pt'} cannot be interpolated with {ckpt / 'sn_finetuned.pt'}: {err}"
        ) from None

    def cg(batch: Mapping[str, Any]) -> torch.Tensor:
        k, s, m = (batch[key].to(device) for key in ("kspace", "maps", "mask"))
        iters = cg_iters if isinstance(cg_iters, int) else cg_iters[int(batch["acceleration"][0])]
        return center_crop(cg_sense(k, s, m, num_iters=iters), tuple(batch["target"].shape[-2:]))

    def net(model: nn.Module) -> Reconstructor:
        return lambda batch: reconstruct(model, batch, device)

    return {
        "Zero-filled": lambda batch: zero_filled(batch, device),
        "CG-SENSE": cg,
        "U-Net": net(unet),
        "SN": net(sn),
        "SN-GAN": net(gan),
        f"interpSN (α={alpha:g})": net(interp),
    }


def evaluate_table(
    root: str | Path,
    methods: Mapping[str, Reconstructor],
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> MetricTable:
    """Table 1: every method on every test volume under every mask at every acceleration (foreground metrics).

    The table carries NMSE, PSNR, SSIM and the texture measures of :data:`TEXTURE_METRICS`, and
    :data:`TRUTH_METRICS` when every volume holds its noise-free image; one row per (method,
    volume, mask seed).
    """
    from tqdm.auto import tqdm

    metrics = ("nmse", "psnr", "ssim", *TEXTURE_METRICS, *(TRUTH_METRICS if has_truth(root, limit_volumes) else ()))
    # The texture measures are reported but not ranked: "closer to 1" has no bold direction.
    better = dict(MetricTable.DEFAULT_BETTER, psnr_truth="higher", ssim_truth="higher")
    decimals = {"hf_energy_ratio": 3, "gms": 4, "psnr_truth": 2, "ssim_truth": 4, "hf_energy_ratio_truth": 3}
    table = MetricTable(metrics=metrics, better=better, decimals=decimals)
    for af in accelerations:
        for seed in mask_seeds:
            volumes = list(iter_volumes(root, af, limit_volumes, mask_seed=seed))
            desc = f"Table 1, AF {af}, mask {seed}"
            for info, batches in tqdm(volumes, desc=desc, disable=not progress, leave=False):
                for name, method in methods.items():
                    values = _scores(info, _run(method, batches))
                    table.add(name, info["acquisition"], af, info["fname"], mask_seed=seed, **values)
    return table


def table_differences(table: MetricTable, reps: int = 10_000, seed: int = 0) -> list[dict[str, Any]]:
    """The paired differences of :data:`COMPARISONS` (PSNR, SSIM, HF-energy ratio) with 95 % bootstrap CIs."""
    rows = table.to_records()
    interp = next((m for m in dict.fromkeys(r["method"] for r in rows) if m.startswith("interpSN")), "interpSN")
    comparisons = [(interp if a == "interpSN" else a, b) for a, b in COMPARISONS]
    metrics = [m for m in DIFFERENCE_METRICS if m in table.metrics]
    return paired_differences(rows, comparisons, metrics, reps=reps, seed=seed)


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

    Network: theta(alpha) = (1 - alpha) theta_SN + alpha theta_GAN, then reconstruct.
    Image: |(1 - alpha) x_SN + alpha x_GAN| of the two end models' complex outputs.

    Returns:
        One record per (mode, acceleration, alpha) with the mean and std over volumes (each
        volume's value is its mean over ``mask_seeds``) of NMSE, PSNR, SSIM and the texture measures.
    """
    from tqdm.auto import tqdm

    alphas = [float(a) for a in alphas]
    live = type(sn)(**cast(dict[str, Any], sn.config)).to(device).eval()
    interp = ModelInterpolator(live, [sn.state_dict(), gan.state_dict()])
    per: dict[tuple[str, int, float], dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
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
                        "network": _run(lambda b: reconstruct(live, b, device), batches),
                        "image": ((1 - a) * x_sn + a * x_gan).abs().numpy(),
                    }
                    for mode, pred in preds.items():
                        values = _scores(info, pred)
                        per[(mode, af, a)][info["fname"]].append(values)
    records = []
    for (mode, af, a), by_volume in per.items():
        rows = [{k: float(np.mean([m[k] for m in masks])) for k in masks[0]} for masks in by_volume.values()]
        rec: dict[str, Any] = {"mode": mode, "acceleration": af, "alpha": a, "volumes": len(rows)}
        rec["masks"] = len(next(iter(by_volume.values())))
        for key in rows[0]:
            vals = np.array([r[key] for r in rows])
            rec[key] = float(vals.mean())
            rec[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        records.append(rec)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recon_lib.evaluate", description="Table 1 and the α sweep on the test split."
    )
    parser.add_argument("--data", default="data/knee", help="prepared dataset root (uses its test/ split)")
    parser.add_argument("--checkpoints", default="checkpoints", help="folder with unet.pt, sn_finetuned.pt, sn_gan.pt")
    parser.add_argument("--out", default="docs/results", help="output folder")
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--limit-volumes", type=int, default=None, help="evaluate only the first N test volumes")
    parser.add_argument("--alpha", type=float, default=0.5, help="α of the interpSN row of Table 1")
    parser.add_argument(
        "--cg-iters", default="auto", help="CG-SENSE iterations: a number, or auto (chosen per AF on the val split)"
    )
    parser.add_argument("--mask-seeds", type=int, default=4, help="fixed masks per volume (default 4)")
    parser.add_argument("--bootstrap-reps", type=int, default=10_000, help="bootstrap replicates of the CIs")
    parser.add_argument("--no-sweep", action="store_true", help="skip the α sweep")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        device, test_dir, out = _check_arguments(args)
        return _evaluate(args, device, test_dir, out)
    except (CheckpointError, DataFormatError, DatasetNotPreparedError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def table1_markdown(
    table: MetricTable,
    differences: list[dict[str, Any]],
    cg_iters: int | Mapping[int, int],
    mask_seeds: int,
    reps: int,
) -> str:
    """``table1.md``: Table 1 against the SENSE reference, the protocol, the table against the
    noise-free image (where known) and the paired differences with their CIs."""
    iters = ", ".join(f"AF {af}: {n}" for af, n in cg_iters.items()) if isinstance(cg_iters, Mapping) else cg_iters
    notes = (
        f"CG-SENSE iterations: {iters} (chosen on the validation split when per AF). "
        f"Mean ± std over test volumes; each volume scored under {mask_seeds} fixed masks per acceleration "
        "(shared by every method) and averaged. Paired differences: mean over volumes, 95 % percentile bootstrap "
        f"interval ({reps} replicates resampling whole volumes, stratified by contrast).\n\n"
    )
    main_metrics = [m for m in table.metrics if m not in TRUTH_METRICS]
    markdown = table.to_markdown(metrics=main_metrics) + "\n" + notes
    if TRUTH_METRICS[0] in table.metrics:
        markdown += (
            "Against the simulator's noise-free image (the SENSE reference above carries the scan's noise):\n\n"
            + table.to_markdown(metrics=TRUTH_METRICS)
            + "\n"
        )
    return markdown + differences_markdown(differences, labels=MetricTable.LABELS)


def _check_arguments(args: argparse.Namespace) -> tuple[torch.device, Path, Path]:
    """Every argument checked before anything is loaded or written; ``ValueError`` names the first bad one."""
    device = select_device(args.device)
    if not (math.isfinite(args.alpha) and 0.0 <= args.alpha <= 1.0):
        raise ValueError(f"--alpha must lie in [0, 1], got {args.alpha}")
    unknown = [a for a in args.accelerations if a not in DEFAULT_CENTER_FRACTIONS]
    if unknown:
        known = ", ".join(f"{a:g}" for a in DEFAULT_CENTER_FRACTIONS)
        raise ValueError(f"--accelerations {unknown[0]} has no centre fraction (known accelerations: {known})")
    if args.limit_volumes is not None and args.limit_volumes < 1:
        raise ValueError(f"--limit-volumes must be at least 1, got {args.limit_volumes}")
    if args.cg_iters != "auto":
        try:
            args.cg_iters = int(args.cg_iters)
        except ValueError:
            raise ValueError(f"--cg-iters must be a number or auto, got {args.cg_iters!r}") from None
        if args.cg_iters < 1:
            raise ValueError(f"--cg-iters must be at least 1, got {args.cg_iters}")

    if args.mask_seeds < 1:
        raise ValueError(f"--mask-seeds must be at least 1, got {args.mask_seeds}")
    if args.bootstrap_reps < 100:
        raise ValueError(f"--bootstrap-reps must be at least 100, got {args.bootstrap_reps}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    test_dir = Path(args.data) / "test"
    raw = raw_volumes(test_dir)
    if not raw:
        raise ValueError(f"{test_dir} holds no volumes: run `make data` (or prepare your fastMRI folder) first")
    missing = [p.name for p in unprepared(raw)]
    if missing:
        raise DatasetNotPreparedError(
            f"{len(missing)} of {len(raw)} volumes in {test_dir} are not prepared ({missing[0]} ...): "
            f"run `python data_scripts/prepare_dataset.py {args.data}` first"
        )
    if args.cg_iters == "auto" and not raw_volumes(Path(args.data) / "val"):
        raise ValueError(
            f"--cg-iters auto chooses CG-SENSE's iterations on {Path(args.data) / 'val'}, which holds no volumes "
            "(give a number, e.g. --cg-iters 10)"
        )
    return device, test_dir, out


def _evaluate(args: argparse.Namespace, device: torch.device, test_dir: Path, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.time()
    cg_iters = args.cg_iters
    if cg_iters == "auto":
        cg_iters = choose_cg_iterations(Path(args.data) / "val", args.accelerations)
        print(f"CG-SENSE iterations chosen on the validation split: {cg_iters}")
    methods = standard_methods(args.checkpoints, device=device, alpha=args.alpha, cg_iters=cg_iters)
    out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.mask_seeds)
    table = evaluate_table(
        test_dir, methods, args.accelerations, args.limit_volumes, progress=not args.no_progress, mask_seeds=seeds
    )
    differences = table_differences(table, reps=args.bootstrap_reps)
    markdown = table1_markdown(table, differences, cg_iters, args.mask_seeds, args.bootstrap_reps)
    (out / "table1.md").write_text(markdown)
    table.to_csv(out / "table1.csv")
    table.to_json(out / "table1.json", extra={"paired_differences": differences})
    t_table = time.time() - t0
    print(markdown)
    summary: dict[str, Any] = {"table_seconds": round(t_table, 1), "mask_seeds": args.mask_seeds, "cg_iters": cg_iters}
    if not args.no_sweep:
        sn, gan = (load_model(Path(args.checkpoints) / n, device)[0] for n in ("sn_finetuned.pt", "sn_gan.pt"))
        records = alpha_sweep(
            test_dir,
            sn,
            gan,
            accelerations=args.accelerations,
            device=device,
            limit_volumes=args.limit_volumes,
            progress=not args.no_progress,
            mask_seeds=seeds,
        )
        (out / "alpha_sweep.json").write_text(json.dumps(records, indent=1))
        fig_m, fig_p = plot_alpha_sweep(records)
        fig_m.savefig(out / "alpha_metrics.png")
        fig_p.savefig(out / "perception_distortion.png")
        summary["sweep_seconds"] = round(time.time() - t0 - t_table, 1)
    summary["total_seconds"] = round(time.time() - t0, 1)
    summary["torch_threads"] = torch.get_num_threads()
    summary["device"] = str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)
    (out / "timing.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}/ in {summary['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
