"""What the shipped checkpoints record about their training, as one result file the pages can quote.

Every final checkpoint carries its provenance in its metadata (stage, steps, wall time, validation
metrics, the data it saw; the SN-GAN also its discriminator's held-out check and the shipping
rule's choice among its snapshots). This command gathers them into ``summary.json`` so that the
README, ``docs/training.md`` and the notebooks bind their numbers to keys
(:mod:`recon_lib.teaching.claims`) instead of copying them::

    python -m recon_lib.training.summary --checkpoints checkpoints --out docs/results/training
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from recon_lib.core.atomic import atomic_path
from recon_lib.models.checkpoint import CheckpointError, load_checkpoint
from recon_lib.models.stages import RECIPE

__all__ = ["training_summary", "main"]

#: the metadata keys copied per stage (those a stage lacks are left out)
_KEYS = ("step", "epoch", "wall_time_s", "val", "best_val", "d_val", "warnings", "selection", "dataset", "git_commit")


def training_summary(checkpoint_dir: str | Path) -> dict[str, Any]:
    """``{"stages": {stage: {...metadata...}}, "total_wall_time_s"}`` for every recipe stage whose
    final checkpoint exists in ``checkpoint_dir`` (``shipped_step`` and the rule lifted out of the
    SN-GAN's selection for short keys; per-acceleration checkpoints, where the stage shipped them,
    under ``per_acceleration``)."""
    stages: dict[str, Any] = {}
    for stage in RECIPE:
        path = stage.checkpoint_path(checkpoint_dir)
        if not path.exists():
            continue
        meta = load_checkpoint(path)["metadata"]
        row = {key: meta[key] for key in _KEYS if key in meta}
        row["checkpoint"] = path.name
        row["compute"] = meta.get("settings", {}).get("compute")
        if "selection" in meta:
            row["shipped_step"] = meta["selection"]["shipped_step"]
            row["rule"] = meta["selection"]["rule"]
            row["shipped_scores"] = meta["selection"]["scores"][str(meta["selection"]["shipped_step"])]
        own = stage.per_acceleration_checkpoints(checkpoint_dir)
        if own:  # checkpoints shipped per acceleration (the SN-GAN's ship_per_acceleration)
            row["per_acceleration"] = {}
            for af_path in own:
                af_meta = load_checkpoint(af_path)["metadata"]
                af = f"{float(af_meta['shipped_for']):g}"
                step = af_meta["selection"]["shipped_step"]
                row["per_acceleration"][af] = {
                    "checkpoint": af_path.name,
                    "shipped_step": step,
                    "shipped_scores": af_meta["selection"]["scores"][str(step)][af],
                    "val": af_meta.get("val"),
                    "d_val": af_meta.get("d_val"),
                }
        stages[stage.name] = row
    total = sum(float(row.get("wall_time_s", 0.0)) for row in stages.values())
    return {"stages": stages, "total_wall_time_s": round(total, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recon_lib.training.summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default="checkpoints", help="the folder of final checkpoints")
    parser.add_argument("--out", default="docs/results/training", help="folder of summary.json")
    args = parser.parse_args(argv)
    try:
        summary = training_summary(args.checkpoints)
    except (CheckpointError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not summary["stages"]:
        print(f"error: {args.checkpoints} holds no final checkpoint of the recipe", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out / 'summary.json'} ({', '.join(summary['stages'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
