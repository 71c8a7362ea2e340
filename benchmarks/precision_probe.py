"""Does the speed default change what training reaches? A short probe, per compute setting.

    python benchmarks/precision_probe.py [--data data/knee] [--runs /tmp/precision_probe] [--threads 1]
        [--epochs 2] [--json docs/results/precision_probe.json]

Runs the teaching recipe's pre-training for ``--epochs`` epochs (same seed, data and schedule) in
float32, float32 channels-last (a change of rounding only: the noise floor of the comparison) and
the default (bf16 convolutions, channels-last), then prints and writes each run's final
validation NMSE / PSNR / SSIM and the PSNR differences from float32. The issue's bar: the
default within 0.05 dB of float32. Finished runs are reused (the trainer skips a finished stage
with the same settings), so re-running only summarises.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: name -> (precision, channels_last, folder)
VARIANTS = {
    "fp32": ("fp32", False, "fp32"),
    "fp32 channels_last": ("fp32", True, "fp32cl"),
    "default (bf16, channels_last)": ("bf16", True, "bf16"),
}


def run_variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train (or reuse) one variant's pre-training; its last validation record and wall time."""
    precision, channels_last, sub = VARIANTS[name]
    folder = Path(args.runs) / sub
    command = [sys.executable, "-m", "recon_lib.train", "--config", str(ROOT / "configs" / "teaching.yaml")]
    command += ["--stage", "pretrain", "--no-progress"]
    for key, value in {
        "data.root": args.data,
        "output_dir": folder / "runs",
        "checkpoint_dir": folder / "ckpt",
        "threads": args.threads,
        "stages.pretrain.epochs": args.epochs,
        "compute.precision": precision,
        "compute.channels_last": str(channels_last).lower(),
    }.items():
        command += ["--set", f"{key}={value}"]
    subprocess.run(command, check=True, cwd=ROOT)
    records = [json.loads(line) for line in (folder / "runs" / "pretrain" / "log.jsonl").read_text().splitlines()]
    val = [r for r in records if r.get("type") == "val"][-1]
    return {key: val[key] for key in ("nmse", "psnr", "ssim", "step")} | {"folder": str(folder)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/knee")
    parser.add_argument("--runs", default="/tmp/precision_probe")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"epochs": args.epochs, "threads": args.threads, "data": args.data, "runs": {}}
    for name in VARIANTS:
        results["runs"][name] = run_variant(name, args)
    base = results["runs"]["fp32"]["psnr"]
    print(f"\n| pre-training, {args.epochs} epochs | validation PSNR | vs float32 |\n|---|---:|---:|")
    for name, record in results["runs"].items():
        record["psnr_change_db"] = record["psnr"] - base
        print(f"| {name} | {record['psnr']:.3f} dB | {record['psnr_change_db']:+.3f} dB |")
    if args.json:
        from recon_lib.core.atomic import atomic_path

        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
