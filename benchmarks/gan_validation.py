"""Score SN-GAN candidates against the SN on the validation split, per acceleration (issue 28).

For each candidate (a checkpoint written by the trainer, or a file holding ``{"state_dict": ...}``
of the same SN architecture, e.g. a per-epoch snapshot), each acceleration and each volume of the
split, under fixed masks (mask seeds ``--mask-seeds`` of :func:`~recon_lib.evaluation.protocol.iter_volumes`):

* ``dpsnr_ref`` / ``dpsnr_truth``: PSNR(SN-GAN) - PSNR(SN) on the foreground, against the SENSE
  reference and against the noise-free image (the fidelity guard: >= -1.5 dB);
* ``hf_sn`` / ``hf_gan``: the HF-energy ratio against the noise-free image
  (:func:`~recon_lib.metrics.quality.high_frequency_energy_ratio`, radius above 0.25);
* ``hp_change``: RMS over the foreground of the high-pass part (same cutoff) of SN-GAN - SN, in % of
  the white level (the reference's 99.5th percentile, :func:`~recon_lib.teaching.explorer.display.white_level`);
* ``dpsnr_noise``: the noise control, SN + white noise matched to the SN-GAN's HF energy
  (:func:`~recon_lib.metrics.texture.add_matched_noise`), PSNR against the noise-free image minus the SN's.

Means are printed over all volumes and over the PD (CORPD_FBK) volumes. ``--pick`` applies the
selection rule fixed in advance: per acceleration, the last candidate (in the order given, i.e.
training order) whose mean ``dpsnr_truth`` >= ``-budget`` and whose PD ``hf_gan`` <= ``--hf-cap``.

    python benchmarks/gan_validation.py --sn checkpoints/sn_finetuned.pt --pick 1.0 run/epoch*.pt
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.evaluation.protocol import iter_volumes, run_method
from recon_lib.metrics.quality import high_frequency_energy_ratio, psnr
from recon_lib.metrics.texture import add_matched_noise, high_pass
from recon_lib.models.checkpoint import load_model
from recon_lib.models.inference import reconstruct
from recon_lib.teaching.explorer.display import white_level

PD = "CORPD_FBK"


def load_candidate(path: str, sn_path: str) -> torch.nn.Module:
    """A candidate's generator: a trainer checkpoint, or ``{"state_dict"}`` loaded into the SN's architecture."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if "model_class" in payload:
        return load_model(path)[0]
    model = load_model(sn_path)[0]
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def volume_row(info: dict[str, Any], sn: np.ndarray, gan: np.ndarray, seed: int) -> dict[str, Any]:
    """The scores of one volume (see the module docstring)."""
    fg, ref, truth = info["foreground"], info["target"], info["noise_free"]
    white = white_level(ref)
    noisy = add_matched_noise(sn, gan, mask=fg, seed=seed)
    return {
        "pd": info["acquisition"] == PD,
        "dpsnr_ref": psnr(ref, gan, mask=fg) - psnr(ref, sn, mask=fg),
        "dpsnr_truth": psnr(truth, gan, mask=fg) - psnr(truth, sn, mask=fg),
        "dpsnr_noise": psnr(truth, noisy, mask=fg) - psnr(truth, sn, mask=fg),
        "hf_sn": high_frequency_energy_ratio(truth, sn, mask=fg),
        "hf_gan": high_frequency_energy_ratio(truth, gan, mask=fg),
        "hp_change": float(np.sqrt(np.mean(high_pass(gan - sn)[fg] ** 2)) / white * 100),
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Means over all volumes and over the PD volumes."""
    keys = [k for k in rows[0] if k != "pd"]
    out = {}
    for name, chosen in (("all", rows), ("pd", [r for r in rows if r["pd"]])):
        out[name] = {k: float(np.mean([r[k] for r in chosen])) if chosen else math.nan for k in keys}
    return out


def score_candidates(
    root: str, sn_path: str, candidates: Sequence[str], accelerations: Sequence[int], seeds: Sequence[int]
) -> dict[str, dict[int, dict[str, dict[str, float]]]]:
    """``{candidate: {af: summarise(rows)}}``, the SN reconstructed once per acceleration and seed."""
    sn_model = load_model(sn_path)[0]

    def net(model: torch.nn.Module) -> Callable[[Any], torch.Tensor]:
        return lambda batch: reconstruct(model, batch, "cpu")

    split = {
        (af, seed): [
            (info, batches, run_method(net(sn_model), batches))
            for info, batches in iter_volumes(root, af, mask_seed=seed)
        ]
        for af in accelerations
        for seed in seeds
    }
    results: dict[str, dict[int, dict[str, dict[str, float]]]] = {}
    for path in candidates:
        model = load_candidate(path, sn_path)
        results[path] = {}
        for af in accelerations:
            rows = [
                volume_row(info, sn, run_method(net(model), batches), seed)
                for seed in seeds
                for info, batches, sn in split[(af, seed)]
            ]
            results[path][af] = summarise(rows)
            print(line(path, af, results[path][af]), flush=True)
    return results


def line(path: str, af: int, s: dict[str, dict[str, float]]) -> str:
    """One printed line: a candidate's scores at one acceleration."""
    a, p = s["all"], s["pd"]
    return (
        f"{path} AF {af}: dPSNR truth {a['dpsnr_truth']:+.2f} dB (ref {a['dpsnr_ref']:+.2f}, noise control "
        f"{a['dpsnr_noise']:+.2f}) | PD HF SN {p['hf_sn']:.3f} -> SN-GAN {p['hf_gan']:.3f} "
        f"({p['hf_gan'] - p['hf_sn']:+.3f}) | PD hp change {p['hp_change']:.2f} % of white"
    )


def pick(results: dict[str, dict[int, Any]], budget: float, hf_cap: float) -> dict[int, str | None]:
    """Per acceleration, the last candidate within the PSNR budget and the HF cap (None: none is)."""
    chosen: dict[int, str | None] = {}
    for af in next(iter(results.values())):
        ok = [
            p for p, r in results.items() if r[af]["all"]["dpsnr_truth"] >= -budget and r[af]["pd"]["hf_gan"] <= hf_cap
        ]
        chosen[af] = ok[-1] if ok else None
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="+", help="SN-GAN checkpoints or snapshots, in training order")
    parser.add_argument("--data", default="data/knee/val", help="the split folder (default: data/knee/val)")
    parser.add_argument("--sn", default="checkpoints/sn_finetuned.pt", help="the SN to compare with")
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--mask-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pick", type=float, default=None, metavar="BUDGET_DB", help="apply the selection rule")
    parser.add_argument("--hf-cap", type=float, default=1.15, help="largest PD HF-energy ratio of a pick")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    results = score_candidates(args.data, args.sn, args.candidates, args.accelerations, args.mask_seeds)
    if args.pick is not None:
        for af, path in pick(results, args.pick, args.hf_cap).items():
            print(f"pick AF {af}: {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
