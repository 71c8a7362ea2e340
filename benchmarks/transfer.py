"""How a U-Net trained on one simulator's default variety transfers to a shifted range (issue 27, item 4).

Protocol (small and fast, seeded): for each simulator (1: today's data, 2: the issue-27 simulator),
make a training set (``--train`` volumes at the default SNR 30), an in-range test set (same
simulator, default SNR, the training set's test split) and a shifted test set (SNR
``--shifted-snr``, below simulator 2's per-volume spread 0.75 - 1.33 x 30 as well as simulator 1's
fixed 30), prepare them, train a small residual U-Net (``configs/tiny.yaml``'s stage ``unet``,
``--epochs`` epochs at lr 1e-3 (cosine), chans 8, 3 pools, residual as ``configs/teaching.yaml`` trains it) on
each training set, and score every U-Net and zero filling on every test set at AF 4 (PSNR and NMSE
on the foreground, fastMRI's per-volume convention, :mod:`recon_lib.evaluation.protocol`). The
table's gain is U-Net minus zero filling (dB): a network that transfers keeps its gain on the
shifted set and on the other simulator's knees.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/transfer.py --work /tmp/transfer [--train 6 --epochs 15]

Data and runs go under ``--work`` (generated once, reused). Prints one table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from recon_lib.evaluation.protocol import iter_volumes, run_method
from recon_lib.metrics.quality import nmse, psnr
from recon_lib.models.checkpoint import load_model
from recon_lib.models.inference import reconstruct, zero_filled
from recon_lib.models.stages import UNET

ROOT = Path(__file__).resolve().parents[1]
#: the centre fractions each simulator's preparation records (simulator 2: fastMRI's band in cycles/mm)
FRACTIONS = {1: "[0.08,0.04]", 2: "[0.16,0.08]"}


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def make_set(folder: Path, simulator: int, seed: int, train: int, test: int, snr: float) -> None:
    """Generate and prepare one dataset folder (skipped when prepared already)."""
    if (folder / "dataset.json").is_file() and any((folder / "test").glob("*.h5")):
        return
    py = sys.executable
    common = ["--out", str(folder), "--seed", str(seed), "--simulator", str(simulator), "--snr", str(snr)]
    _run([py, "data_scripts/make_knee_dataset.py", *common, "--train", str(train), "--val", "1", "--test", str(test)])
    _run([py, "data_scripts/prepare_dataset.py", str(folder)])


def train_unet(data: Path, run: Path, simulator: int, epochs: int) -> Path:
    """Train the small U-Net on ``data``; returns its checkpoint."""
    ckpt = UNET.checkpoint_path(run / "checkpoints")
    if ckpt.is_file():
        return ckpt
    sets = {
        "data.root": str(data),
        "data.center_fractions": FRACTIONS[simulator],
        "output_dir": str(run),
        "checkpoint_dir": str(run / "checkpoints"),
        "unet.chans": "8",
        "unet.num_pool_layers": "3",
        "unet.residual": "true",  # a correction of the zero-filled image, as configs/teaching.yaml trains it
        "stages.unet.epochs": str(epochs),
        "stages.unet.max_steps_per_epoch": "null",
        "stages.unet.checkpoint_every": "1000",
        "stages.unet.lr": "1.0e-3",
        "stages.unet.lr_schedule": "cosine",
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    _run(
        [
            sys.executable,
            "-m",
            "recon_lib.train",
            "--config",
            "configs/tiny.yaml",
            "--stage",
            "unet",
            "--no-progress",
            *args,
        ]
    )
    return ckpt


def score(ckpt: Path, test: Path) -> tuple[float, float, float]:
    """Mean over test volumes at AF 4: U-Net PSNR, zero-filled PSNR, U-Net NMSE."""
    model, _ = load_model(ckpt, expected_class="UNetReconstructor")
    rows = []
    for info, batches in iter_volumes(test, 4):
        with torch.inference_mode():
            net = run_method(lambda b: reconstruct(model, b), batches)
            zf = run_method(zero_filled, batches)
        fg, tgt = info["foreground"], info["target"]
        rows.append((psnr(tgt, net, mask=fg), psnr(tgt, zf, mask=fg), nmse(tgt, net, mask=fg)))
    return tuple(float(v) for v in np.mean(rows, axis=0))  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/transfer"))
    parser.add_argument("--train", type=int, default=6, help="training volumes per simulator")
    parser.add_argument("--test", type=int, default=2, help="volumes per test set")
    parser.add_argument("--epochs", type=int, default=15, help="U-Net epochs over the training slices")
    parser.add_argument("--shifted-snr", type=float, default=12.0)
    args = parser.parse_args(argv)
    tests: dict[str, Path] = {}
    ckpts: dict[int, Path] = {}
    for sim in (1, 2):
        base = args.work / f"sim{sim}"
        make_set(base / "train", sim, 1, args.train, args.test, 30.0)
        make_set(base / "shifted", sim, 2, 0, args.test, args.shifted_snr)
        tests[f"sim{sim} in-range"] = base / "train" / "test"
        tests[f"sim{sim} SNR {args.shifted_snr:g}"] = base / "shifted" / "test"
        ckpts[sim] = train_unet(base / "train", base / "run", sim, args.epochs)
    print(f"U-Net ({args.epochs} epochs, {args.train} volumes) vs zero filling, AF 4, foreground PSNR dB, volume mean")
    print(f"{'trained on':>10s} | {'test set':>16s} | {'U-Net':>6s} | {'ZF':>6s} | {'gain':>6s} | {'NMSE':>7s}")
    for sim, ckpt in ckpts.items():
        for name, folder in tests.items():
            net, zf, err = score(ckpt, folder)
            print(f"{'sim' + str(sim):>10s} | {name:>16s} | {net:6.2f} | {zf:6.2f} | {net - zf:+6.2f} | {err:7.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
