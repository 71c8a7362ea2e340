"""The alpha sweep on the validation split, for the automatic alpha (``make alpha-validation``).

    python -m recon_lib.training.alpha_validation [--data data/knee] [--checkpoints checkpoints]
        [--out docs/results/alpha_validation.json]

:func:`~recon_lib.training.sweep.select_alpha` must choose on data that is not scored: this runs
:func:`~recon_lib.training.sweep.alpha_sweep` on ``val/`` and writes its records, with the choices
for a few scores at a 0.3 dB budget, to one JSON file. The alpha explorer reads it
(``AlphaExplorer.from_checkpoints(..., validation_sweep=path)``) for its automatic-alpha row.
Bad input: one ``error:`` line and exit status 2; the output is written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from recon_lib.core.atomic import atomic_path
from recon_lib.core.devices import select_device
from recon_lib.data.dataset import DatasetNotPreparedError
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.models.checkpoint import CheckpointError, load_model
from recon_lib.training.sweep import alpha_sweep, select_alpha

__all__ = ["main", "SCORES", "BUDGET_DB"]

#: the scores whose choices are stored beside the records
SCORES = ("haarpsi", "vif", "hf_energy_ratio_truth")
#: the PSNR budget of the stored choices (the explorer lets the user change it)
BUDGET_DB = 0.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recon_lib.training.alpha_validation",
        description="Sweep alpha on the validation split; write the records select_alpha chooses from",
    )
    parser.add_argument("--data", default="data/knee", help="prepared dataset root (uses its val/ split)")
    parser.add_argument("--checkpoints", default="checkpoints", help="folder with sn_finetuned.pt and sn_gan.pt")
    parser.add_argument("--out", default="docs/results/alpha_validation.json", help="output JSON file")
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0])
    parser.add_argument("--mask-seeds", type=int, default=1, help="fixed masks per volume (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    args = parser.parse_args(argv)
    try:
        if 0.0 not in args.alphas or not all(0.0 <= a <= 1.0 for a in args.alphas):
            raise ValueError(
                f"--alphas must lie in [0, 1] and include 0 (the SN, the budget's base), got {args.alphas}"
            )
        if args.mask_seeds < 1:
            raise ValueError(f"--mask-seeds must be at least 1, got {args.mask_seeds}")
        val_dir = Path(args.data) / "val"
        if not val_dir.is_dir():
            raise ValueError(f"{val_dir} does not exist: run `make data` (or prepare your fastMRI folder) first")
        device = select_device(args.device)
        ckpt = Path(args.checkpoints)
        sn, _ = load_model(ckpt / "sn_finetuned.pt", device, expected_class="SensitivityNetwork")
        gan, _ = load_model(ckpt / "sn_gan.pt", device, expected_class="SensitivityNetwork")
        t0 = time.time()
        records = alpha_sweep(
            val_dir,
            sn,
            gan,
            alphas=sorted(set(args.alphas)),
            accelerations=args.accelerations,
            device=device,
            progress=False,
            mask_seeds=range(args.mask_seeds),
        )
    except (CheckpointError, DataFormatError, DatasetNotPreparedError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    choices: dict[str, dict[str, Any]] = {}
    for af in args.accelerations:
        choices[str(af)] = {
            score: select_alpha(records, af, budget_db=BUDGET_DB, score=score)
            for score in SCORES
            if score in records[0]
        }
    document = {
        "split": "val",
        "records": records,
        "choices": choices,
        "budget_db": BUDGET_DB,
        "mask_seeds": args.mask_seeds,
        "checkpoints": {"sn": str(ckpt / "sn_finetuned.pt"), "sn_gan": str(ckpt / "sn_gan.pt")},
        "seconds": round(time.time() - t0, 1),
        "torch_threads": torch.get_num_threads(),
    }
    with atomic_path(Path(args.out)) as tmp:
        Path(tmp).write_text(json.dumps(document, indent=1))
    for af, by_score in choices.items():
        for score, c in by_score.items():
            print(
                f"AF {af}: best {score} within {BUDGET_DB} dB of the SN: alpha = {c['alpha']:.2f} "
                f"(PSNR {c['psnr_change']:+.2f} dB)"
            )
    print(f"wrote {args.out} in {document['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
