"""One slice for the explorers: a dataset item as a one-slice batch, a forward pass on it, its metrics,
:class:`SliceSource` (slices of a prepared split by acceleration, volume and slice index) and
:func:`load_end_models` (the shipped networks by stage) and :func:`load_end_models_by_acceleration`
(per acceleration, the networks that serve it: the SN-GAN's ``sn_gan_af<AF>.pt`` where shipped).

Shared by both explorers through :class:`~recon_lib.teaching.explorer.mixing.NetworkMix`: one
forward-pass helper and one metric set.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_lib.core.compute import Compute
from recon_lib.core.tensors import squeeze_leading
from recon_lib.data.layout import SPLITS
from recon_lib.metrics.quality import volume_metrics
from recon_lib.metrics.texture import band_energy
from recon_lib.models.inference import reconstruct
from recon_lib.models.stages import get_stage

__all__ = [
    "SliceSource",
    "Shipped",
    "as_batch",
    "run_on_slice",
    "slice_metrics",
    "slice_label",
    "load_end_models",
    "load_end_models_by_acceleration",
    "open_shipped",
]


def _require(paths: Sequence[Path]) -> None:
    """One ``FileNotFoundError`` naming every missing file of ``paths``."""
    missing = list(dict.fromkeys(str(p) for p in paths if not p.is_file()))
    if missing:
        raise FileNotFoundError(
            f"checkpoint(s) not found: {', '.join(missing)} (the repository ships them in checkpoints/; "
            "train your own with make train)"
        )


def _load_stage_file(
    checkpoint_dir: str | os.PathLike,
    stage: str,
    path: Path,
    device: torch.device | str | None,
    accelerations: Sequence[float] | None,
    acceleration: float | None = None,
) -> nn.Module:
    """The model of ``stage`` at ``path``, checked against its role for ``accelerations`` (and, when
    ``path`` is the stage's file of ``acceleration`` alone, for the ``shipped_for`` it records)."""
    from recon_lib.evaluation.sweep import check_shipped_for
    from recon_lib.models.checkpoint import load_role_model

    record = get_stage(stage)
    model, metadata = load_role_model(path, record.role, device or "cpu", accelerations)
    if acceleration is not None and path != record.checkpoint_path(checkpoint_dir):
        check_shipped_for(metadata, int(acceleration), path)
    return model


def load_end_models(
    checkpoint_dir: str | os.PathLike,
    stages: Sequence[str],
    device: torch.device | str | None = None,
    accelerations: Sequence[float] | None = None,
    acceleration: float | None = None,
) -> tuple[list[nn.Module], list[Path]]:
    """The final models of ``stages`` (names of :data:`~recon_lib.models.stages.RECIPE`) from
    ``checkpoint_dir``, and their files; one ``FileNotFoundError`` names every missing file. Each
    file is checked against the role its stage's checkpoint fills (``Stage.role``: the recorded stage,
    and the ``accelerations`` when given); a mismatch is a ``CheckpointError`` naming the file.

    ``acceleration``: None, each stage's file for every acceleration (``sn_gan.pt``); an
    acceleration, the file that serves it (:meth:`~recon_lib.models.stages.Stage.checkpoint_for`:
    ``sn_gan_af8.pt`` where shipped), checked for it when ``accelerations`` is None."""
    paths = [get_stage(name).checkpoint_for(checkpoint_dir, acceleration) for name in stages]
    _require(paths)
    check = accelerations if accelerations is not None or acceleration is None else [acceleration]
    models = [
        _load_stage_file(checkpoint_dir, name, path, device, check, acceleration)
        for name, path in zip(stages, paths, strict=True)
    ]
    return models, paths


def load_end_models_by_acceleration(
    checkpoint_dir: str | os.PathLike,
    stages: Sequence[str],
    device: torch.device | str | None = None,
    accelerations: Sequence[float] = (4, 8),
) -> dict[int, tuple[list[nn.Module], list[Path]]]:
    """Per acceleration, :func:`load_end_models` of the files that serve it: a stage's own file for
    that acceleration where it shipped one (the SN-GAN's ``sn_gan_af<AF>.pt``), else its file for
    every acceleration. Each file is loaded once, and checked for the accelerations it serves;
    accelerations served by the same files share the same model objects.

    Returns:
        ``{acceleration: (models in stage order, their files)}``.
    """
    afs = [int(a) for a in accelerations]
    paths = {af: [get_stage(name).checkpoint_for(checkpoint_dir, af) for name in stages] for af in afs}
    _require([p for af in afs for p in paths[af]])
    served: dict[tuple[str, Path], list[int]] = defaultdict(list)
    for af in afs:
        for name, path in zip(stages, paths[af], strict=True):
            served[(name, path)].append(af)
    loaded = {  # a stage's file of one acceleration serves that one alone
        (name, path): _load_stage_file(checkpoint_dir, name, path, device, served_afs, served_afs[0])
        for (name, path), served_afs in served.items()
    }
    return {af: ([loaded[(n, p)] for n, p in zip(stages, paths[af], strict=True)], paths[af]) for af in afs}


def as_batch(sample: Mapping[str, Any]) -> dict[str, Any]:
    """A one-slice batch: k-space/maps ``(1, C, H, W)``, mask ``(1, 1, 1, W)``, target ``(rh, rw)``,
    and ``truth``, the sample's ``noise_free`` image ``(rh, rw)`` where it has one (simulated data)."""
    if not isinstance(sample, Mapping):
        raise TypeError(
            f"sample_batch must be a mapping (a dataset item or a collated batch), got {type(sample).__name__}"
        )
    for key in ("kspace", "maps", "mask", "target"):
        if key not in sample:
            raise ValueError(f"sample_batch has no {key!r} entry (keys: {sorted(sample)})")
        if not isinstance(sample[key], torch.Tensor):
            raise TypeError(f"sample_batch[{key!r}] must be a torch.Tensor, got {type(sample[key]).__name__}")
    kspace, maps, mask = sample["kspace"], sample["maps"], sample["mask"]
    if kspace.ndim == 3:  # one dataset item: add the batch dimension
        kspace, maps, mask = kspace[None], maps[None], mask[None]
    if kspace.ndim != 4 or kspace.shape[0] != 1:
        raise ValueError(
            "sample_batch['kspace'] must be (C, H, W) or (1, C, H, W) (one slice), "
            f"got shape {tuple(sample['kspace'].shape)}"
        )
    if maps.shape != kspace.shape:
        raise ValueError(f"sample_batch['maps'] of shape {tuple(maps.shape)} must match kspace {tuple(kspace.shape)}")
    target = sample["target"].detach().cpu()
    target = squeeze_leading(target, 2)
    if target.ndim != 2 or target.is_complex():
        raise ValueError(
            "sample_batch['target'] must be a real (rh, rw) image, "
            f"got {tuple(sample['target'].shape)} {sample['target'].dtype}"
        )
    foreground = sample.get("foreground")
    if foreground is not None:
        foreground = torch.as_tensor(foreground).detach().cpu()
        foreground = squeeze_leading(foreground, 2)
        if tuple(foreground.shape) != tuple(target.shape):
            raise ValueError(
                f"sample_batch['foreground'] of shape {tuple(foreground.shape)} must match target {tuple(target.shape)}"
            )
        foreground = foreground.numpy().astype(bool)
        if not foreground.any():
            foreground = None
    data_range = sample.get("max")
    if isinstance(data_range, torch.Tensor):
        data_range = float(data_range.reshape(-1)[0])
    truth = sample.get("noise_free")
    if truth is not None:
        truth = squeeze_leading(torch.as_tensor(truth).detach().cpu(), 2)
        if tuple(truth.shape) != tuple(target.shape):
            raise ValueError(
                f"sample_batch['noise_free'] of shape {tuple(truth.shape)} must match target {tuple(target.shape)}"
            )
        truth = truth.numpy().astype(np.float64)
    return {
        "kspace": kspace,
        "maps": maps,
        "mask": mask,
        "target": target[None],  # (1, rh, rw): reconstruct() crops to target.shape[-2:]
        "reference": target.numpy().astype(np.float64),
        "foreground": foreground,
        "truth": truth,  # the simulator's noise-free image (rh, rw), or None
        "_hf_energy": {},  # the reference's and the truth's HF energy, filled on first use (slice_metrics)
        "max": float(data_range) if data_range is not None else float(target.max()),
        "label": slice_label(sample),
    }


def run_on_slice(
    model: nn.Module, batch: Mapping[str, Any], device: torch.device, compute: Compute | None = None
) -> np.ndarray:
    """One forward pass of ``model`` on an :func:`as_batch` slice: complex ``(rh, rw)`` (cropped),
    in the precision of ``compute`` (default: float32)."""
    compute = compute if compute is not None else Compute.fp32()
    with torch.inference_mode(), compute.autocast(device):
        out = reconstruct(model, {k: batch[k] for k in ("kspace", "maps", "mask", "target")}, device)
    return out[0].detach().cpu().numpy().astype(np.complex128)


def slice_metrics(batch: Mapping[str, Any], magnitude: np.ndarray) -> dict[str, float]:
    """:data:`METRICS` of ``magnitude`` against an :func:`as_batch` slice's reference (foreground;
    the volume maximum as data range); where the slice has a noise-free image, also
    ``hf_ratio_truth``, the HF-energy ratio against it (the perception axis: texture the truth has,
    not the scan's noise). Computed once per point and cached with it, off the slider's hot path."""
    ref, fg = batch["reference"], batch["foreground"]
    values = volume_metrics(ref, magnitude, mask=fg, data_range=batch["max"])
    # one FFT of the image per point: the slice's reference and truth energies are computed once
    energy = band_energy(magnitude, mask=fg)  # the HF-energy ratio's numerator (radius above 0.25)
    values["hf_energy_ratio"] = energy / _hf_energy(batch, "reference")
    if batch.get("truth") is not None:
        values["hf_ratio_truth"] = energy / _hf_energy(batch, "truth")
    return values


def _hf_energy(batch: Mapping[str, Any], key: str) -> float:
    """The high-frequency energy of the slice's ``reference`` or ``truth`` inside its foreground,
    cached in the batch (:func:`as_batch`); ``ValueError`` when it is 0 (the ratio is undefined)."""
    cache = batch.get("_hf_energy", {})  # a batch not made by as_batch: computed, not kept
    if key not in cache:
        cache[key] = band_energy(batch[key], mask=batch["foreground"])
    value = cache[key]
    if value == 0:
        raise ValueError(f"the slice's {key} has no high-frequency energy inside the foreground: no ratio")
    return value


def slice_label(sample: Mapping[str, Any]) -> str:
    """``"file1000.h5, slice 17, CORPD_FBK"`` from a dataset item's metadata (what is there)."""

    def scalar(value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        return value

    parts = []
    if "fname" in sample:
        parts.append(str(scalar(sample["fname"])))
    if "slice" in sample:
        parts.append(f"slice {scalar(sample['slice'])}")
    if "acquisition" in sample:
        parts.append(str(scalar(sample["acquisition"])))
    if "acceleration" in sample:
        parts.append(f"{float(scalar(sample['acceleration'])):g}x undersampled")
    return ", ".join(parts)


class SliceSource:
    """Slices of one prepared dataset split, by (acceleration, volume, slice), for the explorer.

    The masks are the evaluation's (seeded by the file name), so a slice shown here is the one the
    test split scores. Datasets are opened once per acceleration.

    Args:
        data_root: the prepared dataset folder (with ``train/``, ``val/``, ``test/``).
        split: the split the slices come from.
        accelerations: the accelerations offered.
    """

    def __init__(
        self, data_root: str | os.PathLike, split: str = "test", accelerations: Sequence[int] = (4, 8)
    ) -> None:
        from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        unknown = [a for a in accelerations if a not in DEFAULT_CENTER_FRACTIONS]
        if not accelerations or unknown:
            raise ValueError(
                f"accelerations must be among {sorted(DEFAULT_CENTER_FRACTIONS)}, got {list(accelerations)}"
            )
        self.root = Path(data_root) / split
        if not self.root.is_dir():
            raise FileNotFoundError(f"no {split} split at {self.root}: run `make data` (or prepare your dataset)")
        self.split = split
        self.accelerations = tuple(int(a) for a in accelerations)
        self._datasets: dict[int, Any] = {}
        self._truth: dict[int, np.ndarray | None] = {}

    def dataset(self, acceleration: int) -> Any:
        """The split's :class:`~recon_lib.data.dataset.KneeDataset` under masks of ``acceleration``."""
        from recon_lib.data.dataset import KneeDataset
        from recon_lib.physics.masks import MaskFunc

        if acceleration not in self.accelerations:
            raise ValueError(f"acceleration must be one of {self.accelerations}, got {acceleration!r}")
        if acceleration not in self._datasets:
            self._datasets[acceleration] = KneeDataset(self.root, MaskFunc([acceleration]), train=False)
        return self._datasets[acceleration]

    @property
    def volumes(self) -> list[tuple[str, str, int]]:
        """``(file name, acquisition, number of slices)`` of every volume of the split."""
        ds = self.dataset(self.accelerations[-1])
        return [(r.fname, r.acquisition, r.num_slices) for r in ds.volumes]

    def resolve(self, volume: int | str, slice: int | None) -> tuple[int, int]:
        """``(volume index, slice index)`` for a volume index or file name; default slice: the middle one."""
        names = [v[0] for v in self.volumes]
        if isinstance(volume, str):
            if volume not in names:
                raise ValueError(f"volume {volume!r} is not in the {self.split} split (volumes: {', '.join(names)})")
            volume = names.index(volume)
        if isinstance(volume, bool) or not isinstance(volume, (int, np.integer)) or not 0 <= volume < len(names):
            raise ValueError(f"volume must be a file name or an index in [0, {len(names)}), got {volume!r}")
        num_slices = self.volumes[int(volume)][2]
        if slice is None:
            slice = num_slices // 2
        if isinstance(slice, bool) or not isinstance(slice, (int, np.integer)) or not 0 <= slice < num_slices:
            raise ValueError(f"slice must be an int in [0, {num_slices}) for {names[int(volume)]}, got {slice!r}")
        return int(volume), int(slice)

    def item(self, acceleration: int, volume: int | str, slice: int | None = None) -> dict[str, Any]:
        """The dataset item of ``(volume, slice)`` under the acceleration's evaluation mask, with the
        slice's ``noise_free`` image where the file stores one (the volume read once, then cached)."""
        v, s = self.resolve(volume, slice)
        ds = self.dataset(acceleration)
        item = ds[ds.examples.index((v, s))]
        if v not in self._truth:
            self._truth = {v: ds.noise_free(v)}  # one volume at a time
        truth = self._truth[v]
        return item if truth is None else item | {"noise_free": torch.from_numpy(truth[s].astype(np.float32))}


@dataclass
class Shipped:
    """What an explorer built from checkpoints starts with: the models of the first slice's
    acceleration, their files, the slices, the first slice and its place among them, and the models
    (with their files) of every acceleration offered."""

    models: list[nn.Module]
    checkpoints: list[Path]
    source: SliceSource
    item: dict[str, Any]
    selection: dict[str, Any]
    by_acceleration: dict[int, tuple[list[nn.Module], list[Path]]] = field(default_factory=dict)

    def named(self, names: Sequence[str]) -> dict[str, str]:
        """``{name: checkpoint file}`` for the models' names."""
        return dict(zip(names, (str(p) for p in self.checkpoints), strict=True))

    def models_by_acceleration(self) -> dict[int, list[nn.Module]]:
        """``{acceleration: the models serving it}`` (what the explorers switch to with the acceleration)."""
        return {af: models for af, (models, _) in self.by_acceleration.items()}

    def checkpoints_by_acceleration(self, names: Sequence[str]) -> dict[int, dict[str, str]]:
        """``{acceleration: {name: checkpoint file}}``."""
        return {
            af: dict(zip(names, (str(p) for p in paths), strict=True))
            for af, (_, paths) in self.by_acceleration.items()
        }


def open_shipped(  # noqa: PLR0913 - from_checkpoints' own arguments, passed through
    checkpoint_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    stages: Sequence[str],
    volume: int | str,
    slice: int | None,
    acceleration: int,
    split: str,
    accelerations: Sequence[int],
    device: torch.device | str | None,
) -> Shipped:
    """The models of ``stages`` for every acceleration offered (``accelerations`` and ``acceleration``:
    :func:`load_end_models_by_acceleration`, so the SN-GAN is the one serving each acceleration) and
    the first slice (``volume``, ``slice``, ``acceleration``) of ``split``."""
    offered = sorted({*(int(a) for a in accelerations), int(acceleration)})
    by_acceleration = load_end_models_by_acceleration(checkpoint_dir, stages, device, offered)
    models, paths = by_acceleration[int(acceleration)]
    from recon_lib.data.provenance import mismatch_lines
    from recon_lib.models.checkpoint import load_checkpoint

    files = dict.fromkeys(p for af in offered for p in by_acceleration[af][1])
    trained = {p.name: load_checkpoint(p)["metadata"].get("dataset") for p in files}
    for line in mismatch_lines(trained, data_root):
        warnings.warn(f"{line} (the models are off their training distribution)", stacklevel=2)
    source = SliceSource(data_root, split, accelerations=offered)
    v, s = source.resolve(volume, slice)
    selection = {"acceleration": int(acceleration), "volume": v, "slice": s}
    return Shipped(models, paths, source, source.item(acceleration, v, s), selection, by_acceleration)
