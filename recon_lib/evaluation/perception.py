"""Perception measured as Blau & Michaeli mean it: ``python -m recon_lib.perception --data data/knee``.

Table 1's perception axis, VIF, is a full-reference index: another fidelity measure. Blau &
Michaeli define perception as a divergence between the distribution of reconstructions and that of
real images. This command scores the shipped networks two ways on the test split, under the
evaluation's fixed masks (mask seed 0 of :func:`~recon_lib.evaluation.protocol.iter_volumes`):

* a held-out critic (:mod:`recon_lib.evaluation.critic`): the classifier two-sample test between
  SENSE-reference patches and a method's patches, folds by volume stratified by contrast, with a t
  interval over the fold x seed runs. 0.5 = indistinguishable. Its recipe was fixed on the
  validation split; the command repeats that check (SN against the reference on the validation
  split, half volumes as units) and reports it. Comparisons count only at the accelerations where
  the critic tells the SN from the reference (accuracy >= :data:`~recon_lib.evaluation.critic.DETECTABLE`);
* texture statistics against the simulator's noise-free image (:mod:`recon_lib.metrics.texture`):
  radial band energies, local standard deviation, Laplacian-of-Gaussian energy and the HF-energy
  ratio, each a ratio method / truth (1 = the truth's texture), mean and t interval over volumes.

Methods: zero-filled (a sanity anchor: the critic should find it at once), U-Net, SN, SN-GAN,
interpSN (``--alpha``, 0.5) and a noise control, the SN plus white Gaussian noise whose HF energy
in the foreground equals the SN-GAN's, volume by volume (:func:`~recon_lib.metrics.texture.add_matched_noise`):
noise that any statistic rewarding high frequencies would take for texture. The SENSE reference
itself gets a texture row (it carries the scan's noise).

Writes ``perception.json`` and ``perception.md`` to ``--out`` (``docs/results/perception/``), one
set swapped in whole (:func:`~recon_lib.core.atomic.output_set`). The networks run on ``--device``;
the critics train on the CPU. Runtime on 2 CPU cores: a few minutes (``timing`` in the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.core.atomic import output_set
from recon_lib.evaluation.commands import COMMAND_ERRORS, check_inputs, command_parser, report
from recon_lib.evaluation.critic import DETECTABLE, RECIPE, CriticRecipe, mean_interval, paired_units, two_sample_test
from recon_lib.evaluation.protocol import Reconstructor, has_truth, iter_volumes, run_method
from recon_lib.evaluation.table1 import standard_methods
from recon_lib.metrics.texture import add_matched_noise, texture_ratios
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN, UNET

__all__ = [
    "NOISE_CONTROL",
    "REFERENCE",
    "perception_methods",
    "reconstruct_split",
    "critic_scores",
    "texture_scores",
    "validation_check",
    "perception_markdown",
    "main",
]

#: the noise control's row: the SN plus white noise matched to the SN-GAN's HF energy
NOISE_CONTROL = "SN + noise (SN-GAN's HF)"
#: the SENSE reference's row (texture only: the critic compares against it)
REFERENCE = "Reference (SENSE)"


def perception_methods(
    checkpoint_dir: str | Path,
    device: torch.device | str = "cpu",
    alpha: float = 0.5,
    accelerations: Sequence[int] | None = None,
) -> dict[str, Reconstructor]:
    """Zero-filled, U-Net, SN, SN-GAN and interpSN(alpha), as Table 1 builds them
    (:func:`~recon_lib.evaluation.table1.standard_methods`)."""
    methods = standard_methods(checkpoint_dir, device=device, alpha=alpha, accelerations=accelerations)
    return {name: method for name, method in methods.items() if name not in ("CG-SENSE", "L1-wavelet")}


def reconstruct_split(
    root: str | Path, methods: Mapping[str, Reconstructor], acceleration: int, limit_volumes: int | None = None
) -> list[dict[str, Any]]:
    """Every method on every volume of a split at one acceleration, with the noise control.

    Returns:
        One dict per volume: ``fname``, ``acquisition``, ``target``, ``foreground``, ``noise_free``
        and ``recons`` (method name -> magnitude ``(S, rh, rw)``; :data:`NOISE_CONTROL` too when the
        methods hold an SN and an SN-GAN, its noise seeded by the file name).
    """
    volumes = []
    for info, batches in iter_volumes(root, acceleration, limit_volumes):
        recons = {name: run_method(method, batches) for name, method in methods.items()}
        if "SN" in recons and "SN-GAN" in recons:
            seed = zlib.crc32(info["fname"].encode())
            recons[NOISE_CONTROL] = add_matched_noise(
                recons["SN"], recons["SN-GAN"], mask=info["foreground"], seed=seed
            ).astype(np.float32)
        keep = ("fname", "acquisition", "target", "foreground", "noise_free")
        volumes.append({key: info[key] for key in keep} | {"recons": recons})
    return volumes


def critic_scores(
    volumes: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    recipe: CriticRecipe = RECIPE,
    seeds: Sequence[int] = (0, 1),
    parts: int = 1,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """The critic's two-sample test of each method in ``names`` against the reference
    (:func:`~recon_lib.evaluation.critic.two_sample_test`; ``parts`` units per volume)."""
    out = {}
    for name in names:
        units = []
        for v in volumes:
            units += paired_units(v["fname"], v["acquisition"], v["target"], v["recons"][name], v["foreground"], parts)
        out[name] = two_sample_test(units, recipe, seeds).to_dict()
        if progress:
            print(f"  critic, {name}: {out[name]['mean']:.3f} [{out[name]['low']:.3f}, {out[name]['high']:.3f}]")
    return out


def texture_scores(volumes: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each texture ratio against the noise-free image (:func:`~recon_lib.metrics.texture.texture_ratios`)
    of each method in ``names`` (and :data:`REFERENCE`, the SENSE reference): mean, 95 % t interval
    over volumes (its lower end cut at 0: the ratios are positive) and the value of every volume."""
    out: dict[str, dict[str, Any]] = {}
    for name in (REFERENCE, *names):
        per_volume = {
            v["fname"]: texture_ratios(
                v["noise_free"], v["target"] if name == REFERENCE else v["recons"][name], mask=v["foreground"]
            )
            for v in volumes
        }
        statistics = next(iter(per_volume.values())).keys()
        out[name] = {}
        for stat in statistics:
            values = {fname: ratios[stat] for fname, ratios in per_volume.items()}
            mean, low, high = mean_interval(list(values.values()))
            out[name][stat] = {"mean": mean, "low": max(low, 0.0), "high": high, "volumes": values}
    return out


def validation_check(
    root: str | Path,
    sn: Reconstructor,
    accelerations: Sequence[int],
    recipe: CriticRecipe = RECIPE,
    seeds: Sequence[int] = (0, 1),
) -> dict[str, dict[str, Any]]:
    """The recipe's check on the validation split: the critic on SN against the reference, half
    volumes as units (the split holds one volume per contrast); ``{str(af): result}``."""
    out = {}
    for af in accelerations:
        volumes = reconstruct_split(root, {"SN": sn}, af)
        out[str(af)] = critic_scores(volumes, ["SN"], recipe, seeds, parts=2)["SN"]
    return out


def _cell(entry: Mapping[str, Any] | None, decimals: int) -> str:
    if entry is None:
        return "—"
    if math.isnan(entry["low"]):
        return f"{entry['mean']:.{decimals}f}"
    return f"{entry['mean']:.{decimals}f} [{entry['low']:.{decimals}f}, {entry['high']:.{decimals}f}]"


def _af_table(af: str, result: Mapping[str, Any]) -> str:
    """One acceleration's section: the SN flag and the table of critic accuracy and texture ratios."""
    critic, texture = result["critic"], result["texture"]
    sn = critic["SN"]["mean"]
    verdict = "comparisons count" if result["sn_detected"] else "comparisons do not count: the critic cannot see the SN"
    lines = [f"## AF {af}\n", f"Critic on SN vs reference: {sn:.3f} (threshold {DETECTABLE}): {verdict}.\n"]
    stats = list(next(iter(texture.values())).keys()) if texture else []
    head = ["method", "critic accuracy", *[s.replace("band_", "band ") for s in stats]]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys([*texture, *critic]):
        row = [name, _cell(critic.get(name), 3), *[_cell(texture.get(name, {}).get(s), 3) for s in stats]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def perception_markdown(results: Mapping[str, Any]) -> str:
    """``perception.md``: the validation check, then one table per acceleration, then the notes."""
    s = results["settings"]
    out = [
        "# Perception: a held-out critic, and texture against the noise-free truth\n",
        f"Test split ({s['test_volumes']} volumes), fixed masks (mask seed 0). Critic: accuracy of a fresh CNN telling "
        f"reference patches from a method's on held-out volumes (0.5 = indistinguishable), mean over {s['folds']} "
        f"folds (by volume, stratified by contrast) x {len(s['seeds'])} seeds with the 95 % t interval over those "
        "runs. Texture: ratio method / noise-free truth inside the foreground (1 = the truth's texture; bands in "
        "normalised k-space radius, 1 = Nyquist), mean and 95 % t interval over volumes.\n",
        "## The critic's recipe, checked on the validation split (SN vs reference)\n",
        "| AF | accuracy |",
        "|---|---|",
        *[f"| {af} | {_cell(entry, 3)} |" for af, entry in results["validation"].items()],
        "",
    ]
    for af, result in results["accelerations"].items():
        out.append(_af_table(af, result))
    out.append(
        f"Noise control: {NOISE_CONTROL} is the SN plus white Gaussian noise whose HF energy (radius above 0.25, "
        "inside the foreground) equals the SN-GAN's, volume by volume. Texture statistics that rise as much for it "
        "as for the SN-GAN cannot tell restored texture from noise. The SENSE reference the critic learns from "
        "carries the scan's noise, so a method's missing noise is part of what the critic sees. Critic intervals "
        "are cut to [0, 1], texture intervals at 0. The foreground stands in for the tissue (no tissue labels are "
        "stored yet).\n"
    )
    return "\n".join(out)


def _check_arguments(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.alpha) and 0.0 <= args.alpha <= 1.0):
        raise ValueError(f"--alpha must lie in [0, 1], got {args.alpha}")
    if args.limit_volumes is not None and args.limit_volumes < 4:
        raise ValueError(f"--limit-volumes must be at least 4 (two volumes of each contrast), got {args.limit_volumes}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "perception",
        "A held-out critic and texture statistics against the truth, on the test split (the critic's "
        "recipe checked on the validation split).",
        "test",
        ", ".join(s.checkpoint_name() for s in (UNET, FINETUNE_SN, FINETUNE_GAN)),
    )
    parser.add_argument("--alpha", type=float, default=0.5, help="α of the interpSN row")
    parser.add_argument("--seeds", type=int, default=2, help="critic seeds per fold (default 2)")
    parser.add_argument("--limit-volumes", type=int, default=None, help="score only the first N test volumes (>= 4)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check_arguments(args)
        inputs = check_inputs(args, "test", "perception", prepared_volumes=True)
        return _run(args, inputs.device, inputs.split, Path(args.out))
    except COMMAND_ERRORS as err:
        return report(err)


def _score_acceleration(
    test_dir: Path, methods: Mapping[str, Reconstructor], af: int, args: argparse.Namespace, truth: bool
) -> dict[str, Any]:
    """One acceleration's results: the SN flag, the critic and the texture ratios of every method."""
    volumes = reconstruct_split(test_dir, methods, af, args.limit_volumes)
    names = [*methods, NOISE_CONTROL]
    if not args.no_progress:
        print(f"AF {af}: {len(volumes)} test volumes reconstructed")
    critic = critic_scores(volumes, names, RECIPE, range(args.seeds), progress=not args.no_progress)
    return {
        "sn_detected": critic["SN"]["mean"] >= DETECTABLE,
        "critic": critic,
        "texture": texture_scores(volumes, names) if truth else {},
    }


def _run(args: argparse.Namespace, device: torch.device, test_dir: Path, out: Path) -> int:
    t0 = time.time()
    methods = perception_methods(args.checkpoints, device, args.alpha, args.accelerations)
    seeds = list(range(args.seeds))
    validation = validation_check(Path(args.data) / "val", methods["SN"], args.accelerations, RECIPE, seeds)
    truth = has_truth(test_dir, args.limit_volumes)
    accelerations = {str(af): _score_acceleration(test_dir, methods, af, args, truth) for af in args.accelerations}
    first = next(iter(accelerations.values()))["critic"]["SN"]["runs"]
    results = {
        "settings": {
            "recipe": asdict(RECIPE),
            "detectable": DETECTABLE,
            "seeds": seeds,
            "folds": len({r["fold"] for r in first}),
            "test_volumes": len({u for r in first for u in r["test_units"]}),
            "alpha": args.alpha,
            "mask_seed": 0,
            "truth": truth,
        },
        "validation": validation,
        "accelerations": accelerations,
        "timing": {
            "total_seconds": round(time.time() - t0, 1),
            "torch_threads": torch.get_num_threads(),
            "device": str(device),
        },
    }
    markdown = perception_markdown(results)
    with output_set(out, "perception") as staging:
        (staging / "perception.json").write_text(json.dumps(results, indent=1) + "\n")
        (staging / "perception.md").write_text(markdown)
    if not args.no_progress:
        print(markdown)
    print(f"wrote {out}/ in {results['timing']['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
