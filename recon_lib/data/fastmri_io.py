"""Reading and writing fastMRI-format multi-coil HDF5 files.

fastMRI multicoil layout (facebookresearch/fastMRI: ``fastmri/data/mri_data.py``, the dataset's README):

* dataset ``kspace``: complex64 ``(slices, coils, H, W)``; H is the readout (frequency-encode)
  axis with 2x oversampling, W the phase-encode axis (possibly with zero padding columns).
* dataset ``reconstruction_rss``: float32 ``(slices, rh, rw)``, the RSS image cropped to the
  recon size.
* dataset ``ismrmrd_header``: an ISMRMRD XML string (namespace http://www.ismrm.org/ISMRMRD)
  giving ``encoding/encodedSpace/matrixSize``, ``encoding/reconSpace/matrixSize`` and
  ``encoding/encodingLimits/kspace_encoding_step_1`` (``center``, ``maximum``).
* attributes ``acquisition`` ("CORPD_FBK" or "CORPDFS_FBK"), ``max``, ``norm``, ``patient_id``.

Every reader here raises :class:`DataFormatError` (a ``ValueError``) naming the file and the
key at fault; every writer writes to a temporary name in the target folder and renames it
into place only once complete, so an interrupted write never leaves a half-written file. The
temporary name names its writer (host and process id,
:func:`~recon_lib.core.atomic.owned_temporary`): a later run removes the temporary files of a killed
writer and never those of one still writing (:func:`~recon_lib.core.atomic.stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from recon_lib.core.atomic import deferred_interrupt, owned_temporary

__all__ = [
    "DataFormatError",
    "EncodingInfo",
    "VolumeInfo",
    "build_ismrmrd_header",
    "parse_ismrmrd_header",
    "read_volume_info",
    "read_noise_free",
    "NOISE_FREE_KEY",
    "TISSUE_LABELS_KEY",
    "SIMULATOR_ATTR",
    "PHANTOM_VENDOR",
    "read_tissue_labels",
    "atomic_h5_writer",
    "write_multicoil_volume",
    "ACQUISITIONS",
]

#: smallest reconstruction side accepted (SSIM windows and the U-Net's four poolings need room)
MIN_RECON_SIZE = 16

ISMRMRD_NS = "http://www.ismrm.org/ISMRMRD"
ACQUISITIONS = ("CORPD_FBK", "CORPDFS_FBK")
#: the systemVendor of the headers :func:`build_ismrmrd_header` writes (the simulated knees)
PHANTOM_VENDOR = "recon_lib phantom"
#: file attribute of a simulated raw file: the knee simulator's version (absent: simulator 1)
SIMULATOR_ATTR = "simulator_version"


class DataFormatError(ValueError):
    """A data file is missing, corrupt or not in the expected fastMRI layout."""


@dataclass(frozen=True)
class EncodingInfo:
    """What fastMRI reads from the ISMRMRD header.

    Attributes:
        encoded_size: encodedSpace matrixSize ``(x, y, z)`` -- x readout, y phase encode.
        recon_size: reconSpace matrixSize ``(x, y, z)``.
        center: ``kspace_encoding_step_1`` centre line.
        maximum: ``kspace_encoding_step_1`` maximum line index.
        phase_fov_mm: encodedSpace ``fieldOfView_mm`` y, the encoded phase-encode field of view
            (None when the header gives none); the centre-fraction rule reads it
            (:func:`recon_lib.physics.masks.fastmri_center_fraction`).
        vendor: ``acquisitionSystemInformation/systemVendor`` (``""`` when absent).
    """

    encoded_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    center: int
    maximum: int
    phase_fov_mm: float | None = None
    vendor: str = ""

    @property
    def padding_left(self) -> int:
        """First sampled phase-encode column (columns before it are zero padding)."""
        return self.encoded_size[1] // 2 - self.center

    @property
    def padding_right(self) -> int:
        """One past the last sampled phase-encode column (fastMRI's convention)."""
        return self.padding_left + self.maximum + 1


@dataclass(frozen=True)
class VolumeInfo:
    """Validated description of one raw fastMRI multicoil file (no k-space loaded)."""

    path: Path
    num_slices: int
    num_coils: int
    kspace_shape: tuple[int, int]
    encoding: EncodingInfo
    attrs: dict


def build_ismrmrd_header(
    encoded_size: tuple[int, int, int],
    recon_size: tuple[int, int, int],
    center: int,
    maximum: int,
    num_slices: int,
    field_of_view_mm: tuple[float, float, float] = (280.0, 140.0, 4.5),
    system_field_strength_t: float = 3.0,
) -> str:
    """Build a minimal ISMRMRD XML header that fastMRI's ``SliceDataset`` can parse.

    Args:
        encoded_size: encodedSpace matrixSize ``(x, y, z)``.
        recon_size: reconSpace matrixSize ``(x, y, z)``.
        center: centre phase-encode line (``kspace_encoding_step_1/center``).
        maximum: last sampled phase-encode line index (``kspace_encoding_step_1/maximum``).
        num_slices: number of slices (``encodingLimits/slice``).
        field_of_view_mm: encoded field of view in mm, written to both spaces (recon x halved).
        system_field_strength_t: nominal field strength in tesla.

    Returns:
        The XML document as a string.
    """
    ET.register_namespace("", ISMRMRD_NS)

    def sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ISMRMRD_NS}}}{tag}")
        if text is not None:
            el.text = str(text)
        return el

    def space(parent: ET.Element, tag: str, size: tuple[int, int, int], fov: tuple[float, float, float]) -> None:
        sp = sub(parent, tag)
        ms = sub(sp, "matrixSize")
        for name, v in zip("xyz", size, strict=False):
            sub(ms, name, int(v))
        fv = sub(sp, "fieldOfView_mm")
        for name, mm in zip("xyz", fov, strict=False):
            sub(fv, name, f"{mm:g}")

    root = ET.Element(f"{{{ISMRMRD_NS}}}ismrmrdHeader")
    sysinfo = sub(root, "acquisitionSystemInformation")
    sub(sysinfo, "systemVendor", PHANTOM_VENDOR)
    sub(sysinfo, "systemFieldStrength_T", f"{system_field_strength_t:g}")
    sub(sysinfo, "receiverChannels", "15")
    enc = sub(root, "encoding")
    space(enc, "encodedSpace", encoded_size, field_of_view_mm)
    recon_fov = (
        field_of_view_mm[0] / 2,
        field_of_view_mm[1] * recon_size[1] / max(encoded_size[1], 1),
        field_of_view_mm[2],
    )
    space(enc, "reconSpace", recon_size, recon_fov)
    limits = sub(enc, "encodingLimits")
    step1 = sub(limits, "kspace_encoding_step_1")
    sub(step1, "minimum", 0)
    sub(step1, "maximum", int(maximum))
    sub(step1, "center", int(center))
    sl = sub(limits, "slice")
    sub(sl, "minimum", 0)
    sub(sl, "maximum", int(num_slices) - 1)
    sub(sl, "center", int(num_slices) // 2)
    sub(enc, "trajectory", "cartesian")
    return ET.tostring(root, encoding="unicode")


def parse_ismrmrd_header(xml: str | bytes, source: str = "ismrmrd_header") -> EncodingInfo:
    """Parse the fields fastMRI uses from an ISMRMRD header.

    Args:
        xml: the header XML.
        source: a name for error messages (e.g. ``"knee_001.h5: ismrmrd_header"``).

    Raises:
        DataFormatError: the XML is unparsable or a required element is missing / not an integer.
    """
    if isinstance(xml, (bytes, np.bytes_)):
        xml = bytes(xml).decode("utf-8", errors="replace")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise DataFormatError(f"{source}: unparsable ISMRMRD XML ({err})") from None
    ns = {"m": ISMRMRD_NS}

    def integer(path: str) -> int:
        el = root.find(path, ns)
        if el is None or el.text is None:
            raise DataFormatError(f"{source}: missing element {path.replace('m:', '')}")
        try:
            return int(float(el.text))
        except (ValueError, OverflowError):
            raise DataFormatError(f"{source}: element {path.replace('m:', '')} is not a number: {el.text!r}") from None

    def size(tag: str) -> tuple[int, int, int]:
        return tuple(integer(f"m:encoding/m:{tag}/m:matrixSize/m:{a}") for a in "xyz")  # type: ignore[return-value]

    fov = root.find("m:encoding/m:encodedSpace/m:fieldOfView_mm/m:y", ns)
    fov_text = fov.text if fov is not None else None
    try:
        phase_fov = float(fov_text) if fov_text is not None else None
    except ValueError:
        raise DataFormatError(f"{source}: encodedSpace fieldOfView_mm y is not a number: {fov_text!r}") from None
    if phase_fov is not None and not (np.isfinite(phase_fov) and phase_fov > 0):
        raise DataFormatError(f"{source}: encodedSpace fieldOfView_mm y must be positive, got {phase_fov}")
    vendor = root.find("m:acquisitionSystemInformation/m:systemVendor", ns)
    return EncodingInfo(
        encoded_size=size("encodedSpace"),
        recon_size=size("reconSpace"),
        center=integer("m:encoding/m:encodingLimits/m:kspace_encoding_step_1/m:center"),
        maximum=integer("m:encoding/m:encodingLimits/m:kspace_encoding_step_1/m:maximum"),
        phase_fov_mm=phase_fov,
        vendor=(vendor.text or "").strip() if vendor is not None else "",
    )


#: dataset of a simulated raw file holding the noise-free magnitude ``(slices, rh, rw)`` on the
#: reconstruction grid (the truth the SENSE reference estimates; fastMRI's readers ignore it)
NOISE_FREE_KEY = "image_noise_free"
#: dataset of a simulated raw file (simulator 2 on) holding the tissue labels ``(slices, rh, rw)``
#: uint8 on the reconstruction grid (values of ``recon_lib.data.phantom.anatomy.Tissue``)
TISSUE_LABELS_KEY = "tissue_labels"


def read_tissue_labels(path: str | os.PathLike, shape: tuple[int, ...]) -> np.ndarray | None:
    """The tissue labels of a simulated raw file, or None when the file has none (real data, simulator 1).

    Raises:
        DataFormatError: the dataset exists but is not an unsigned integer array of ``shape``.
    """
    data = _optional_array(path, TISSUE_LABELS_KEY, shape, "u", "an unsigned integer array")
    return None if data is None else data.astype(np.uint8, copy=False)


def read_noise_free(path: str | os.PathLike, shape: tuple[int, ...]) -> np.ndarray | None:
    """The noise-free magnitude of a simulated raw file, or None when the file has none (real data).

    Raises:
        DataFormatError: the dataset exists but is not a finite real array of ``shape``.
    """
    data = _optional_array(path, NOISE_FREE_KEY, shape, "f", "a real array", " (the reference's)")
    if data is None:
        return None
    out = data.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise DataFormatError(f"{path}: {NOISE_FREE_KEY!r} contains NaN or Inf")
    return out


def _optional_array(
    path: str | os.PathLike, key: str, shape: tuple[int, ...], kind: str, what: str, whose: str = ""
) -> np.ndarray | None:
    """Dataset ``key`` of a raw file, or None when absent; an error naming the file and key unless it
    is an array of ``shape`` whose dtype kind is ``kind`` (``what`` says so in words)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if key not in f:
            return None
        data = f[key]
        if not isinstance(data, h5py.Dataset) or data.shape != tuple(shape) or data.dtype.kind != kind:
            raise DataFormatError(
                f"{path}: {key!r} must be {what} of shape {tuple(shape)}{whose}, "
                f"got {getattr(data, 'shape', None)} {getattr(data, 'dtype', None)}"
            )
        return np.asarray(data[()])


def read_volume_info(path: str | os.PathLike) -> VolumeInfo:
    """Open a raw fastMRI multicoil file and validate its layout without loading k-space.

    Raises:
        DataFormatError: naming the file and the key when the file is missing, truncated or
            corrupt, ``kspace`` is absent / not complex64 / not rank 4, or the header is bad.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}") from None
    with f:
        if "kspace" not in f:
            raise DataFormatError(f"{path}: missing dataset 'kspace' (keys: {sorted(f.keys())})")
        ks = f["kspace"]
        if not isinstance(ks, h5py.Dataset):
            raise DataFormatError(f"{path}: 'kspace' is not a dataset")
        if ks.dtype != np.complex64:
            raise DataFormatError(f"{path}: 'kspace' must be complex64, got {ks.dtype}")
        if ks.ndim != 4:
            raise DataFormatError(f"{path}: 'kspace' must be 4-D (slices, coils, H, W), got shape {ks.shape}")
        if min(ks.shape) == 0:
            raise DataFormatError(f"{path}: 'kspace' of shape {ks.shape} is empty (no slices, coils or samples)")
        if "mask" in f:
            raise DataFormatError(
                f"{path}: holds a 'mask' dataset -- a fastMRI test/challenge file whose k-space is already "
                "undersampled; the suite needs fully sampled k-space (fastMRI's train/val files)"
            )
        if "ismrmrd_header" not in f:
            raise DataFormatError(f"{path}: missing dataset 'ismrmrd_header'")
        try:
            xml = f["ismrmrd_header"][()]
        except Exception as err:  # noqa: BLE001 - h5py raises several types on corrupt data
            raise DataFormatError(f"{path}: cannot read 'ismrmrd_header': {err}") from None
        encoding = parse_ismrmrd_header(xml, source=f"{path}: ismrmrd_header")
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        shape = tuple(int(s) for s in ks.shape)
    if tuple(encoding.encoded_size[:2]) != (shape[2], shape[3]):
        raise DataFormatError(
            f"{path}: ismrmrd_header encodedSpace matrixSize {encoding.encoded_size[:2]} does not match "
            f"the kspace grid {(shape[2], shape[3])}"
        )
    if min(encoding.recon_size[:2]) < MIN_RECON_SIZE:
        raise DataFormatError(
            f"{path}: ismrmrd_header reconSpace matrixSize {encoding.recon_size[:2]} is too small "
            f"(each side must be at least {MIN_RECON_SIZE})"
        )
    if (
        encoding.padding_right > shape[3]
        or encoding.padding_left < 0
        or encoding.padding_left >= encoding.padding_right
    ):
        raise DataFormatError(
            f"{path}: ismrmrd_header encoding limits (padding {encoding.padding_left}..{encoding.padding_right}) "
            f"do not fit kspace width {shape[3]}"
        )
    return VolumeInfo(path, shape[0], shape[1], (shape[2], shape[3]), encoding, attrs)


@contextlib.contextmanager
def atomic_h5_writer(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Write an HDF5 file atomically: yields a file built in memory; only if the block completes
    are its bytes written to a temporary name in the target folder and renamed to ``path``.

    HDF5 itself never writes to disk here: when its own writes fail (a full disk, a file-size
    limit) it leaves half-closed objects behind that crash the interpreter at exit (a segfault
    was seen). A Ctrl-C during the write is held until the file is complete (h5py's callbacks
    would swallow it; :func:`~recon_lib.core.atomic.deferred_interrupt`). Plain file I/O turns the
    same failure into one ``OSError`` naming ``path``, and the temporary file (named for this
    process, :func:`~recon_lib.core.atomic.owned_temporary`) is removed. The price is memory: the
    file is held once in RAM while it is written.
    """
    buffer = io.BytesIO()
    with deferred_interrupt():  # h5py's file-object callbacks would swallow a Ctrl-C
        with h5py.File(buffer, "w") as f:
            yield f
        path = Path(path)
        tmp = owned_temporary(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as out:  # the permissions a plain open gives
                out.write(buffer.getbuffer())
            os.replace(tmp, path)
        except OSError as err:
            raise OSError(
                f"{path}: could not write the file ({err.strerror or err}); disk full or not writable?"
            ) from None
        finally:
            with contextlib.suppress(OSError):  # gone after the rename; else a failed write's (if it was made)
                tmp.unlink(missing_ok=True)


def write_multicoil_volume(
    path: str | os.PathLike,
    kspace: np.ndarray,
    reconstruction_rss: np.ndarray,
    header_xml: str,
    attrs: Mapping[str, object],
    noise_free: np.ndarray | None = None,
    tissue_labels: np.ndarray | None = None,
) -> None:
    """Write one volume in fastMRI's multicoil layout (atomically).

    Args:
        path: destination ``.h5`` file.
        kspace: complex64 ``(slices, coils, H, W)``.
        reconstruction_rss: float32 ``(slices, rh, rw)``.
        header_xml: ISMRMRD header (see :func:`build_ismrmrd_header`).
        attrs: file attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ...).
        noise_free: optional float32 ``(slices, rh, rw)`` magnitude of the noise-free object (simulated
            data only), stored as :data:`NOISE_FREE_KEY`, a dataset fastMRI's readers ignore.
        tissue_labels: optional uint8 ``(slices, rh, rw)`` tissue labels (simulator 2), stored as
            :data:`TISSUE_LABELS_KEY`.
    """
    if kspace.dtype != np.complex64 or kspace.ndim != 4:
        raise ValueError(f"kspace must be complex64 (slices, coils, H, W), got {kspace.dtype} {kspace.shape}")
    if reconstruction_rss.ndim != 3:
        raise ValueError(f"reconstruction_rss must be (slices, H, W), got shape {reconstruction_rss.shape}")
    with atomic_h5_writer(path) as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("reconstruction_rss", data=reconstruction_rss.astype(np.float32))
        f.create_dataset("ismrmrd_header", data=header_xml)
        if noise_free is not None:
            if noise_free.shape != reconstruction_rss.shape:
                raise ValueError(
                    f"noise_free {noise_free.shape} must have the shape of reconstruction_rss "
                    f"{reconstruction_rss.shape}"
                )
            f.create_dataset(NOISE_FREE_KEY, data=noise_free.astype(np.float32))
        if tissue_labels is not None:
            if tissue_labels.shape != reconstruction_rss.shape:
                raise ValueError(
                    f"tissue_labels {tissue_labels.shape} must have the shape of reconstruction_rss "
                    f"{reconstruction_rss.shape}"
                )
            f.create_dataset(TISSUE_LABELS_KEY, data=tissue_labels.astype(np.uint8))
        for k, v in attrs.items():
            f.attrs[k] = v
