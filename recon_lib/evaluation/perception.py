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
  ratio inside the foreground, and the local standard deviation and LoG energy inside the PD bone
  marrow (``marrow_local_std``, ``marrow_log_energy``: the simulator's tissue labels,
  :func:`marrow_mask`, the pixels whose 5 x 5 box lies inside the marrow; PD volumes only, the
  marrow's fat being suppressed in PDFS). Where a volume stores no labels (simulator 1) its
  foreground stands in, and ``marrow`` in the JSON says so; real data have no truth, so no texture
  row at all. Each a ratio method / truth (1 = the truth's texture), mean and t interval over
  volumes, and per contrast (``by_contrast``).

Methods: zero-filled (a sanity anchor: the critic should find it at once), CG-SENSE (its iteration
count per acceleration is Table 1's, read from ``--evaluation``'s ``timing.json``, else chosen on the
validation split as ``make evaluate`` does), U-Net, SN, SN-GAN, interpSN (``--alpha``, 0.5) and a
noise control, the SN plus white Gaussian noise whose HF energy in the foreground equals the
SN-GAN's, volume by volume (:func:`~recon_lib.metrics.texture.add_matched_noise`): noise that any
statistic rewarding high frequencies would take for texture. The SENSE reference itself gets a
texture row (it carries the scan's noise). The SN-GAN, and with it interpSN and the noise control,
is the checkpoint that serves each acceleration
(:meth:`~recon_lib.models.stages.Stage.checkpoint_for`: ``sn_gan_af<AF>.pt`` where it was shipped,
else ``sn_gan.pt``); each acceleration's ``sn_gan_checkpoint`` in the JSON names it.

Writes ``perception.json``, ``perception.md`` and ``table1_perception.md`` to ``--out``
(``docs/results/perception/``), one set swapped in whole (:func:`~recon_lib.core.atomic.output_set`).
``table1_perception.md`` (numbers under ``table1`` in the JSON, :func:`table1_perception`) sets
Table 1's fidelity (PSNR, SSIM against the reference, read from ``--evaluation``'s ``table1.json``)
beside the critic and three texture ratios, per acceleration and method; without that file, or when
its methods, volumes or SN-GAN checkpoints are not these, the fidelity columns are left out and the
caption says why (so run ``make evaluate`` first). The networks run on ``--device``; the critics
train on the CPU. Runtime on 2 CPU cores: under ten minutes (``timing`` in the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recon_lib.core.atomic import output_set
from recon_lib.data.fastmri_io import read_tissue_labels
from recon_lib.data.phantom.anatomy import Tissue
from recon_lib.evaluation.baselines import choose_cg_iterations
from recon_lib.evaluation.commands import COMMAND_ERRORS, check_inputs, command_parser, report, results_folder
from recon_lib.evaluation.critic import DETECTABLE, RECIPE, CriticRecipe, mean_interval, paired_units, two_sample_test
from recon_lib.evaluation.protocol import Reconstructor, has_truth, iter_volumes, run_method
from recon_lib.evaluation.table1 import standard_methods
from recon_lib.metrics.panel import DECIMALS
from recon_lib.metrics.table import ALL, acquisition_label
from recon_lib.metrics.texture import (
    HF_CUTOFF,
    REGION_MARGIN,
    add_matched_noise,
    band_label,
    interior,
    region_texture_ratios,
    texture_ratios,
    visible_change,
)
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN, UNET

__all__ = [
    "NOISE_CONTROL",
    "REFERENCE",
    "MARROW_CONTRAST",
    "MID_BAND",
    "marrow_mask",
    "perception_methods",
    "reconstruct_split",
    "marrow_coverage",
    "critic_scores",
    "change_from_sn",
    "texture_scores",
    "validation_check",
    "perception_markdown",
    "table1_perception",
    "table1_perception_markdown",
    "main",
]

#: the noise control's row: the SN plus white noise matched to the SN-GAN's HF energy
NOISE_CONTROL = "SN + noise (SN-GAN's HF)"
#: the SENSE reference's row (texture only: the critic compares against it)
REFERENCE = "Reference (SENSE)"
#: the contrast whose bone marrow the ``marrow_*`` statistics measure (its short label)
MARROW_CONTRAST = "PD"
#: the radial band of Table 1's mid-band column (:data:`~recon_lib.metrics.texture.RADIAL_BANDS`' second)
MID_BAND = (0.25, 0.5)
#: the statistics of Table 1's perception columns beside the critic: (key in ``texture``, contrast)
TABLE1_TEXTURE = (("hf_energy", MARROW_CONTRAST), (band_label(MID_BAND), MARROW_CONTRAST), ("marrow_local_std", None))


def marrow_mask(raw: str | Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The bone marrow (:attr:`~recon_lib.data.phantom.anatomy.Tissue.MARROW`) of a raw file's
    stored tissue labels, bool of ``shape`` ``(S, rh, rw)``; None when the file stores no labels
    (real data, simulator 1). A slice without marrow is all False."""
    labels = read_tissue_labels(raw, tuple(shape))
    return None if labels is None else labels == Tissue.MARROW


def perception_methods(
    checkpoint_dir: str | Path,
    device: torch.device | str = "cpu",
    alpha: float = 0.5,
    acceleration: int = 4,
    cg_iters: int | Mapping[int, int] = 10,
) -> dict[str, Reconstructor]:
    """Zero-filled, CG-SENSE, U-Net, SN, SN-GAN and interpSN(alpha) at one acceleration, as Table 1
    builds them (:func:`~recon_lib.evaluation.table1.standard_methods`, without L1-wavelet): the
    SN-GAN, and the interpSN with it, is the checkpoint serving ``acceleration``
    (:meth:`~recon_lib.models.stages.Stage.checkpoint_for`: ``sn_gan_af<AF>.pt`` where shipped)."""
    return standard_methods(checkpoint_dir, device=device, alpha=alpha, cg_iters=cg_iters, accelerations=[acceleration])


def reconstruct_split(
    root: str | Path, methods: Mapping[str, Reconstructor], acceleration: int, limit_volumes: int | None = None
) -> list[dict[str, Any]]:
    """Every method on every volume of a split at one acceleration, with the noise control.

    Returns:
        One dict per volume: ``fname``, ``acquisition``, ``target``, ``foreground``, ``noise_free``,
        ``marrow`` (:func:`marrow_mask`, or None) and ``recons`` (method name -> magnitude
        ``(S, rh, rw)``; :data:`NOISE_CONTROL` too when the methods hold an SN and an SN-GAN, its
        noise seeded by the file name).
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
        marrow = marrow_mask(Path(root) / info["fname"], info["target"].shape)
        volumes.append({key: info[key] for key in keep} | {"marrow": marrow, "recons": recons})
    return volumes


def _marrow_region(volume: Mapping[str, Any]) -> tuple[np.ndarray, str] | None:
    """The region of a volume's ``marrow_*`` statistics and where it came from (``"labels"`` /
    ``"foreground"``), or None: not PD, or no pixel of the region lies far enough inside its edge."""
    if acquisition_label(volume["acquisition"]) != MARROW_CONTRAST:
        return None
    labelled = volume.get("marrow") is not None
    region = volume["marrow"] if labelled else volume["foreground"]
    if not interior(region, REGION_MARGIN).any():
        return None
    return region, "labels" if labelled else "foreground"


def marrow_coverage(volumes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where the ``marrow_*`` statistics were measured: ``region`` (a sentence), ``margin`` and per PD
    volume its ``source`` (``labels`` / ``foreground``), its ``pixels`` (after the margin) and their
    fraction of the volume's foreground."""
    per_volume = {}
    for v in volumes:
        found = _marrow_region(v)
        if found is not None:
            pixels = int(interior(found[0], REGION_MARGIN).sum())
            fraction = pixels / max(int(np.count_nonzero(v["foreground"])), 1)
            per_volume[v["fname"]] = {"source": found[1], "pixels": pixels, "fraction_of_foreground": fraction}
    sources = {entry["source"] for entry in per_volume.values()}
    if not per_volume:
        region = f"none: no {MARROW_CONTRAST} volume"
    elif sources == {"labels"}:
        region = f"{MARROW_CONTRAST} bone marrow (stored tissue labels)"
    elif sources == {"foreground"}:
        region = f"{MARROW_CONTRAST} foreground (no tissue labels stored)"
    else:
        region = f"{MARROW_CONTRAST} bone marrow where labels are stored, else the foreground"
    return {"region": region, "margin": REGION_MARGIN, "volumes": per_volume}


def _image(volume: Mapping[str, Any], name: str) -> np.ndarray:
    """A method's magnitudes in a volume of :func:`reconstruct_split` (:data:`REFERENCE`: the SENSE reference)."""
    return volume["target"] if name == REFERENCE else volume["recons"][name]


def critic_scores(
    volumes: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    recipe: CriticRecipe = RECIPE,
    seeds: Sequence[int] = (0, 1),
    parts: int = 1,
    progress: bool = False,
    real: str = "target",
) -> dict[str, dict[str, Any]]:
    """The critic's two-sample test of each method in ``names`` against the real class
    (:func:`~recon_lib.evaluation.critic.two_sample_test`; ``parts`` units per volume).
    ``real``: ``"target"``, the SENSE reference, or ``"noise_free"``, the simulator's noise-free image
    (then :data:`REFERENCE` may be one of ``names``)."""
    out = {}
    for name in names:
        units = []
        for v in volumes:
            units += paired_units(v["fname"], v["acquisition"], v[real], _image(v, name), v["foreground"], parts)
        out[name] = two_sample_test(units, recipe, seeds).to_dict()
        if progress:
            versus = "truth" if real == "noise_free" else "reference"
            entry = out[name]
            print(f"  critic vs {versus}, {name}: {entry['mean']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]")
    return out


def _truth_critic_names(names: Sequence[str]) -> list[str]:
    """The methods the second critic scores against the noise-free truth (besides :data:`REFERENCE`):
    the SN, the SN-GAN, interpSN and the noise control. The SENSE reference carries the scan's noise,
    so the first critic also sees a method's missing noise; against the truth it sees texture alone."""
    return [n for n in names if n in ("SN", "SN-GAN", NOISE_CONTROL) or n.startswith("interpSN")]


def change_from_sn(volumes: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """How visible each method's change from the SN is in the PD volumes
    (:func:`~recon_lib.metrics.texture.visible_change`: RMS of the high-pass part of method - SN inside
    the foreground, in % of the white level): mean and 95 % t interval over PD volumes, and each volume's."""
    out = {}
    for name in names:
        values = {
            v["fname"]: 100 * visible_change(v["recons"]["SN"], _image(v, name), v["target"], mask=v["foreground"])
            for v in volumes
            if acquisition_label(v["acquisition"]) == MARROW_CONTRAST
        }
        if values:
            out[name] = _interval(values.values()) | {"volumes": values}
    return out


def _interval(values: Iterable[float]) -> dict[str, float]:
    mean, low, high = mean_interval(list(values))
    return {"mean": mean, "low": max(low, 0.0), "high": high}


def _volume_texture(volume: Mapping[str, Any], pred: np.ndarray) -> dict[str, float]:
    """Every texture ratio of one volume: :func:`~recon_lib.metrics.texture.texture_ratios` in the
    foreground, and the ``marrow_*`` ratios in the PD marrow (:func:`_marrow_region`) where it has one."""
    out = texture_ratios(volume["noise_free"], pred, mask=volume["foreground"])
    found = _marrow_region(volume)
    if found is not None:
        ratios = region_texture_ratios(volume["noise_free"], pred, found[0], margin=REGION_MARGIN)
        out |= {f"marrow_{key}": value for key, value in ratios.items()}
    return out


def texture_scores(volumes: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each texture ratio against the noise-free image (:func:`_volume_texture`) of each method in
    ``names`` (and :data:`REFERENCE`, the SENSE reference): mean, 95 % t interval over volumes (its
    lower end cut at 0: the ratios are positive), the value of every volume, and the same summary per
    contrast (``by_contrast``, e.g. ``"PD"``). The ``marrow_*`` ratios cover the PD volumes alone."""
    contrast = {v["fname"]: acquisition_label(v["acquisition"]) for v in volumes}
    out: dict[str, dict[str, Any]] = {}
    for name in (REFERENCE, *names):
        per_volume = {
            v["fname"]: _volume_texture(v, v["target"] if name == REFERENCE else v["recons"][name]) for v in volumes
        }
        out[name] = {}
        for stat in dict.fromkeys(key for ratios in per_volume.values() for key in ratios):
            values = {fname: ratios[stat] for fname, ratios in per_volume.items() if stat in ratios}
            by_contrast = {
                c: _interval([value for fname, value in values.items() if contrast[fname] == c])
                for c in dict.fromkeys(contrast[fname] for fname in values)
            }
            out[name][stat] = _interval(values.values()) | {"volumes": values, "by_contrast": by_contrast}
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


def _header(stat: str) -> str:
    """A texture statistic's column: ``band_0.25-0.50`` -> ``band 0.25-0.50``, ``marrow_local_std`` ->
    ``PD marrow local_std``."""
    if stat.startswith("marrow_"):
        return f"{MARROW_CONTRAST} marrow {stat.removeprefix('marrow_')}"
    return stat.replace("band_", "band ")


def _af_table(af: str, result: Mapping[str, Any]) -> str:
    """One acceleration's section: the SN flag and the table of critic accuracy and texture ratios."""
    critic, texture = result["critic"], result["texture"]
    sn = critic["SN"]["mean"]
    verdict = "comparisons count" if result["sn_detected"] else "comparisons do not count: the critic cannot see the SN"
    checkpoint = Path(result["sn_gan_checkpoint"]).name if "sn_gan_checkpoint" in result else "?"
    lines = [
        f"## AF {af}\n",
        f"Critic on SN vs reference: {sn:.3f} (threshold {DETECTABLE}): {verdict}. SN-GAN: `{checkpoint}`.\n",
    ]
    if "critic_truth" in result:
        truth_sn = result["critic_truth"]["SN"]["mean"]
        verdict = "comparisons count" if result["sn_detected_truth"] else "comparisons do not count"
        lines.append(f"Critic on SN vs noise-free truth: {truth_sn:.3f}: {verdict}.\n")
    critic_truth, change = result.get("critic_truth", {}), result.get("change_from_sn", {})
    stats = list(next(iter(texture.values())).keys()) if texture else []
    head = ["method", "critic vs reference", *(["critic vs truth"] if critic_truth else [])]
    head += [f"HP change from SN (% of white, {MARROW_CONTRAST})", *[_header(s) for s in stats]]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys([*texture, *critic]):
        row = [name, _cell(critic.get(name), 3), *([_cell(critic_truth.get(name), 3)] if critic_truth else [])]
        row += [_cell(change.get(name), 2), *[_cell(texture.get(name, {}).get(s), 3) for s in stats]]
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
        "runs; the second critic learns the noise-free truth instead of the reference (real = truth: it cannot "
        "key on the scan's noise). HP change from SN: RMS of the high-pass part (k-space radius above 0.25) of "
        "method - SN inside the foreground, in % of the white level (the reference's 99.5th percentile), mean over "
        "PD volumes: how visible the fine detail a method changes is. "
        "Texture: ratio method / noise-free truth inside the foreground (1 = the truth's texture; bands in "
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
        f"are cut to [0, 1], texture intervals at 0. {_marrow_sentence(results)}\n"
    )
    return "\n".join(out)


def _marrow_sentence(results: Mapping[str, Any]) -> str:
    """The notes' sentence on the region of the ``marrow_*`` columns."""
    coverage = next((r["marrow"] for r in results["accelerations"].values() if "marrow" in r), None)
    if coverage is None or not coverage["volumes"]:
        return "No marrow columns: no PD volume with a noise-free image."
    fractions = [entry["fraction_of_foreground"] for entry in coverage["volumes"].values()]
    low, high = f"{min(fractions):.0%}", f"{max(fractions):.0%}"
    span = low if low == high else f"{low}-{high}"
    labelled = all(entry["source"] == "labels" for entry in coverage["volumes"].values())
    where = (
        "the bone marrow of the simulator's stored tissue labels"
        if labelled
        else f"the {coverage['region']} (the foreground stands in where a volume stores no tissue labels)"
    )
    return (
        f"The {MARROW_CONTRAST} marrow columns measure local std and LoG energy inside {where}, PD volumes only "
        f"({len(fractions)}; fat-suppressed PDFS marrow is dark), counting the pixels whose 5 x 5 box lies inside "
        f"the region ({coverage['margin']} pixels in from its edge): {span} of a volume's foreground. The other "
        "texture columns measure inside the whole foreground."
    )


def _table1_key(stat: str, contrast: str | None) -> str:
    """A texture column's key in :func:`table1_perception`'s rows: ``hf_energy_pd``, ``marrow_local_std``."""
    return stat if contrast is None else f"{stat}_{contrast.lower()}"


def _table1_fidelity(
    results: Mapping[str, Any], table1: Mapping[str, Any] | None, source: str
) -> tuple[dict[str, Any] | None, str]:
    """Table 1's PSNR and SSIM (mean, std over its volumes; pooled contrasts) of each method here,
    ``{"values": {(af, method): ...}, "masks": n}``, or None and why they are left out: no such file,
    or at some acceleration other methods, other test volumes or another SN-GAN checkpoint (a Table 1
    that records none, written before per-acceleration checkpoints, scored ``sn_gan.pt``)."""
    if table1 is None:
        return None, f"`{source}` does not exist (`make evaluate` writes it)"
    try:
        summary = {(str(r["acceleration"]), r["method"]): r for r in table1["summary"] if r["acquisition"] == ALL}
        gans = {str(r["acceleration"]): Path(r["sn_gan_checkpoint"]).name for r in table1.get("sn_gan_checkpoints", [])}
        for af, result in results["accelerations"].items():
            missing = [m for m in result["critic"] if m != NOISE_CONTROL and (af, m) not in summary]
            if missing:
                return None, f"`{source}` holds no {', '.join(missing)} at AF {af}: its methods are not these"
            theirs = sorted({r["volume"] for r in table1["rows"] if str(r["acceleration"]) == af})
            if theirs != sorted(result.get("volumes", [])):
                return None, f"`{source}` scored other test volumes at AF {af} ({len(theirs)}) than this run did"
            gan = gans.get(af, FINETUNE_GAN.checkpoint_name())
            ours = Path(result.get("sn_gan_checkpoint", FINETUNE_GAN.checkpoint_name())).name
            if gan != ours:
                return None, f"`{source}` scored the SN-GAN of `{gan}` at AF {af}, this run that of `{ours}`"
        values = {
            key: {m: {"mean": float(r[f"{m}_mean"]), "std": float(r[f"{m}_std"])} for m in ("psnr", "ssim")}
            for key, r in summary.items()
        }
        masks = len({r["mask_seed"] for r in table1["rows"]})
    except (KeyError, TypeError, ValueError) as err:
        return None, f"`{source}` is not a Table 1 this version reads ({type(err).__name__}: {err})"
    return {"values": values, "masks": masks}, ""


def table1_perception(results: Mapping[str, Any], table1: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    """Table 1's perception columns: per acceleration, one row per method of ``results`` (the critic's
    order, the noise control last) with Table 1's ``psnr`` and ``ssim`` (``{"mean", "std"}``, read from
    ``table1``, the parsed ``table1.json`` at ``source``; None for the noise control, which Table 1
    lacks), the ``critic`` accuracy and the texture ratios of :data:`TABLE1_TEXTURE` (``{"mean",
    "low", "high"}``, None where not measured).

    Returns:
        ``{"source", "fidelity" (bool), "fidelity_note" (why not, or ""), "table1_masks",
        "marrow_region", "accelerations": {af: [row, ...]}}``.
    """
    fidelity, note = _table1_fidelity(results, table1, source)
    interval = ("mean", "low", "high")
    accelerations = {}
    for af, result in results["accelerations"].items():
        rows = []
        for name, critic in result["critic"].items():
            row: dict[str, Any] = {"method": name}
            if fidelity is not None:
                row |= fidelity["values"].get((af, name), {"psnr": None, "ssim": None})
            row["critic"] = {k: critic[k] for k in interval}
            truth_entry = result.get("critic_truth", {}).get(name)
            row["critic_truth"] = None if truth_entry is None else {k: truth_entry[k] for k in interval}
            for stat, contrast in TABLE1_TEXTURE:
                entry = result["texture"].get(name, {}).get(stat)
                if entry is not None and contrast is not None:
                    entry = entry["by_contrast"].get(contrast)
                row[_table1_key(stat, contrast)] = None if entry is None else {k: entry[k] for k in interval}
            rows.append(row)
        accelerations[af] = rows
    region = next((r["marrow"]["region"] for r in results["accelerations"].values() if "marrow" in r), None)
    return {
        "source": source,
        "fidelity": fidelity is not None,
        "fidelity_note": note,
        "table1_masks": None if fidelity is None else fidelity["masks"],
        "marrow_region": region,
        "accelerations": accelerations,
    }


def _mean_std(entry: Mapping[str, float] | None, decimals: int) -> str:
    return "—" if entry is None else f"{entry['mean']:.{decimals}f} ± {entry['std']:.{decimals}f}"


def table1_perception_markdown(table: Mapping[str, Any]) -> str:
    """``table1_perception.md``: :func:`table1_perception`'s rows, one table per acceleration."""
    keys = [_table1_key(stat, contrast) for stat, contrast in TABLE1_TEXTURE]
    rows = [row for af_rows in table["accelerations"].values() for row in af_rows]
    texture = any(row.get(key) is not None for row in rows for key in keys)
    marrow = f"the {table['marrow_region'] or 'PD bone marrow'}"
    heads = {
        keys[0]: f"HF ratio vs truth ({MARROW_CONTRAST})",
        keys[1]: f"{_header(TABLE1_TEXTURE[1][0])} vs truth ({MARROW_CONTRAST})",
        keys[2]: f"marrow local std vs truth ({MARROW_CONTRAST})",
    }
    truth = any(row.get("critic_truth") is not None for row in rows)
    head = ["method", *(["PSNR (dB)", "SSIM"] if table["fidelity"] else []), "critic accuracy"]
    head += ["critic vs truth"] if truth else []
    head += [heads[k] for k in keys] if texture else []
    if table["fidelity"]:
        fidelity = (
            f"PSNR and SSIM against the SENSE reference are Table 1's, read from `{table['source']}` (`make "
            f"evaluate`: mean ± std over its test volumes, each averaged over {table['table1_masks']} fixed masks; "
            "the noise control, no row of Table 1, has none). "
        )
    else:
        fidelity = f"No fidelity columns: {table['fidelity_note']}. "
    lines = [
        "# Table 1's perception columns\n",
        "Table 1's methods on the test split, fidelity beside perception. "
        + fidelity
        + "Critic: the held-out critic's accuracy telling the method's patches from the reference's (0.5 = "
        "indistinguishable; mask seed 0) with its 95 % t interval over folds x seeds; critic vs truth: the same "
        "test against the noise-free truth (SN, SN-GAN, interpSN and the noise control). "
        + (
            f"Texture against the noise-free truth (ratio method / truth, 1 = the truth's texture; mean [95 % t "
            f"interval over volumes], {MARROW_CONTRAST} volumes): the HF-energy ratio (k-space radius above "
            f"{HF_CUTOFF:g}), the energy of the radial band {band_label(MID_BAND).removeprefix('band_')}, and the "
            f"local standard deviation inside {marrow}. "
            if texture
            else "No texture columns: the test volumes hold no noise-free image. "
        )
        + "`perception.md` holds every statistic.\n",
    ]
    for af, af_rows in table["accelerations"].items():
        lines += [f"## AF {af}\n", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in af_rows:
            cells = [row["method"]]
            if table["fidelity"]:
                cells += [_mean_std(row["psnr"], DECIMALS["psnr"]), _mean_std(row["ssim"], DECIMALS["ssim"])]
            cells.append(_cell(row["critic"], 3))
            cells += [_cell(row.get("critic_truth"), 3)] if truth else []
            cells += [_cell(row[k], 3) for k in keys] if texture else []
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


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
    parser.add_argument(
        "--evaluation",
        default=str(results_folder("evaluate")),
        help="make evaluate's results (table1.json: Table 1's fidelity columns; timing.json: CG-SENSE's iterations)",
    )
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
    """One acceleration's results: the SN-GAN file, the volumes, the SN flag, the critic and the
    texture ratios of every method and where the marrow ratios were measured."""
    volumes = reconstruct_split(test_dir, methods, af, args.limit_volumes)
    names = [*methods, NOISE_CONTROL]
    if not args.no_progress:
        print(f"AF {af}: {len(volumes)} test volumes reconstructed")
    critic = critic_scores(volumes, names, RECIPE, range(args.seeds), progress=not args.no_progress)
    result = {
        "sn_gan_checkpoint": str(FINETUNE_GAN.checkpoint_for(args.checkpoints, af)),
        "volumes": [v["fname"] for v in volumes],
        "sn_detected": critic["SN"]["mean"] >= DETECTABLE,
        "critic": critic,
        "texture": texture_scores(volumes, names) if truth else {},
        "change_from_sn": change_from_sn(volumes, [n for n in names if n != "SN"]),
    }
    if truth:
        against_truth = [REFERENCE, *_truth_critic_names(names)]
        critic_truth = critic_scores(
            volumes, against_truth, RECIPE, range(args.seeds), progress=not args.no_progress, real="noise_free"
        )
        result |= {
            "critic_truth": critic_truth,
            "sn_detected_truth": critic_truth["SN"]["mean"] >= DETECTABLE,
            "marrow": marrow_coverage(volumes),
        }
    return result


def _cg_iterations(args: argparse.Namespace) -> tuple[dict[int, int], str]:
    """CG-SENSE's iteration count per acceleration: Table 1's (``timing.json`` of ``--evaluation``), else
    chosen on the validation split as ``make evaluate`` does; and where it came from."""
    timing = Path(args.evaluation) / "timing.json"
    try:
        recorded = json.loads(timing.read_text())["cg_iters"]
        if isinstance(recorded, int):
            return {af: recorded for af in args.accelerations}, str(timing)
        return {af: int(recorded[str(af)]) for af in args.accelerations}, str(timing)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return choose_cg_iterations(Path(args.data) / "val", args.accelerations), "chosen on the validation split"


def _read_table1(evaluation: Path) -> dict[str, Any] | None:
    try:
        return json.loads((evaluation / "table1.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: table1_perception says so


def _run(args: argparse.Namespace, device: torch.device, test_dir: Path, out: Path) -> int:
    t0 = time.time()
    cg_iters, cg_source = _cg_iterations(args)
    methods = {af: perception_methods(args.checkpoints, device, args.alpha, af, cg_iters) for af in args.accelerations}
    seeds = list(range(args.seeds))
    validation = {
        str(af): validation_check(Path(args.data) / "val", methods[af]["SN"], [af], RECIPE, seeds)[str(af)]
        for af in args.accelerations
    }
    truth = has_truth(test_dir, args.limit_volumes)
    accelerations = {str(af): _score_acceleration(test_dir, methods[af], af, args, truth) for af in args.accelerations}
    first = next(iter(accelerations.values()))["critic"]["SN"]["runs"]
    results: dict[str, Any] = {
        "settings": {
            "recipe": asdict(RECIPE),
            "detectable": DETECTABLE,
            "seeds": seeds,
            "folds": len({r["fold"] for r in first}),
            "test_volumes": len({u for r in first for u in r["test_units"]}),
            "alpha": args.alpha,
            "mask_seed": 0,
            "truth": truth,
            "cg_iters": {str(af): n for af, n in cg_iters.items()},
            "cg_iters_source": cg_source,
        },
        "validation": validation,
        "accelerations": accelerations,
    }
    table1_source = (Path(args.evaluation) / "table1.json").as_posix()
    results["table1"] = table1_perception(results, _read_table1(Path(args.evaluation)), table1_source)
    results["timing"] = {
        "total_seconds": round(time.time() - t0, 1),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    markdown = perception_markdown(results)
    with output_set(out, "perception") as staging:
        (staging / "perception.json").write_text(json.dumps(results, indent=1) + "\n")
        (staging / "perception.md").write_text(markdown)
        (staging / "table1_perception.md").write_text(table1_perception_markdown(results["table1"]))
    if not args.no_progress:
        print(markdown)
    print(f"wrote {out}/ in {results['timing']['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
