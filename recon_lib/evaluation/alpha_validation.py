"""The alpha sweep on the validation split, for the automatic alpha (``make alpha-validation``).

    python -m recon_lib.alpha_validation [--data data/knee] [--checkpoints checkpoints]
        [--out docs/results/alpha_validation]

:func:`~recon_lib.evaluation.sweep.select_alpha` must choose on data that is not scored: this runs
:func:`~recon_lib.evaluation.sweep.alpha_sweep` on ``val/`` and writes its records, with the choices
for a few scores at a 0.3 dB budget, to :data:`FILE` in its output folder. The alpha explorer reads it
(``AlphaExplorer.from_checkpoints(..., validation_sweep=path)``) for its automatic-alpha row.
Each acceleration is swept towards the SN-GAN that serves it (``sn_gan_af<AF>.pt`` where shipped,
else ``sn_gan.pt``); the file is recorded per acceleration (``checkpoints.sn_gan`` and each record's
``sn_gan_checkpoint``).
Bad input: one ``error:`` line and exit status 2; the output folder is replaced whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from recon_lib.core.atomic import output_set
from recon_lib.evaluation.commands import COMMAND_ERRORS, check_inputs, command_parser, report, results_folder
from recon_lib.evaluation.sweep import (
    EndPoints,
    alpha_sweep,
    load_end_points_by_acceleration,
    select_alpha,
    with_checkpoints,
)
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

__all__ = ["main", "SCORES", "BUDGET_DB", "FILE", "shipped_sweep"]

#: the scores whose choices are stored beside the records
SCORES = ("haarpsi", "vif", "hf_energy_ratio_truth")
#: the PSNR budget of the stored choices (the explorer lets the user change it)
BUDGET_DB = 0.3
#: the file the command writes into its output folder
FILE = "alpha_validation.json"


def shipped_sweep(root: str | Path = ".") -> Path:
    """The shipped validation sweep under the repository ``root`` (what ``make alpha-validation`` writes)."""
    return results_folder("alpha_validation", root) / FILE


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        records, ends, t0 = _sweep(args)
    except COMMAND_ERRORS as err:
        return report(err)
    choices = _choices(records, args.accelerations)
    document = {
        "split": "val",
        "records": records,
        "choices": choices,
        "budget_db": BUDGET_DB,
        "mask_seeds": args.mask_seeds,
        "checkpoints": {"sn": str(FINETUNE_SN.checkpoint_path(args.checkpoints)), "sn_gan": ends.checkpoints()},
        "seconds": round(time.time() - t0, 1),
        "torch_threads": torch.get_num_threads(),
    }
    with output_set(args.out, "alpha_validation") as staging:
        (staging / FILE).write_text(json.dumps(document, indent=1))
    for af, by_score in choices.items():
        for score, c in by_score.items():
            print(
                f"AF {af}: best {score} within {BUDGET_DB} dB of the SN: alpha = {c['alpha']:.2f} "
                f"(PSNR {c['psnr_change']:+.2f} dB)"
            )
    print(f"wrote {Path(args.out) / FILE} in {document['seconds']} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "alpha_validation",
        "Sweep alpha on the validation split; write the records select_alpha chooses from",
        "val",
        f"{FINETUNE_SN.checkpoint_name()} and {FINETUNE_GAN.checkpoint_name()}",
    )
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0])
    parser.add_argument("--mask-seeds", type=int, default=1, help="fixed masks per volume (default 1)")
    return parser


def _sweep(args: argparse.Namespace) -> tuple[list[dict[str, Any]], EndPoints, float]:
    """Check the arguments, load the end points (per acceleration, the SN-GAN serving it), sweep
    ``val/``: ``(records, the end points, the time the sweep started)``."""
    if 0.0 not in args.alphas or not all(0.0 <= a <= 1.0 for a in args.alphas):
        raise ValueError(f"--alphas must lie in [0, 1] and include 0 (the SN, the budget's base), got {args.alphas}")
    if args.mask_seeds < 1:
        raise ValueError(f"--mask-seeds must be at least 1, got {args.mask_seeds}")
    inputs = check_inputs(args, "val", "alpha_validation")
    ends = load_end_points_by_acceleration(inputs.checkpoints, inputs.device, args.accelerations)
    t0 = time.time()
    records = alpha_sweep(
        inputs.split,
        ends.sn,
        ends.gans,
        alphas=sorted(set(args.alphas)),
        accelerations=args.accelerations,
        device=inputs.device,
        progress=False,
        mask_seeds=range(args.mask_seeds),
    )
    return with_checkpoints(records, ends.files), ends, t0


def _choices(records: list[dict[str, Any]], accelerations: list[int]) -> dict[str, dict[str, Any]]:
    """Per acceleration, :func:`~recon_lib.evaluation.sweep.select_alpha` for each of :data:`SCORES` in the records."""
    return {
        str(af): {
            score: select_alpha(records, af, budget_db=BUDGET_DB, score=score)
            for score in SCORES
            if score in records[0]
        }
        for af in accelerations
    }


if __name__ == "__main__":
    sys.exit(main())
