"""``KneeDataset``: one training / evaluation sample per slice of the prepared knee volumes.

The dataset serves the raw fastMRI files of one split folder (``train/``, ``val/`` or ``test/``)
through the sidecars :mod:`recon_lib.data.prepare` writes for them (in ``train.prepared/`` etc.,
:mod:`recon_lib.data.layout`). Reads are lazy:
``__init__`` only opens each sidecar to read its shape and attributes, and checks that it was
prepared from the raw file beside it (name, size and fingerprint, :func:`~recon_lib.data.integrity.check_sidecar`:
a raw file replaced since, or a sidecar copied from another volume, is refused naming both files and
the command that prepares it again); :meth:`KneeDataset.verify` reads every byte. Every ``__getitem__``
opens the file, reads one slice and closes it again, so nothing is held open and the dataset is
safe to use with ``DataLoader(num_workers > 0)`` (each worker opens its own handles).

A sample (``dict``), for a sidecar of ``C`` coils on the readout-cropped ``(H, W)`` grid with a
reconstruction size ``(rh, rw)``:

=================  ==========================  ====================================================
key                type / shape                meaning
=================  ==========================  ====================================================
``kspace``         complex64 ``(C, H, W)``     *undersampled* k-space ``M y`` (zeros where unsampled)
``maps``           complex64 ``(C, H, W)``     ESPIRiT coil sensitivities calibrated on the
                                               centre lines *this mask acquired* (never on more)
``mask``           float32 ``(1, 1, W)``       the phase-encode sampling mask ``M`` (0/1)
``target``         float32 ``(rh, rw)``        magnitude of the SENSE reference (ground truth)
``foreground``     bool ``(rh, rw)``           foreground mask (metrics and the GAN loss use it)
``max``            float32 scalar tensor       the target *volume's* maximum (PSNR / SSIM data range)
``acceleration``   float                       the acceleration factor the mask was drawn for
``fname``          str                         raw file name, e.g. ``knee_0001.h5``
``slice``          int                         slice index in the volume
``acquisition``    str                         ``CORPD_FBK`` / ``CORPDFS_FBK``
=================  ==========================  ====================================================

The default ``DataLoader`` collate stacks these into a batch (``mask`` becomes
``(B, 1, 1, W)``, broadcastable to k-space ``(B, C, H, W)``; strings become lists).

Masks (fastMRI semantics, :mod:`recon_lib.physics.masks`):

* ``train=True``: a fresh random mask for every sample, drawn from a generator seeded with
  ``(seed, epoch, index)`` -- reproducible, independent of the number of workers and of the
  order samples are read; call :meth:`KneeDataset.set_epoch` at the start of every epoch.
* ``train=False`` (validation / test): one fixed mask per volume, seeded with
  :func:`~recon_lib.physics.masks.seed_from_name` of the file name and ``mask_seed``: every slice of
  a volume and every method evaluated on it sees the same mask, in every epoch; another
  ``mask_seed`` gives another fixed mask (the evaluation averages over several).
* The zero-padding columns of the raw data (outside ``[padding_left, padding_right)``) are
  never sampled.
* Centre fractions: a ``MaskFunc`` without fractions (``follows_data``) gives each volume the
  fraction preparation derived for it (fastMRI's physical calibration band,
  :func:`recon_lib.physics.masks.fastmri_center_fraction`, recorded in the sidecar); explicit
  fractions must agree with them (a ``ValueError`` naming the file, the AF and both values).
  Sidecars that record none (files of simulator 1) use the mask function's fractions as given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from recon_lib.core.checks import check_int
from recon_lib.data.fastmri_io import DataFormatError, read_noise_free
from recon_lib.data.integrity import check_sidecar, verify_sidecar
from recon_lib.data.layout import acs_maps_key, raw_volumes, sidecar_path, unprepared
from recon_lib.physics.masks import MaskFunc, mask_to_tensor, seed_from_name

__all__ = ["KneeDataset", "VolumeRecord", "DatasetNotPreparedError", "prepared_fractions"]

#: sidecar datasets a sample is read from
_KEYS = ("kspace", "target", "foreground")


class DatasetNotPreparedError(FileNotFoundError):
    """A split folder holds raw volumes whose prepared sidecars are missing or incomplete."""


@dataclass(frozen=True)
class VolumeRecord:
    """What the dataset knows about one prepared volume (read once, in ``__init__``).

    Attributes:
        path: the sidecar file.
        raw: the raw fastMRI file it was prepared from.
        fname: the raw file's name (the volume's identity, also the validation mask seed).
        acquisition: ``CORPD_FBK`` / ``CORPDFS_FBK`` (``""`` if the raw file had none).
        num_slices: number of slices S.
        kspace_shape: ``(C, H, W)`` of one slice of k-space / maps.
        recon_size: ``(rh, rw)`` of the target.
        padding: ``(padding_left, padding_right)``: only columns in this range may be sampled.
        max: the target volume's maximum.
        maps: sidecar dataset of the acquired-line maps per centre fraction, e.g. ``{0.08: "maps_cf0.08"}``;
            a centre fraction whose lines were too few to calibrate maps to the reason instead.
        mask_func: the mask function of this volume: the dataset's, with the centre fraction of each
            acceleration the one preparation derived for this file where the sidecar records it
            (:func:`prepared_fractions`).
    """

    path: Path
    raw: Path
    fname: str
    acquisition: str
    num_slices: int
    kspace_shape: tuple[int, int, int]
    recon_size: tuple[int, int]
    padding: tuple[int, int]
    max: float
    maps: dict[float, str]
    mask_func: MaskFunc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)


def _check_complete(f: h5py.File, path: Path) -> None:
    """The sidecar was finished and holds every dataset and attribute a sample is read from."""
    if not bool(f.attrs.get("complete", False)):
        raise DataFormatError(f"{path}: attribute 'complete' is not set; re-run prepare_dataset.py")
    for key in _KEYS:
        if key not in f:
            raise DataFormatError(f"{path}: missing dataset {key!r}; re-run prepare_dataset.py")
    for key in ("max", "padding_left", "padding_right"):
        if key not in f.attrs:
            raise DataFormatError(f"{path}: missing attribute {key!r}; re-run prepare_dataset.py")
    if f["kspace"].ndim != 4:
        raise DataFormatError(f"{path}: 'kspace' must be (S, C, H, W), got shape {f['kspace'].shape}")


def _acs_maps(f: h5py.File, path: Path, center_fractions: Sequence[float]) -> dict[float, str]:
    """Centre fraction -> the sidecar dataset of its acquired-line maps (or ``"error: <reason>"``)."""
    ks = f["kspace"]
    maps: dict[float, str] = {}
    for cf in center_fractions:
        key = acs_maps_key(cf)
        if key in f:
            if f[key].shape != ks.shape or f[key].dtype != np.complex64:
                raise DataFormatError(
                    f"{path}: {key!r} {f[key].shape} {f[key].dtype} must be complex64 of the k-space shape {ks.shape}"
                )
            maps[cf] = key
        elif f"{key}_error" in f.attrs:
            maps[cf] = "error: " + _text(f.attrs[f"{key}_error"])
        else:
            raise DataFormatError(
                f"{path}: no coil maps for centre fraction {cf:g} ({key!r}); prepare_dataset.py computes them "
                f"for {', '.join(_text(k) for k in f if _text(k).startswith('maps_cf')) or 'none'}"
            )
    return maps


def _check_consistent(f: h5py.File, path: Path) -> None:
    """Shapes, dtypes and attributes agree with each other and make sense."""
    ks, tg = f["kspace"], f["target"]
    if tg.ndim != 3 or tg.shape[0] != ks.shape[0] or f["foreground"].shape != tg.shape:
        raise DataFormatError(f"{path}: 'target' {tg.shape} / 'foreground' {f['foreground'].shape} do not match")
    for key, dtype in (("kspace", np.complex64), ("target", np.float32)):
        if f[key].dtype != dtype:
            raise DataFormatError(f"{path}: {key!r} must be {np.dtype(dtype).name}, got {f[key].dtype}")
    if ks.shape[0] == 0:
        raise DataFormatError(f"{path}: holds 0 slices")
    vmax = float(f.attrs["max"])
    if not (np.isfinite(vmax) and vmax > 0):
        raise DataFormatError(f"{path}: attribute 'max' must be a positive finite number, got {vmax}")
    left, right = int(f.attrs["padding_left"]), int(f.attrs["padding_right"])
    if not 0 <= left < right <= ks.shape[3]:
        raise DataFormatError(
            f"{path}: padding {left}..{right} must satisfy 0 <= left < right <= k-space width {ks.shape[3]}"
        )


def prepared_fractions(f: h5py.File, path: Path) -> dict[float, float] | None:
    """The centre fraction preparation derived for each acceleration (the sidecar's
    ``acs_accelerations`` / ``acs_center_fractions``), or None for a sidecar that records none (a
    file of simulator 1, prepared with fastMRI's own fractions)."""
    if "acs_accelerations" not in f.attrs:
        return None
    afs = np.atleast_1d(np.asarray(f.attrs["acs_accelerations"], dtype=np.float64))
    cfs = np.atleast_1d(np.asarray(f.attrs.get("acs_center_fractions", []), dtype=np.float64))
    if afs.shape != cfs.shape:
        raise DataFormatError(
            f"{path}: attributes 'acs_accelerations' {afs.tolist()} and 'acs_center_fractions' {cfs.tolist()} "
            "differ in length; re-run prepare_dataset.py"
        )
    return {float(a): float(c) for a, c in zip(afs, cfs, strict=True)}


def _volume_mask_func(mask_func: MaskFunc, fractions: dict[float, float] | None, path: Path) -> MaskFunc:
    """``mask_func`` for one volume: its prepared fraction per acceleration where the sidecar records
    them (an explicit fraction must agree), else ``mask_func`` itself."""
    if fractions is None:
        return mask_func
    missing = [a for a in mask_func.accelerations if a not in fractions]
    if missing:
        known = ", ".join(f"{a:g}" for a in sorted(fractions))
        raise DataFormatError(f"{path}: prepared for accelerations {known}, not {', '.join(f'{a:g}' for a in missing)}")
    if not mask_func.follows_data:
        for af, cf in zip(mask_func.accelerations, mask_func.center_fractions, strict=True):
            if not np.isclose(cf, fractions[af]):
                raise ValueError(
                    f"{path}: centre fraction {cf:g} at AF {af:g} disagrees with the {fractions[af]:g} this file was "
                    f"prepared for (fastMRI's calibration band at its geometry, "
                    f"recon_lib.physics.masks.fastmri_center_fraction); leave data.center_fractions out "
                    f"or set it to {[fractions[a] for a in mask_func.accelerations]}"
                )
    return mask_func.with_fractions(fractions)


def _read_record(raw: Path, mask_func: MaskFunc) -> VolumeRecord:
    """Open the sidecar of ``raw``, check it is complete and return its :class:`VolumeRecord`."""
    path = sidecar_path(raw)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(f"{path}: not a readable prepared file ({err}); re-run prepare_dataset.py") from None
    with f:
        _check_complete(f, path)
        check_sidecar(raw, path, f.attrs, format_only=True)  # a format this version reads
        volume_masks = _volume_mask_func(mask_func, prepared_fractions(f, path), path)
        maps = _acs_maps(f, path, volume_masks.center_fractions)
        _check_consistent(f, path)
        check_sidecar(raw, path, f.attrs)  # prepared from this raw file (so ``source`` is its name)
        ks, tg = f["kspace"], f["target"]
        return VolumeRecord(
            path=path,
            raw=raw,
            fname=raw.name,
            acquisition=_text(f.attrs.get("acquisition", "")),
            num_slices=int(ks.shape[0]),
            kspace_shape=(int(ks.shape[1]), int(ks.shape[2]), int(ks.shape[3])),
            recon_size=(int(tg.shape[1]), int(tg.shape[2])),
            padding=(int(f.attrs["padding_left"]), int(f.attrs["padding_right"])),
            max=float(f.attrs["max"]),
            maps=maps,
            mask_func=volume_masks,
        )


class KneeDataset(Dataset):
    """Slices of the prepared knee volumes of one split folder, with undersampling masks.

    Args:
        root: a split folder (e.g. ``data/knee/train``) holding raw ``*.h5`` files; their
            sidecars live in the sibling folder ``<root>.prepared/`` under the same names
            (e.g. ``data/knee/train.prepared/``, :func:`~recon_lib.data.layout.sidecar_path`),
            written by ``data_scripts/prepare_dataset.py``.
        mask_func: draws the phase-encode masks (accelerations and centre fractions).
        train: fresh random masks per sample (True) or one fixed mask per volume (False).
        seed: base seed of the training masks (non-negative integer).
        limit_volumes: use only the first ``limit_volumes`` volumes (sorted by file name).
        acquisitions: keep only these acquisitions (e.g. ``["CORPD_FBK"]``); None keeps all.
        mask_seed: which fixed mask each volume gets when ``train=False`` (0: fastMRI's
            file-name seed; 1, 2, ...: further independent masks).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DatasetNotPreparedError: raw files in ``root`` have no (complete) sidecar.
        DataFormatError: a sidecar is unreadable, incomplete, of a format this version does not
            read, or not prepared from the raw file beside it.

    Usage (needs the prepared embedded dataset, ``make data``; ``tests/test_dataset.py`` runs it)::

        ds = KneeDataset("data/knee/val", MaskFunc([4]))
        ds[0]["kspace"].shape  # torch.Size([15, 160, 184])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        mask_func: MaskFunc,
        train: bool = False,
        seed: int = 0,
        limit_volumes: int | None = None,
        acquisitions: Sequence[str] | None = None,
        mask_seed: int = 0,
    ) -> None:
        if not isinstance(mask_func, MaskFunc):
            raise TypeError(f"mask_func must be a recon_lib.physics.masks.MaskFunc, got {type(mask_func).__name__}")
        seed = check_int("seed", seed, minimum=0)
        self.mask_seed = check_int("mask_seed", mask_seed, minimum=0)
        if limit_volumes is not None:
            limit_volumes = check_int("limit_volumes", limit_volumes, minimum=0)
        if isinstance(acquisitions, str):
            raise TypeError(f"acquisitions must be a sequence of names, got the string {acquisitions!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist or is not a folder")
        self.mask_func = mask_func
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0

        raw = raw_volumes(self.root)
        missing = [p.name for p in unprepared(raw)]
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise DatasetNotPreparedError(
                f"{len(missing)} of {len(raw)} raw volumes in {self.root} have no prepared sidecar ({shown}): "
                f"run `python data_scripts/prepare_dataset.py {self.root.parent if raw else self.root}` first"
            )
        records = [_read_record(p, mask_func) for p in raw]
        if acquisitions is not None:
            wanted = set(acquisitions)
            records = [r for r in records if r.acquisition in wanted]
        records.sort(key=lambda r: r.fname)
        if limit_volumes is not None:
            records = records[: int(limit_volumes)]
        if not records:
            which = f" with acquisition in {sorted(acquisitions)}" if acquisitions is not None else ""
            raise DatasetNotPreparedError(
                f"{self.root} holds no prepared volumes{which}: run `make data` or "
                f"`python data_scripts/prepare_dataset.py <dataset folder>` first"
            )
        self.volumes: list[VolumeRecord] = records
        #: (volume index, slice index) of every sample
        self.examples: list[tuple[int, int]] = [(v, s) for v, r in enumerate(records) for s in range(r.num_slices)]

    def verify(self) -> None:
        """Re-read every sidecar of the dataset and its raw file and check their checksums (seconds per
        volume; opening the dataset runs only cheap checks). Raises ``DataFormatError`` naming the file."""
        for record in self.volumes:
            verify_sidecar(record.path)

    def __len__(self) -> int:
        return len(self.examples)

    def noise_free(self, volume: int) -> np.ndarray | None:
        """The noise-free magnitude ``(S, rh, rw)`` of volume ``volume`` (an index into
        :attr:`volumes`), stored by the simulator in the raw file; None for real data."""
        record = self.volumes[volume]
        return read_noise_free(record.raw, (record.num_slices, *record.recon_size))

    def set_epoch(self, epoch: int) -> None:
        """Select the training masks of ``epoch`` (call before building each epoch's DataLoader)."""
        epoch = check_int("epoch", epoch, minimum=0)
        self.epoch = int(epoch)

    def sample_mask(self, index: int) -> tuple[np.ndarray, float]:
        """The mask of sample ``index``: ``(bool (W,), acceleration)`` (see the module docstring)."""
        vol, _ = self.examples[index]
        record = self.volumes[vol]
        width = record.kspace_shape[-1]
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, int(index)])
            return record.mask_func(width, seed=rng, padding=record.padding)
        return record.mask_func(width, seed=seed_from_name(record.fname, self.mask_seed), padding=record.padding)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} slices")
        vol, sl = self.examples[index]
        record = self.volumes[vol]
        mask, acceleration = self.sample_mask(index)
        maps_key = record.maps[record.mask_func.center_fraction(acceleration)]
        if maps_key.startswith("error: "):
            raise DataFormatError(f"{record.path}: AF {acceleration:g}: {maps_key[len('error: ') :]}")
        with h5py.File(record.path, "r") as f:
            kspace = torch.from_numpy(f["kspace"][sl])  # (C, H, W)
            maps = torch.from_numpy(f[maps_key][sl])  # (C, H, W), from the lines this mask acquires
            target = torch.from_numpy(f["target"][sl].astype(np.float32))  # (rh, rw)
            foreground = torch.from_numpy(f["foreground"][sl].astype(bool))  # (rh, rw)
        for key, value in (("kspace", kspace), ("maps", maps), ("target", target)):
            if not bool(torch.isfinite(value).all()):
                raise DataFormatError(
                    f"{record.path}: {key!r} slice {sl} contains NaN or Inf; re-run prepare_dataset.py"
                )
        mask_t = mask_to_tensor(mask, ndim=3)  # (1, 1, W)
        return {
            "kspace": kspace * mask_t,  # (C, H, W), zero where unsampled
            "maps": maps,
            "mask": mask_t,
            "target": target,
            "foreground": foreground,
            "max": torch.tensor(record.max, dtype=torch.float32),
            "acceleration": float(acceleration),
            "fname": record.fname,
            "slice": int(sl),
            "acquisition": record.acquisition,
        }

    def __repr__(self) -> str:
        mode = "train" if self.train else "eval"
        return f"KneeDataset({str(self.root)!r}, {len(self.volumes)} volumes, {len(self)} slices, {mode})"
