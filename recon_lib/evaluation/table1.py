"""Evaluation: the paper's Table 1, the alpha sweep and the perception-distortion plane.

``python -m recon_lib.evaluate --data data/knee --checkpoints checkpoints --out docs/results/evaluation``
writes ``table1.md`` / ``table1.csv`` / ``table1.json`` (mean +- std over test volumes,
foreground metrics, fastMRI's per-volume convention), ``alpha_sweep.json``, the paired
network-vs-blend comparison ``network_vs_blend.md`` / ``.json`` (:mod:`recon_lib.evaluation.sweep`)
and the plots ``alpha_metrics.png`` and ``perception_distortion.png``, with ``timing.json``: one set,
staged beside ``--out`` and swapped in whole when complete (:func:`~recon_lib.core.atomic.output_set`),
so the folder never mixes two runs; ``--out`` is checked before the work starts.

Every method sees the same masks: ``--mask-seeds N`` fixed masks per (volume, acceleration), the
first seeded by the file name as fastMRI does for its validation data, the others by the file name
and the mask seed (:func:`~recon_lib.physics.masks.seed_from_name`). A volume's score is the mean
over its masks; the table reports mean +- std over volumes. Re-drawing one volume's mask moves its
PSNR by several dB, so the key paired differences (:data:`COMPARISONS`) are reported with 95 %
bootstrap intervals that resample whole volumes, stratified by contrast
(:mod:`recon_lib.metrics.statistics`), in ``table1.md`` and under ``paired_differences`` in
``table1.json``.

The SN-GAN and interpSN rows, and the sweep's alpha = 1, use at each acceleration the SN-GAN that
serves it: ``sn_gan_af<AF>.pt`` where the adversarial fine-tune shipped one, else ``sn_gan.pt``
(:func:`~recon_lib.evaluation.sweep.sn_gan_checkpoints`). The file that served each acceleration
is recorded: ``sn_gan_checkpoints`` in ``table1.json`` (one ``{acceleration, sn_gan_checkpoint}``
record per acceleration) and in ``timing.json`` (``{acceleration: file}``), ``sn_gan_checkpoint`` in
every record of ``alpha_sweep.json`` and ``network_vs_blend.json``, and one sentence in each Markdown
file.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon_lib.core.atomic import output_set
from recon_lib.data.layout import raw_volumes
from recon_lib.evaluation.baselines import cg_method, choose_cg_iterations, choose_l1_fraction, l1_method
from recon_lib.evaluation.commands import COMMAND_ERRORS, check_inputs, command_parser, report
from recon_lib.evaluation.protocol import Reconstructor, has_truth, iter_volumes, run_method, score
from recon_lib.evaluation.sweep import (
    alpha_sweep,
    alpha_sweep_rows,
    load_end_points_by_acceleration,
    load_sn_gans,
    network_vs_blend,
    schedule_scores,
    select_alpha,
    sn_gan_checkpoints,
    sn_gan_note,
    summarise_sweep,
    with_checkpoints,
)
from recon_lib.evaluation.sweep_plot import plot_alpha_sweep
from recon_lib.metrics.panel import BETTER, DECIMALS, REFERENCE_METRICS, TRUTH_METRICS
from recon_lib.metrics.statistics import differences_markdown, paired_differences
from recon_lib.metrics.table import MetricTable
from recon_lib.models.checkpoint import CheckpointError, load_role_model
from recon_lib.models.inference import reconstruct, zero_filled
from recon_lib.models.interpolation import ModelInterpolator
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN, UNET

__all__ = [
    "Reconstructor",
    "iter_volumes",
    "standard_methods",
    "evaluate_table",
    "table_differences",
    "table1_markdown",
    "choose_cg_iterations",
    "choose_l1_fraction",
    "cg_method",
    "l1_method",
    "alpha_sweep",
    "alpha_sweep_rows",
    "summarise_sweep",
    "schedule_scores",
    "select_alpha",
    "network_vs_blend",
    "network_vs_blend_markdown",
    "plot_alpha_sweep",
    "has_truth",
    "score",
    "COMPARISONS",
    "main",
]

#: the paired differences Table 1's notes report (``interpSN`` stands for the interpSN row at the chosen alpha)
COMPARISONS = (
    ("SN", "CG-SENSE"),
    ("SN", "L1-wavelet"),
    ("SN", "U-Net"),
    ("U-Net", "Zero-filled"),
    ("SN-GAN", "SN"),
    ("interpSN", "SN"),
)
#: metrics whose paired differences are reported
DIFFERENCE_METRICS = ("psnr", "ssim", "vif", "haarpsi", "hf_energy_ratio", "psnr_truth", "vif_truth")


def standard_methods(
    checkpoint_dir: str | Path,
    device: torch.device | str = "cpu",
    alpha: float = 0.5,
    cg_iters: int | Mapping[int, int] = 10,
    l1_fraction: float | Mapping[int, float] | None = None,
    accelerations: Iterable[float] | None = None,
) -> dict[str, Reconstructor]:
    """Zero-filled, CG-SENSE, (L1-wavelet,) U-Net, SN, SN-GAN and interpSN(alpha) from a checkpoint folder.

    ``cg_iters``: CG-SENSE's iteration count, or one per acceleration (:func:`choose_cg_iterations`).
    ``l1_fraction``: L1-wavelet's weight as a fraction of max|E^H y|, or one per acceleration
    (:func:`~recon_lib.evaluation.baselines.choose_l1_fraction`); None leaves the (slow) row out.
    ``accelerations``: those the table evaluates; each network must have been trained for them (when
    its checkpoint records its accelerations) and its recorded stage must fit its role
    (:func:`~recon_lib.models.checkpoint.check_role`).

    The SN-GAN and interpSN(alpha) rows use, at each acceleration, the SN-GAN that serves it
    (:func:`~recon_lib.evaluation.sweep.load_sn_gans`: ``sn_gan_af<AF>.pt`` where it exists, else
    ``sn_gan.pt``; ``accelerations`` None: the known accelerations, 4 and 8). Each file is loaded once;
    when one file serves every acceleration the rows hold one model, as before; otherwise a row picks
    its model by the batch's ``acceleration``, as CG-SENSE picks its iteration count.
    """
    unet, _ = load_role_model(UNET.checkpoint_path(checkpoint_dir), "unet", device, accelerations)
    sn_path = FINETUNE_SN.checkpoint_path(checkpoint_dir)
    sn, _ = load_role_model(sn_path, "sn", device, accelerations)
    gans, files = load_sn_gans(checkpoint_dir, device, accelerations)
    interps: dict[Path, nn.Module] = {}
    for af, gan in gans.items():
        if files[af] not in interps:
            interps[files[af]] = _interpolated(sn, gan, alpha, sn_path, files[af])

    def net(model: nn.Module) -> Reconstructor:
        return lambda batch: reconstruct(model, batch, device)

    classical = {"Zero-filled": lambda batch: zero_filled(batch, device), "CG-SENSE": cg_method(cg_iters, device)}
    if l1_fraction is not None:
        classical["L1-wavelet"] = l1_method(l1_fraction, device)
    return {
        **classical,
        "U-Net": net(unet),
        "SN": net(sn),
        "SN-GAN": _per_acceleration({af: net(gan) for af, gan in gans.items()}, files),
        f"interpSN (α={alpha:g})": _per_acceleration({af: net(interps[files[af]]) for af in gans}, files),
    }


def _interpolated(sn: nn.Module, gan: nn.Module, alpha: float, sn_path: Path, gan_path: Path) -> nn.Module:
    """A copy of the SN holding interpSN(alpha) between ``sn`` and ``gan``; ``CheckpointError`` naming
    both files when they cannot be interpolated."""
    interp = copy.deepcopy(sn)
    try:
        ModelInterpolator(interp, [sn.state_dict(), gan.state_dict()]).set_alpha(alpha)
    except ValueError as err:
        raise CheckpointError(f"{gan_path} cannot be interpolated with {sn_path}: {err}") from None
    return interp


def _per_acceleration(methods: Mapping[int, Reconstructor], files: Mapping[int, Path]) -> Reconstructor:
    """One reconstructor from one per acceleration: the single one when one file serves every
    acceleration, else one that picks by the batch's ``acceleration``."""
    if len(set(files.values())) == 1:
        return next(iter(methods.values()))

    def pick(batch: Mapping[str, Any]) -> Any:
        af = int(batch["acceleration"][0])
        if af not in methods:
            served = ", ".join(str(a) for a in sorted(methods))
            raise ValueError(f"no SN-GAN was loaded for AF {af} (loaded for AF {served}: pass accelerations=)")
        return methods[af](batch)

    return pick


def evaluate_table(
    root: str | Path,
    methods: Mapping[str, Reconstructor],
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> MetricTable:
    """Table 1: every method on every test volume under every mask at every acceleration (foreground metrics).

    The table carries every measure of :data:`~recon_lib.metrics.panel.REFERENCE_METRICS`, and
    :data:`~recon_lib.metrics.panel.TRUTH_METRICS` when every volume holds its noise-free image;
    one row per (method, volume, mask seed).
    """
    from tqdm.auto import tqdm

    metrics = (*REFERENCE_METRICS, *(TRUTH_METRICS if has_truth(root, limit_volumes) else ()))
    # The HF-energy ratios are reported but not ranked: "closer to 1" has no bold direction.
    table = MetricTable(metrics=metrics, better=BETTER, decimals=DECIMALS)
    for af in accelerations:
        for seed in mask_seeds:
            volumes = list(iter_volumes(root, af, limit_volumes, mask_seed=seed))
            desc = f"Table 1, AF {af}, mask {seed}"
            for info, batches in tqdm(volumes, desc=desc, disable=not progress, leave=False):
                for name, method in methods.items():
                    values = score(info, run_method(method, batches))
                    table.add(name, info["acquisition"], af, info["fname"], mask_seed=seed, **values)
    return table


def table_differences(table: MetricTable, reps: int = 10_000, seed: int = 0) -> list[dict[str, Any]]:
    """The paired differences of :data:`COMPARISONS` (:data:`DIFFERENCE_METRICS`) with 95 % bootstrap CIs."""
    rows = table.to_records()
    interp = next((m for m in dict.fromkeys(r["method"] for r in rows) if m.startswith("interpSN")), "interpSN")
    comparisons = [(interp if a == "interpSN" else a, b) for a, b in COMPARISONS]
    metrics = [m for m in DIFFERENCE_METRICS if m in table.metrics]
    return paired_differences(rows, comparisons, metrics, reps=reps, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "evaluate",
        "Table 1 and the α sweep on the test split.",
        "test",
        ", ".join(s.checkpoint_name() for s in (UNET, FINETUNE_SN, FINETUNE_GAN)),
    )
    parser.add_argument("--limit-volumes", type=int, default=None, help="evaluate only the first N test volumes")
    parser.add_argument("--alpha", type=float, default=0.5, help="α of the interpSN row of Table 1")
    parser.add_argument(
        "--cg-iters", default="auto", help="CG-SENSE iterations: a number, or auto (chosen per AF on the val split)"
    )
    parser.add_argument(
        "--l1-fraction",
        default="auto",
        help="L1-wavelet weight as a fraction of max|E^H y|: a number, auto (chosen per AF on the val split) or none",
    )
    parser.add_argument("--mask-seeds", type=int, default=4, help="fixed masks per volume (default 4)")
    parser.add_argument("--bootstrap-reps", type=int, default=10_000, help="bootstrap replicates of the CIs")
    parser.add_argument("--no-sweep", action="store_true", help="skip the α sweep")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        device, test_dir, out = _check_arguments(args)
        return _evaluate(args, device, test_dir, out)
    except COMMAND_ERRORS as err:
        return report(err)


def table1_markdown(
    table: MetricTable,
    differences: list[dict[str, Any]],
    cg_iters: int | Mapping[int, int],
    mask_seeds: int,
    reps: int,
    l1_fraction: float | Mapping[int, float] | None = None,
    sn_gan_checkpoints: Mapping[Any, Any] | None = None,
) -> str:
    """``table1.md``: Table 1 against the SENSE reference, the protocol, the table against the
    noise-free image (where known) and the paired differences with their CIs.

    ``sn_gan_checkpoints``: ``{acceleration: file}`` of the SN-GAN that served each acceleration
    (named in the notes; None: not named)."""
    iters = ", ".join(f"AF {af}: {n}" for af, n in cg_iters.items()) if isinstance(cg_iters, Mapping) else cg_iters
    l1 = ""
    if l1_fraction is not None:
        per = l1_fraction.items() if isinstance(l1_fraction, Mapping) else [("all", l1_fraction)]
        l1 = "L1-wavelet weight (× max|E^H y| per slice): " + ", ".join(f"AF {af}: {f:g}" for af, f in per) + ". "
    notes = (
        f"CG-SENSE iterations: {iters} (chosen on the validation split when per AF). {l1}"
        f"Mean ± std over test volumes; each volume scored under {mask_seeds} fixed masks per acceleration "
        "(shared by every method) and averaged. Paired differences: mean over volumes, 95 % percentile bootstrap "
        f"interval ({reps} replicates resampling whole volumes, stratified by contrast)."
        + (f" {sn_gan_note(sn_gan_checkpoints)}" if sn_gan_checkpoints else "")
        + "\n\n"
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


def network_vs_blend_markdown(records: list[dict[str, Any]], reps: int) -> str:
    """``network_vs_blend.md``: network interpolation minus image blending at each interior alpha, paired
    (with the SN-GAN file of each acceleration when the records carry ``sn_gan_checkpoint``)."""
    files = {r["acceleration"]: r["sn_gan_checkpoint"] for r in records if "sn_gan_checkpoint" in r}
    head = (
        "# Network interpolation − image blending, paired at each α\n\n"
        "Mean over test volumes of (network − blend), each volume averaged over its masks; 95 % percentile "
        f"bootstrap interval ({reps} replicates resampling whole volumes, stratified by contrast) and the exact "
        "sign-flip test over volumes. The end points α = 0 and 1 are the same model on both paths."
        + (f" {sn_gan_note(files)}" if files else "")
        + "\n\n"
    )
    labelled = [dict(r, a=f"{r['a']}", b="blend") for r in records]
    return head + differences_markdown(labelled, labels=MetricTable.LABELS)


def _check_arguments(args: argparse.Namespace) -> tuple[torch.device, Path, Path]:
    """Every argument checked before anything is loaded or written; ``ValueError`` names the first bad one."""
    if not (math.isfinite(args.alpha) and 0.0 <= args.alpha <= 1.0):
        raise ValueError(f"--alpha must lie in [0, 1], got {args.alpha}")
    if args.limit_volumes is not None and args.limit_volumes < 1:
        raise ValueError(f"--limit-volumes must be at least 1, got {args.limit_volumes}")
    if args.cg_iters != "auto":
        try:
            args.cg_iters = int(args.cg_iters)
        except ValueError:
            raise ValueError(f"--cg-iters must be a number or auto, got {args.cg_iters!r}") from None
        if args.cg_iters < 1:
            raise ValueError(f"--cg-iters must be at least 1, got {args.cg_iters}")

    if args.l1_fraction not in ("auto", "none"):
        try:
            args.l1_fraction = float(args.l1_fraction)
        except ValueError:
            raise ValueError(f"--l1-fraction must be a number, auto or none, got {args.l1_fraction!r}") from None
        if not (math.isfinite(args.l1_fraction) and args.l1_fraction > 0):
            raise ValueError(f"--l1-fraction must be positive, got {args.l1_fraction}")
    if args.mask_seeds < 1:
        raise ValueError(f"--mask-seeds must be at least 1, got {args.mask_seeds}")
    if args.bootstrap_reps < 100:
        raise ValueError(f"--bootstrap-reps must be at least 100, got {args.bootstrap_reps}")
    inputs = check_inputs(args, "test", "evaluate", prepared_volumes=True)
    for flag, value, example in (("--cg-iters", args.cg_iters, "10"), ("--l1-fraction", args.l1_fraction, "0.004")):
        if value == "auto" and not raw_volumes(Path(args.data) / "val"):
            raise ValueError(
                f"{flag} auto chooses its value on {Path(args.data) / 'val'}, which holds no volumes "
                f"(give a number, e.g. {flag} {example})"
            )
    return inputs.device, inputs.split, Path(args.out)


def _evaluate(args: argparse.Namespace, device: torch.device, test_dir: Path, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.time()
    cg_iters = args.cg_iters
    if cg_iters == "auto":
        cg_iters = choose_cg_iterations(Path(args.data) / "val", args.accelerations)
        print(f"CG-SENSE iterations chosen on the validation split: {cg_iters}")
    l1_fraction = None if args.l1_fraction == "none" else args.l1_fraction
    if l1_fraction == "auto":
        l1_fraction = choose_l1_fraction(Path(args.data) / "val", args.accelerations)
        print(f"L1-wavelet weights chosen on the validation split: {l1_fraction}")
    sn_gans = {str(af): str(path) for af, path in sn_gan_checkpoints(args.checkpoints, args.accelerations).items()}
    methods = standard_methods(
        args.checkpoints,
        device=device,
        alpha=args.alpha,
        cg_iters=cg_iters,
        l1_fraction=l1_fraction,
        accelerations=args.accelerations,
    )
    seeds = range(args.mask_seeds)
    table = evaluate_table(
        test_dir, methods, args.accelerations, args.limit_volumes, progress=not args.no_progress, mask_seeds=seeds
    )
    differences = table_differences(table, reps=args.bootstrap_reps)
    markdown = table1_markdown(
        table, differences, cg_iters, args.mask_seeds, args.bootstrap_reps, l1_fraction, sn_gan_checkpoints=sn_gans
    )
    t_table = time.time() - t0
    print(markdown)
    summary: dict[str, Any] = {
        "table_seconds": round(t_table, 1),
        "mask_seeds": args.mask_seeds,
        "cg_iters": cg_iters,
        "l1_fraction": l1_fraction,
        "sn_gan_checkpoints": sn_gans,
    }
    per_af = [{"acceleration": int(af), "sn_gan_checkpoint": path} for af, path in sn_gans.items()]
    with output_set(out, "evaluate") as staging:
        (staging / "table1.md").write_text(markdown)
        table.to_csv(staging / "table1.csv")
        table.to_json(staging / "table1.json", extra={"paired_differences": differences, "sn_gan_checkpoints": per_af})
        if not args.no_sweep:
            summary["sweep_seconds"] = _sweep(args, device, test_dir, staging, seeds, t0 + t_table)
        summary["total_seconds"] = round(time.time() - t0, 1)
        summary["torch_threads"] = torch.get_num_threads()
        summary["device"] = str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)
        (staging / "timing.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}/ in {summary['total_seconds']} s")
    return 0


def _sweep(
    args: argparse.Namespace, device: torch.device, test_dir: Path, out: Path, seeds: range, start: float
) -> float:
    """The alpha sweep's records, paired network-vs-blend test and figures, written into ``out``;
    returns its wall time in seconds since ``start``. Each acceleration is swept towards its own
    SN-GAN (:func:`~recon_lib.evaluation.sweep.load_end_points_by_acceleration`)."""
    ends = load_end_points_by_acceleration(args.checkpoints, device, args.accelerations)
    rows = alpha_sweep_rows(
        test_dir,
        ends.sn,
        ends.gans,
        accelerations=args.accelerations,
        device=device,
        limit_volumes=args.limit_volumes,
        progress=not args.no_progress,
        mask_seeds=seeds,
    )
    records = with_checkpoints(summarise_sweep(rows), ends.files)
    versus = with_checkpoints(network_vs_blend(rows, reps=args.bootstrap_reps), ends.files)
    (out / "alpha_sweep.json").write_text(json.dumps(records, indent=1))
    (out / "network_vs_blend.json").write_text(json.dumps(versus, indent=1))
    (out / "network_vs_blend.md").write_text(network_vs_blend_markdown(versus, args.bootstrap_reps))
    fig_m, fig_p = plot_alpha_sweep(records)
    fig_m.savefig(out / "alpha_metrics.png")
    fig_p.savefig(out / "perception_distortion.png")
    return round(time.time() - start, 1)


if __name__ == "__main__":
    sys.exit(main())
