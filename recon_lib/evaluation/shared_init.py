"""The shared-initialisation lesson: interpolate two networks that did *not* start from the same weights.

Network interpolation works for SN -> SN-GAN because the SN-GAN is a short fine-tuning of the SN:
both sets of weights lie in one basin, and the straight line between them stays in it. Two SNs
trained from different seeds compute similar images with unrelated weights (channels may be
permuted, signs flipped), and the average of their weights need not compute anything useful:
users of DNI and ESRGAN report "interpolated images are dark" for exactly this reason.

This module measures it. :func:`lesson_rows` sweeps alpha for two pairs on the same volumes and
masks: the *shared* pair (SN -> SN-GAN) and the *independent* pair (SN -> an SN trained from
another seed, ``checkpoints/sn_seed1.pt`` (:data:`UNRELATED_CHECKPOINT`), re-made by
``make sn-seed1``). Along alpha, :func:`interpolation_barrier` gives the largest drop of a measure
below the straight line between the pair's end points (a "loss barrier"), and
:func:`~recon_lib.evaluation.sweep.network_vs_blend` compares the interpolated network with the
pixel blend of the end points, paired over volumes. The shared pair's SN-GAN is, at each
acceleration, the one that serves it (``sn_gan_af<AF>.pt`` where shipped, else ``sn_gan.pt``); the
command records the file per acceleration (``sn_gan_checkpoints`` in ``shared_init.json``, one
sentence in ``shared_init.md``).

Command line (``make shared-init``)::

    python -m recon_lib.shared_init --data data/knee --checkpoints checkpoints --out docs/results/shared_init
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon_lib.core.atomic import output_set
from recon_lib.evaluation.commands import COMMAND_ERRORS, check_inputs, command_parser, report
from recon_lib.evaluation.sweep import (
    ALPHAS,
    GanSpec,
    alpha_sweep_rows,
    load_end_points_by_acceleration,
    network_vs_blend,
    sn_gan_note,
    summarise_sweep,
)
from recon_lib.metrics.panel import BETTER
from recon_lib.metrics.statistics import format_interval
from recon_lib.models.checkpoint import load_role_model
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

__all__ = [
    "PAIRS",
    "UNRELATED_CHECKPOINT",
    "interpolation_barrier",
    "lesson_rows",
    "lesson_summary",
    "plot_lesson",
    "main",
]

#: the independently trained SN inside the checkpoint folder (``make sn-seed1``: pre-training from seed 1)
UNRELATED_CHECKPOINT = "sn_seed1.pt"
#: the two pairs of the lesson: name -> what the second end point is
PAIRS = {
    "shared": "SN -> SN-GAN (fine-tuned from the SN: one initialisation)",
    "independent": "SN -> SN trained from another seed (no shared initialisation)",
}


def interpolation_barrier(
    records: Sequence[dict[str, Any]], metric: str = "psnr", mode: str = "network"
) -> list[dict[str, Any]]:
    """The largest shortfall of ``metric`` below the straight line between the end points, per AF.

    At each alpha the line is ``(1 - alpha) m(0) + alpha m(1)``; the shortfall is line - m(alpha)
    for a measure where higher is better (the other way round where lower is better). A path that
    stays in one basin has a barrier near zero (or negative: better than the line); unrelated
    weights give a large one.

    Args:
        records: :func:`~recon_lib.evaluation.sweep.summarise_sweep` records of one pair.
        metric: a measure of the records (its direction from the panel; PSNR by default).
        mode: ``"network"`` or ``"image"``.

    Returns:
        One record per acceleration: ``acceleration``, ``metric``, ``barrier`` (the largest
        shortfall, in the metric's units), ``alpha`` (where), ``at_half`` (the shortfall at
        alpha = 0.5, when swept), ``end_points`` (m(0), m(1)).

    Example:
        >>> recs = [{"mode": "network", "acceleration": 4, "alpha": a, "psnr": p}
        ...         for a, p in [(0.0, 30.0), (0.5, 20.0), (1.0, 28.0)]]
        >>> interpolation_barrier(recs)[0]["barrier"]
        9.0
    """
    direction = BETTER.get(metric)
    if direction not in ("higher", "lower"):
        raise ValueError(f"the barrier needs a measure where higher or lower is better, not {metric!r}")
    sign = 1.0 if direction == "higher" else -1.0
    out = []
    for af in sorted({int(r["acceleration"]) for r in records if r["mode"] == mode}):
        rows = sorted(
            (r for r in records if r["mode"] == mode and int(r["acceleration"]) == af), key=lambda r: r["alpha"]
        )
        if metric not in rows[0]:
            raise ValueError(f"metric {metric!r} is not in the sweep records")
        if rows[0]["alpha"] != 0.0 or rows[-1]["alpha"] != 1.0:
            raise ValueError(f"the sweep at AF {af} must include alpha = 0 and alpha = 1 (the end points)")
        m0, m1 = rows[0][metric], rows[-1][metric]
        gaps = [(sign * ((1 - r["alpha"]) * m0 + r["alpha"] * m1 - r[metric]), r["alpha"]) for r in rows]
        gap, alpha = max(gaps)
        half = [g for g, a in gaps if math.isclose(a, 0.5)]
        out.append(
            {
                "acceleration": af,
                "metric": metric,
                "barrier": float(gap),
                "alpha": float(alpha),
                "at_half": float(half[0]) if half else None,
                "end_points": [float(m0), float(m1)],
            }
        )
    return out


def lesson_rows(
    root: str | Path,
    sn: nn.Module,
    related: GanSpec,
    unrelated: nn.Module,
    alphas: Iterable[float] = ALPHAS,
    accelerations: Iterable[int] = (4, 8),
    limit_volumes: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    mask_seeds: Iterable[int] = (0,),
) -> dict[str, list[dict[str, Any]]]:
    """Per-(mode, AF, alpha, volume, mask) rows of both pairs, on the same volumes and masks.

    ``related``: the SN-GAN, or ``{acceleration: the SN-GAN serving it}``
    (:attr:`~recon_lib.evaluation.sweep.EndPoints.gans`).

    Returns:
        ``{"shared": rows of sn -> related, "independent": rows of sn -> unrelated}``, each as
        :func:`~recon_lib.evaluation.sweep.alpha_sweep_rows` gives them.
    """
    alphas, accelerations, mask_seeds = list(alphas), list(accelerations), list(mask_seeds)
    return {
        name: alpha_sweep_rows(root, sn, other, alphas, accelerations, limit_volumes, device, progress, mask_seeds)
        for name, other in (("shared", related), ("independent", unrelated))
    }


def lesson_summary(
    rows: dict[str, list[dict[str, Any]]], reps: int = 10_000, metrics: Sequence[str] = ("psnr", "vif")
) -> dict[str, Any]:
    """Per pair: the sweep records, the barriers of ``metrics`` (network path) and network - blend, paired."""
    out: dict[str, Any] = {}
    for name, pair_rows in rows.items():
        records = summarise_sweep(pair_rows)
        out[name] = {
            "description": PAIRS[name],
            "records": records,
            "barriers": [b for m in metrics for b in interpolation_barrier(records, m)],
            "network_vs_blend": network_vs_blend(pair_rows, metrics=metrics, reps=reps),
        }
    return out


def plot_lesson(summary: dict[str, Any]):
    """PSNR, VIF and HF-energy ratio against alpha, both pairs, network (solid) and blend (dashed)."""
    import matplotlib.pyplot as plt

    panels = [("psnr", "PSNR (dB) ↑"), ("vif", "VIF ↑"), ("hf_energy_ratio", "HF energy ratio")]
    afs = sorted({r["acceleration"] for s in summary.values() for r in s["records"]})
    fig, axes = plt.subplots(len(afs), len(panels), figsize=(10.5, 3.0 * len(afs)), squeeze=False, dpi=90)
    colours = {"shared": "tab:blue", "independent": "tab:red"}
    labels = {"shared": "SN → SN-GAN (shared start)", "independent": "SN → SN seed 1 (independent)"}
    for i, af in enumerate(afs):
        for name, s in summary.items():
            for mode, ls in (("network", "-"), ("image", "--")):
                rows = sorted(
                    (r for r in s["records"] if r["acceleration"] == af and r["mode"] == mode), key=lambda r: r["alpha"]
                )
                kind = "weights" if mode == "network" else "pixel blend"
                for j, (key, title) in enumerate(panels):
                    ax = axes[i][j]
                    ax.plot(
                        [r["alpha"] for r in rows],
                        [r[key] for r in rows],
                        ls=ls,
                        marker="o" if mode == "network" else None,
                        ms=3,
                        color=colours[name],
                        label=f"{labels[name]}, {kind}",
                    )
                    ax.set_title(f"{title}, AF {af}", fontsize=9)
                    ax.set_xlabel("α", fontsize=8)
                    ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1 if len(afs) == 1 else 0.06, 1, 1))
    return fig


def lesson_markdown(summary: dict[str, Any], sn_gan_checkpoints: Mapping[Any, Any] | None = None) -> str:
    """``shared_init.md``: the barriers and network - blend at alpha = 0.5 of both pairs (and the
    SN-GAN file of each acceleration, ``sn_gan_checkpoints``, when given)."""
    lines = [
        "# The shared-initialisation lesson",
        "",
        "Barrier: the largest shortfall of the interpolated network below the straight line between the end",
        "points (PSNR in dB, VIF in its units), and where along α it occurs. Network − blend: the interpolated",
        "network minus the pixel blend of the end points at α = 0.5, mean over test volumes with a 95 % bootstrap",
        "interval and the sign-flip p-value.",
        *([sn_gan_note(sn_gan_checkpoints)] if sn_gan_checkpoints else []),
        "",
        "| pair | AF | PSNR barrier (dB) | at α | shortfall at α = 0.5 (dB) | VIF barrier "
        "| network − blend PSNR at α = 0.5 (dB) | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary.values():
        for b in (b for b in s["barriers"] if b["metric"] == "psnr"):
            af = b["acceleration"]
            vif = next(x for x in s["barriers"] if x["metric"] == "vif" and x["acceleration"] == af)
            d = next(
                x
                for x in s["network_vs_blend"]
                if x["metric"] == "psnr" and x["acceleration"] == af and math.isclose(x["alpha"], 0.5)
            )
            lines.append(
                f"| {s['description']} | {af} | {b['barrier']:.2f} | {b['alpha']:g} | {b['at_half']:+.2f} "
                f"| {vif['barrier']:.3f} | "
                f"{d['mean']:+.2f} {format_interval(d['ci_low'], d['ci_high'])} | {d['p_value']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    try:
        summary, unrelated_path, meta, sn_gans, t0 = _lesson(args)
    except COMMAND_ERRORS as err:
        return report(err)
    out = Path(args.out)
    document = {
        "pairs": summary,
        "unrelated_checkpoint": {"path": str(unrelated_path), "command": meta.get("command"), "seed": _seed(meta)},
        "sn_gan_checkpoints": sn_gans,
        "mask_seeds": args.mask_seeds,
        "seconds": round(time.time() - t0, 1),
        "torch_threads": torch.get_num_threads(),
    }
    markdown = lesson_markdown(summary, sn_gans)
    _write(out, document, markdown, plot_lesson(summary))
    print(markdown)
    print(f"wrote {out}/shared_init.* in {document['seconds']} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "shared_init",
        "Interpolate SN -> SN-GAN (shared start) and SN -> SN from another seed; write shared_init.*",
        "test",
        f"{FINETUNE_SN.checkpoint_name()} and {FINETUNE_GAN.checkpoint_name()}",
    )
    parser.add_argument(
        "--unrelated",
        default=None,
        help=f"the independently trained SN (default <checkpoints>/{UNRELATED_CHECKPOINT})",
    )
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS), help="must include 0 and 1")
    parser.add_argument("--limit-volumes", type=int, default=None, help="only the first N test volumes")
    parser.add_argument("--mask-seeds", type=int, default=1, help="fixed masks per volume (default 1)")
    parser.add_argument("--bootstrap-reps", type=int, default=10_000)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def _lesson(args: argparse.Namespace) -> tuple[dict[str, Any], Path, dict[str, Any], dict[str, str], float]:
    """Check the arguments, load the networks (per acceleration, the SN-GAN serving it), sweep both
    pairs: ``(summary, the unrelated SN's path, its metadata, {acceleration: SN-GAN file}, the time
    the sweep started)``."""
    if args.limit_volumes is not None and args.limit_volumes < 1:
        raise ValueError(f"--limit-volumes must be at least 1, got {args.limit_volumes}")
    if 0.0 not in args.alphas or 1.0 not in args.alphas or not all(0.0 <= a <= 1.0 for a in args.alphas):
        raise ValueError(f"--alphas must lie in [0, 1] and include 0 and 1 (the end points), got {args.alphas}")
    if args.mask_seeds < 1:
        raise ValueError(f"--mask-seeds must be at least 1, got {args.mask_seeds}")
    if args.bootstrap_reps < 100:
        raise ValueError(f"--bootstrap-reps must be at least 100, got {args.bootstrap_reps}")
    inputs = check_inputs(args, "test", "shared_init")
    unrelated_path = Path(args.unrelated) if args.unrelated else inputs.checkpoints / UNRELATED_CHECKPOINT
    if not unrelated_path.is_file():
        raise ValueError(f"{unrelated_path} does not exist: run `make sn-seed1` first")
    ends = load_end_points_by_acceleration(inputs.checkpoints, inputs.device, args.accelerations)
    other, meta = load_role_model(unrelated_path, "sn", inputs.device, args.accelerations)  # an SN of another seed
    t0 = time.time()
    rows = lesson_rows(
        inputs.split,
        ends.sn,
        ends.gans,
        other,
        alphas=sorted(set(args.alphas)),
        accelerations=args.accelerations,
        limit_volumes=args.limit_volumes,
        device=inputs.device,
        progress=not args.no_progress,
        mask_seeds=range(args.mask_seeds),
    )
    return lesson_summary(rows, reps=args.bootstrap_reps), unrelated_path, meta, ends.checkpoints(), t0


def _write(out: Path, document: dict[str, Any], markdown: str, fig: Any) -> None:
    """``shared_init.json``, ``.md`` and ``.png``: ``out`` replaced by the three, whole or not at all."""
    with output_set(out, "shared_init") as staging:
        (staging / "shared_init.json").write_text(json.dumps(document, indent=1))
        (staging / "shared_init.md").write_text(markdown)
        fig.savefig(staging / "shared_init.png", format="png")


def _seed(meta: dict[str, Any]) -> int | None:
    settings = meta.get("settings") or {}
    return settings.get("seed")


if __name__ == "__main__":
    sys.exit(main())
