"""Preparing raw fastMRI-format volumes for training: coil maps, SENSE reference, foreground.

For every raw multicoil file ``<folder>/<stem>.h5`` (fastMRI layout, see
:mod:`recon_lib.data.fastmri_io`) preparation writes a *sidecar* ``<folder>.prepared/<stem>.h5``
(:mod:`recon_lib.data.layout`: a sibling folder, out of the way of fastMRI's loaders) and never
touches the raw file:

1. **Readout oversampling removed.** The readout H is fully sampled, so a centred 1-D inverse FFT
   along H, keeping the central ``H / 2`` rows, and a forward FFT give k-space on the
   recon field of view: ``kspace`` complex64 ``(S, C, H/2, W)``. Networks then run on a grid half
   as large; the readout is fully sampled, so nothing is lost (fastMRI's ``reconstruction_rss``
   is cropped to the same field of view).
2. **Full-data ESPIRiT maps** per slice (:func:`recon_lib.physics.espirit.espirit_maps`, settings
   :data:`recon_lib.physics.espirit.ESPIRIT_DEFAULTS`, a 24 x 24 block of the *fully sampled*
   k-space): ``maps_full`` complex64 ``(S, C, H/2, W)``, used for the reference only. Calibrated
   on the *raw* (oversampled) k-space and evaluated on the central ``H / 2`` rows
   (``crop_readout=True``): the knee reaches past the cropped field of view, and maps calibrated
   on cropped k-space fail in its top and bottom rows (see :mod:`recon_lib.physics.espirit`).
3. **SENSE reference**, the paper's ground truth: ``E^H y = sum_c conj(S_c) F^-1 y_c`` of the full
   (readout-cropped) k-space with the full-data maps, centre-cropped to the header's reconSpace
   size ``(rh, rw)``: ``sense_reference`` complex64 ``(S, rh, rw)`` and its magnitude ``target``.
3b. **Maps from acquired data**, what reconstruction methods get: for each centre fraction of
   :func:`calibration_fractions` (AF 4 and AF 8: fastMRI's physical calibration band for the file's
   encoded phase-encode field of view and width, :func:`recon_lib.physics.masks.fastmri_center_fraction`;
   fastMRI's own 0.08 / 0.04, :data:`ACS_CENTER_FRACTIONS`, for simulated files of the legacy
   simulator 1), maps calibrated on the centre lines such a mask
   acquires and nothing else (``calib_columns=center_lines(W, cf)``, ``calib_width`` readout
   rows): ``maps_cf0.16`` / ``maps_cf0.08`` in the teaching geometry (:func:`recon_lib.data.layout.acs_maps_key`), each
   with attributes ``calib_lines`` and ``kernel_width``: sigpy's 6-wide kernel where the lines
   allow it, else the widest the measured criterion allows
   (:func:`recon_lib.physics.espirit.check_calibration_region`; 3 for the 7 lines of the legacy
   simulator 1 at AF 8). If even
   a 2-wide kernel does not fit, the dataset is absent and its attribute ``error`` says why
   (the dataset then refuses that AF naming file, AF and line count). Sidecars of files the rule
   applies to record it: attributes ``acs_accelerations`` and ``acs_center_fractions`` (the fraction
   of each AF), and ``acceleration`` on each maps dataset; a dataset then refuses a mask whose
   fraction for an AF disagrees.
4. **Foreground mask** ``foreground`` bool ``(S, rh, rw)`` (the paper scores foreground only), see
   :func:`foreground_mask`.

Attributes: everything from the raw file, plus ``max`` (the target volume's maximum: the data
range of PSNR / SSIM, fastMRI's convention), ``padding_left`` / ``padding_right`` (the sampled
phase-encode columns), ``recon_size``, ``encoded_size``, ``source`` (raw file name),
``source_size`` (bytes), ``source_sha256`` (the raw file's content: a replaced raw file is
prepared again even at the same name and size), ``source_fingerprint`` (a cheap fingerprint of the
raw file, checked wherever the sidecar is opened), the ESPIRiT settings, ``prepare_version``,
``attrs_sha256`` (a checksum of all these) and, written last, ``complete`` (the tie between sidecar
and raw file: :mod:`recon_lib.data.integrity`). Format-2 sidecars (``<stem>.prepared.h5`` next to
the raw file, maps from the full data) are replaced: the new sidecar is written, then the old one
removed.

Safety: sidecars are written with :func:`recon_lib.data.fastmri_io.atomic_h5_writer` (a temporary
name renamed into place at the end), so an interrupted run leaves no half-written file;
:func:`prepare_folder` skips volumes whose sidecar is complete, current and intact (:func:`is_prepared`),
so a second run is a no-op and an interrupted run resumes; any other sidecar (of an older format,
corrupted, edited, copied from another volume, or of a raw file replaced since) is prepared again,
which is the fix every sidecar error names. The temporary files of a killed run are removed, never
those of a run still writing (:func:`recon_lib.core.atomic.stale_temporaries`). It
**validates every raw file before writing anything**: one bad file (truncated, corrupt, missing
``kspace``, wrong dtype or rank, bad header, a k-space slice of zeros, undersampled k-space) aborts
the run with a :class:`~recon_lib.data.fastmri_io.DataFormatError` naming the file and the key (and
the slice), and the folder is left exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu

from recon_lib.core.atomic import stale_temporaries
from recon_lib.core.tensors import center_crop
from recon_lib.data.fastmri_io import (
    PHANTOM_VENDOR,
    SIMULATOR_ATTR,
    DataFormatError,
    VolumeInfo,
    atomic_h5_writer,
    read_volume_info,
)
from recon_lib.data.integrity import (
    ATTRS_CHECKSUM_ATTR,
    CHECKSUM_ATTR,
    FINGERPRINT_ATTR,
    PREPARE_VERSION,
    attrs_digest,
    content_digest,
    file_sha256,
    raw_fingerprint,
    sidecar_problem,
    verify_sidecar,
)
from recon_lib.data.layout import acs_maps_key, find_raw_files, legacy_sidecar_path, sidecar_path
from recon_lib.physics.coils import sens_reduce
from recon_lib.physics.espirit import ESPIRIT_DEFAULTS, MIN_CALIB_POSITIONS, espirit_maps
from recon_lib.physics.fft import remove_readout_oversampling
from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS, center_lines, fastmri_center_fraction

__all__ = [
    "PREPARE_VERSION",
    "ACS_CENTER_FRACTIONS",
    "acs_kernel_width",
    "calibration_fractions",
    "follows_center_rule",
    "PrepareSummary",
    "is_prepared",
    "validate_raw_file",
    "foreground_mask",
    "prepare_volume",
    "prepare_folder",
]

#: centre fractions whose acquired-line maps every sidecar holds (fastMRI's AF 4 and AF 8)
ACS_CENTER_FRACTIONS: tuple[float, ...] = tuple(sorted(set(DEFAULT_CENTER_FRACTIONS.values()), reverse=True))
#: smallest kernel preparation falls back to before it gives up on a centre fraction
_MIN_KERNEL = 2
#: slices per ESPIRiT call (bounds memory: ~0.1 GB per slice at 15 coils, 160 x 184)
_ESPIRIT_CHUNK = 2


def is_prepared(raw_path: str | os.PathLike) -> bool:
    """True if ``raw_path`` has a complete, intact sidecar of the current
    :data:`~recon_lib.data.integrity.PREPARE_VERSION` that was prepared from it.

    Intact and prepared from it: the sidecar's attributes and arrays match their checksums, and it
    records the raw file's name, size, fingerprint and SHA-256 (:func:`~recon_lib.data.integrity.verify_sidecar`).
    Anything else is prepared again, so the command every sidecar error names repairs it: a raw
    file replaced by a different one (even of the same size), a sidecar copied from another volume,
    edited, corrupted, or of an older format. (Reads every byte of sidecar and raw file, about 0.5 s
    for a volume of the embedded dataset.)
    """
    raw_path = Path(raw_path)
    side = sidecar_path(raw_path)
    if not side.is_file():
        return False
    try:
        with h5py.File(side, "r") as f:
            attrs = dict(f.attrs)
        if not bool(attrs.get("complete", False)) or int(attrs.get("prepare_version", -1)) != PREPARE_VERSION:
            return False
        if sidecar_problem(raw_path, attrs) is not None:  # the cheap checks first
            return False
        verify_sidecar(side)  # every array of the sidecar and every byte of the raw file
    except (OSError, KeyError, TypeError, ValueError):  # unreadable or failing (DataFormatError): redone
        return False
    return True


def follows_center_rule(info: VolumeInfo) -> bool:
    """Whether the centre-fraction rule applies to this raw file: every file but a simulated one of
    simulator 1 (the phantom's header vendor without a ``simulator_version`` attribute >= 2), which
    keeps fastMRI's own fractions 0.08 / 0.04 of its columns (the legacy simulator's files, as they were prepared)."""
    if info.encoding.vendor != PHANTOM_VENDOR:
        return True
    try:
        return int(info.attrs.get(SIMULATOR_ATTR, 1)) >= 2
    except (TypeError, ValueError):
        raise DataFormatError(
            f"{info.path}: attribute {SIMULATOR_ATTR!r} must be an integer, got {info.attrs.get(SIMULATOR_ATTR)!r}"
        ) from None


def calibration_fractions(info: VolumeInfo) -> dict[float, float]:
    """Acceleration -> the centre fraction whose acquired lines preparation calibrates maps on.

    fastMRI's physical calibration band for the file's encoded phase-encode field of view and width
    (:func:`~recon_lib.physics.masks.fastmri_center_fraction`), or fastMRI's own fractions for a file of
    simulator 1 (:func:`follows_center_rule`).

    Raises:
        DataFormatError: the rule gives no valid fraction for the file's geometry (naming the file).
    """
    if not follows_center_rule(info):
        return dict(DEFAULT_CENTER_FRACTIONS)
    width, fov = info.kspace_shape[1], info.encoding.phase_fov_mm
    try:
        return {af: fastmri_center_fraction(af, width, fov) for af in DEFAULT_CENTER_FRACTIONS}
    except ValueError as err:
        raise DataFormatError(
            f"{info.path}: ismrmrd_header encodedSpace ({width} columns over {fov} mm): {err}"
        ) from None


def acs_kernel_width(num_lines: int) -> int:
    """The ESPIRiT kernel for ``num_lines`` acquired centre lines: sigpy's 6 where the lines allow
    :data:`~recon_lib.physics.espirit.MIN_CALIB_POSITIONS` positions of it, else the widest that does.

    Example:
        >>> acs_kernel_width(29), acs_kernel_width(15)  # AF 4 and AF 8 in the teaching geometry
        (6, 6)
        >>> acs_kernel_width(7)  # AF 8 of the legacy simulator 1 (fastMRI's 0.04 of 184 columns)
        3
    """
    return min(int(ESPIRIT_DEFAULTS["kernel_width"]), num_lines - MIN_CALIB_POSITIONS + 1)


def _gap_columns(column_peak: np.ndarray) -> np.ndarray:
    """The exactly-zero entries of ``column_peak`` that lie between nonzero ones (their indices; all
    of them when none is nonzero).

    Zero columns at either end are left alone: fully sampled k-space can end a column or two short
    of the header's encoding limits (partial Fourier, limits counted one wider), and that is no
    undersampling; an undersampling mask leaves gaps between its acquired lines.
    """
    acquired = np.flatnonzero(column_peak)
    if acquired.size == 0:
        return np.arange(column_peak.size)
    first, last = int(acquired[0]), int(acquired[-1])
    return first + np.flatnonzero(column_peak[first : last + 1] == 0)


def _check_slice(info: VolumeInfo, s: int, data: np.ndarray) -> bool:
    """Check k-space slice ``s`` (``(C, H, W)``): finite, and no phase-encode column inside the
    header's encoding limits empty while its neighbours are not. Returns whether it holds any nonzero sample.
    """
    if not np.isfinite(data).all():
        raise DataFormatError(f"{info.path}: 'kspace' slice {s} contains NaN or Inf")
    column_peak = np.abs(data).max(axis=(0, 1))  # (W,): 0 where a column is zero in every coil and row
    if column_peak.max() == 0:
        return False
    left, right = info.encoding.padding_left, info.encoding.padding_right
    gaps = left + _gap_columns(column_peak[left:right])
    if gaps.size:
        shown = ", ".join(str(c) for c in gaps[:8]) + (", ..." if gaps.size > 8 else "")
        raise DataFormatError(
            f"{info.path}: 'kspace' slice {s}: {gaps.size} of the {right - left} phase-encode columns inside the "
            f"header's encoding limits ({left}..{right}) are zero in every coil and readout row (columns {shown}): "
            "the k-space looks undersampled, but the file has no 'mask' dataset; the suite needs fully sampled "
            "k-space (fastMRI's train/val files)"
        )
    return True


def _check_kspace(info: VolumeInfo) -> None:
    """Read every k-space slice once (:func:`_check_slice`); no slice may be zero everywhere."""
    empty: list[int] = []
    with h5py.File(info.path, "r") as f:
        ks = f["kspace"]
        for s in range(info.num_slices):
            if not _check_slice(info, s, ks[s]):
                empty.append(s)
    if len(empty) == info.num_slices:
        raise DataFormatError(f"{info.path}: 'kspace' is zero everywhere")
    if empty:
        more = f" (and slices {', '.join(map(str, empty[1:]))})" if len(empty) > 1 else ""
        raise DataFormatError(
            f"{info.path}: 'kspace' slice {empty[0]}{more} is zero in every coil and sample: its reference and "
            "foreground would be empty and it would drop out of every score; remove the slice from the file"
        )


def validate_raw_file(path: str | os.PathLike) -> VolumeInfo:
    """Validate a raw file fully: layout and header (:func:`read_volume_info`), the recon size must
    fit the readout-cropped grid, then every k-space slice is read once and checked: finite, not
    zero everywhere, and fully sampled (no phase-encode column inside the header's encoding limits
    zero in every coil and row between acquired ones: undersampled k-space without a ``mask``
    dataset, whose reference would be aliased).

    Raises:
        DataFormatError: naming the file and the key at fault.
    """
    info = read_volume_info(path)
    H, W = info.kspace_shape
    if H % 2:
        raise DataFormatError(f"{info.path}: 'kspace' readout size H={H} must be even (2x oversampled)")
    rh, rw = info.encoding.recon_size[:2]
    if not (0 < rh <= H // 2 and 0 < rw <= W):
        raise DataFormatError(
            f"{info.path}: ismrmrd_header reconSpace matrixSize ({rh}, {rw}) does not fit the "
            f"readout-cropped k-space grid ({H // 2}, {W})"
        )
    acquisition = info.attrs.get("acquisition")
    if not isinstance(acquisition, str) or not acquisition:
        raise DataFormatError(
            f"{info.path}: missing file attribute 'acquisition' (fastMRI knee files record CORPD_FBK or CORPDFS_FBK)"
        )
    try:
        _check_kspace(info)
    except DataFormatError:
        raise
    except Exception as err:  # noqa: BLE001 - h5py raises OSError/RuntimeError/... on corrupt chunks
        raise DataFormatError(f"{info.path}: cannot read 'kspace' data (truncated or corrupt?): {err}") from None
    return info


def foreground_mask(image: np.ndarray, sigma: float = 2.0, closing_radius: int = 4) -> np.ndarray:
    """Binary foreground (object) mask of magnitude images, slice by slice.

    Method: smooth the magnitude with a Gaussian (``sigma`` pixels); threshold at **half** of
    Otsu's threshold computed once over the whole volume (one threshold per volume keeps slices
    consistent; half of Otsu keeps dark tissue such as cortical bone and tendons, which a plain
    Otsu split between background and bright tissue would drop); morphological closing with a disk
    of radius ``closing_radius``; fill holes; keep the largest connected component.

    Args:
        image: real ``(S, h, w)`` magnitude images of one volume.
        sigma: Gaussian smoothing width in pixels.
        closing_radius: radius of the closing disk in pixels.

    Returns:
        Boolean ``(S, h, w)``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or np.iscomplexobj(image):
        raise ValueError(f"image must be real (S, h, w), got {image.dtype} of shape {image.shape}")
    smooth = np.stack([ndimage.gaussian_filter(im.astype(np.float64), sigma) for im in image])
    if not np.any(smooth > 0):
        return np.zeros(image.shape, dtype=bool)
    level = 0.5 * threshold_otsu(smooth)
    yy, xx = np.mgrid[-closing_radius : closing_radius + 1, -closing_radius : closing_radius + 1]
    disk = xx**2 + yy**2 <= closing_radius**2
    out = np.zeros(image.shape, dtype=bool)
    for s, sl in enumerate(smooth):
        fg = sl > level
        # pad before closing so objects touching the border are not eroded there
        fg = ndimage.binary_closing(np.pad(fg, closing_radius), structure=disk)[
            closing_radius:-closing_radius, closing_radius:-closing_radius
        ]
        fg = ndimage.binary_fill_holes(fg)
        labels, n = ndimage.label(fg)
        if n > 1:
            sizes = np.bincount(labels.ravel())[1:]
            fg = labels == (1 + int(np.argmax(sizes)))
        out[s] = fg
    return out


def prepare_volume(info: VolumeInfo) -> dict[str, np.ndarray]:
    """Compute the prepared arrays of one validated raw volume (nothing is written).

    Args:
        info: from :func:`validate_raw_file` / :func:`read_volume_info`.

    Returns:
        ``kspace``, ``maps_full`` complex64 ``(S, C, H/2, W)``; one ``maps_cf<fraction>`` of the
        same shape per calibratable centre fraction; ``sense_reference`` complex64 ``(S, rh, rw)``;
        ``target`` float32 ``(S, rh, rw)``; ``foreground`` bool ``(S, rh, rw)``.
    """
    rh, rw = info.encoding.recon_size[:2]
    width = info.kspace_shape[1]
    acs = {cf: center_lines(width, cf) for cf in sorted(set(calibration_fractions(info).values()), reverse=True)}
    usable = {cf: cols for cf, cols in acs.items() if acs_kernel_width(cols.stop - cols.start) >= _MIN_KERNEL}
    kspace_out, maps_out, ref_out = [], [], []
    acs_out: dict[float, list[np.ndarray]] = {cf: [] for cf in usable}
    with h5py.File(info.path, "r") as f:
        ks = f["kspace"]
        for start in range(0, info.num_slices, _ESPIRIT_CHUNK):
            raw = torch.from_numpy(ks[start : start + _ESPIRIT_CHUNK])  # (s, C, H, W)
            kspace = remove_readout_oversampling(raw)  # (s, C, H/2, W)
            maps = espirit_maps(raw, crop_readout=True, **ESPIRIT_DEFAULTS)
            ref = center_crop(sens_reduce(kspace, maps), (rh, rw))  # (s, rh, rw)
            kspace_out.append(kspace.numpy())
            maps_out.append(maps.numpy())
            ref_out.append(ref.numpy())
            for cf, cols in usable.items():
                k = acs_kernel_width(cols.stop - cols.start)
                settings = {**ESPIRIT_DEFAULTS, "kernel_width": k}
                acs_out[cf].append(espirit_maps(raw, crop_readout=True, calib_columns=cols, **settings).numpy())
    sense_reference = np.concatenate(ref_out).astype(np.complex64)
    target = np.abs(sense_reference).astype(np.float32)
    return {
        **{acs_maps_key(cf): np.concatenate(parts).astype(np.complex64) for cf, parts in acs_out.items()},
        "kspace": np.concatenate(kspace_out).astype(np.complex64),
        "maps_full": np.concatenate(maps_out).astype(np.complex64),
        "sense_reference": sense_reference,
        "target": target,
        "foreground": foreground_mask(target),
    }


def _write_sidecar(info: VolumeInfo, arrays: dict[str, np.ndarray]) -> Path:
    side = sidecar_path(info.path)
    S, C, h, W = arrays["kspace"].shape
    fractions = calibration_fractions(info)
    ruled = follows_center_rule(info)
    with atomic_h5_writer(side) as f:
        for key in ("kspace", "maps_full"):
            f.create_dataset(key, data=arrays[key], chunks=(1, C, h, W))  # one chunk per slice
        for af, cf in sorted(fractions.items(), key=lambda item: -item[1]):
            key, cols = acs_maps_key(cf), center_lines(W, cf)
            lines = cols.stop - cols.start
            if key in arrays:
                ds = f.create_dataset(key, data=arrays[key], chunks=(1, C, h, W))
                ds.attrs["calib_lines"] = lines
                ds.attrs["kernel_width"] = acs_kernel_width(lines)
                if ruled:
                    ds.attrs["acceleration"] = float(af)
            else:
                f.attrs[f"{key}_error"] = (
                    f"{lines} acquired centre lines (centre fraction {cf:g} of {W} columns) are too few to "
                    f"calibrate coil maps (a {_MIN_KERNEL}-wide kernel needs {_MIN_KERNEL + MIN_CALIB_POSITIONS - 1})"
                )
        for key in ("sense_reference", "target", "foreground"):
            f.create_dataset(key, data=arrays[key], chunks=(1,) + arrays[key].shape[1:])
        with h5py.File(info.path, "r") as raw:
            if "ismrmrd_header" in raw:
                f.create_dataset("ismrmrd_header", data=raw["ismrmrd_header"][()])
        for k, v in info.attrs.items():
            f.attrs[k] = v
        enc = info.encoding
        f.attrs["max"] = float(arrays["target"].max())
        f.attrs["padding_left"] = int(enc.padding_left)
        f.attrs["padding_right"] = int(enc.padding_right)
        f.attrs["recon_size"] = np.asarray(enc.recon_size[:2], dtype=np.int64)
        f.attrs["encoded_size"] = np.asarray(enc.encoded_size, dtype=np.int64)
        f.attrs["source"] = info.path.name
        f.attrs["source_size"] = int(info.path.stat().st_size)
        f.attrs["source_sha256"] = file_sha256(info.path)
        f.attrs[FINGERPRINT_ATTR] = raw_fingerprint(info.path)
        f.attrs[CHECKSUM_ATTR] = content_digest({k: v for k, v in arrays.items() if k in f})
        f.attrs["readout_oversampling_removed"] = True
        for k, v in ESPIRIT_DEFAULTS.items():
            f.attrs[f"espirit_{k}"] = v
        f.attrs["espirit_crop_readout"] = True
        if ruled:  # the rule's fractions, one per acceleration (simulator-1 sidecars keep the old attributes)
            f.attrs["acs_accelerations"] = np.asarray(sorted(fractions), dtype=np.float64)
            f.attrs["acs_center_fractions"] = np.asarray([fractions[a] for a in sorted(fractions)], dtype=np.float64)
        f.attrs["prepare_version"] = PREPARE_VERSION
        f.attrs[ATTRS_CHECKSUM_ATTR] = attrs_digest(f.attrs)  # of every attribute above, as read back
        f.attrs["complete"] = True  # last: a sidecar without it is never trusted
    legacy_sidecar_path(info.path).unlink(missing_ok=True)  # migrated: the format-2 sidecar is replaced
    return side


@dataclass
class PrepareSummary:
    """What :func:`prepare_folder` did."""

    prepared: list[Path] = field(default_factory=list)  #: sidecars written in this run
    skipped: list[Path] = field(default_factory=list)  #: raw files already prepared


def _remove_stale_temporaries(raw_files: list[Path]) -> None:
    """Delete temporary sidecars that a killed run (``kill -9``) left behind: a finished write renames
    its temporary file, so those that remain belong to an interrupted run -- unless the process their
    name names still runs (another preparation writing now): those are kept."""
    for raw in raw_files:
        for side in (sidecar_path(raw), legacy_sidecar_path(raw)):
            for stale in stale_temporaries(side):
                stale.unlink(missing_ok=True)


def prepare_folder(
    root: str | os.PathLike,
    overwrite: bool = False,
    progress: Callable[[list[VolumeInfo]], Iterable[VolumeInfo]] | None = None,
) -> PrepareSummary:
    """Prepare every raw volume under ``root`` (recursively, e.g. ``train/ val/ test/``).

    All raw files are validated first (:func:`validate_raw_file`); if any fails, nothing is
    written. Volumes with a complete, current sidecar are skipped unless ``overwrite``.

    Args:
        root: dataset folder.
        overwrite: re-prepare volumes that already have a sidecar.
        progress: optional wrapper around the list of volumes to prepare (e.g. ``tqdm``).

    Returns:
        A :class:`PrepareSummary`.

    Raises:
        FileNotFoundError: ``root`` is not a folder, or holds no raw volume.
        DataFormatError: a raw file is bad (message names the file and key); nothing was written.
    """
    raw_files = find_raw_files(root)
    if not raw_files:
        raise FileNotFoundError(f"no raw volumes (*.h5) under {root}: nothing to prepare")
    _remove_stale_temporaries(raw_files)
    todo = [p for p in raw_files if overwrite or not is_prepared(p)]
    summary = PrepareSummary(skipped=[p for p in raw_files if p not in todo])
    infos = [validate_raw_file(p) for p in todo]  # raises before anything is written
    for info in progress(infos) if progress is not None else infos:
        summary.prepared.append(_write_sidecar(info, prepare_volume(info)))
    return summary
