"""Content checksums of prepared sidecars: random bytes written into a sidecar are found on demand.

Opening a dataset runs only cheap checks (shapes, dtypes, attributes; :mod:`recon_lib.data.dataset`);
reading every byte of every sidecar on each open would cost seconds. Preparation therefore stores
the SHA-256 of the sidecar's arrays (``content_sha256``), and :func:`verify_sidecar` (or
``KneeDataset.verify()``, or ``python data_scripts/prepare_dataset.py --verify ROOT``) re-reads
them and compares.

**The tie to the raw file.** A sidecar records the raw file it was prepared from: its name
(``source``), size (``source_size``), every byte (``source_sha256``) and a cheap fingerprint
(``source_fingerprint``, :func:`raw_fingerprint`: the ISMRMRD header and the centre k-space row of
at most three slices, a few hundred kB even for a fastMRI file). Wherever a sidecar is opened
(:mod:`recon_lib.data.dataset`), :func:`check_sidecar` compares name, size and fingerprint with the
raw file, and the sidecar's attributes with their own checksum (``attrs_sha256``: an edited
``max`` or ``padding`` would move every score); ``--verify`` and preparation compare the SHA-256 as
well. A mismatch (a raw file replaced after preparation, a sidecar copied from another volume or
edited) is one :class:`~recon_lib.data.fastmri_io.DataFormatError` naming both files and the
command that re-prepares the sidecar (preparation replaces any sidecar that fails these checks).
Sidecars of format 3 (:data:`PREPARE_VERSION`) record no fingerprint: they are still served, checked
against the raw file's SHA-256 (every byte, read on each open) until preparation replaces them.

Example:
    >>> import numpy as np
    >>> a = {"target": np.ones((2, 3), np.float32), "foreground": np.ones((2, 3), bool)}
    >>> content_digest(a) == content_digest(dict(reversed(a.items())))  # key order does not matter
    True
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.layout import raw_path_of

__all__ = [
    "PREPARE_VERSION",
    "CHECKSUM_ATTR",
    "FINGERPRINT_ATTR",
    "ATTRS_CHECKSUM_ATTR",
    "content_digest",
    "attrs_digest",
    "file_sha256",
    "raw_fingerprint",
    "prepare_command",
    "format_problem",
    "sidecar_problem",
    "check_sidecar",
    "verify_sidecar",
]

#: the format of the sidecars: bump when their content changes (preparation then replaces older ones)
PREPARE_VERSION = 4  # 2: ESPIRiT on raw k-space; 3: sidecar folder, maps from acquired lines, sha256; 4: fingerprint
#: the oldest format still served (it records the raw file's SHA-256, checked on open instead of a fingerprint)
OLDEST_SERVED_VERSION = 3
#: the sidecar attribute that holds :func:`content_digest` of its arrays
CHECKSUM_ATTR = "content_sha256"
#: the sidecar attribute that holds :func:`raw_fingerprint` of the raw file it was prepared from
FINGERPRINT_ATTR = "source_fingerprint"
#: the sidecar attribute that holds :func:`attrs_digest` of its other attributes
ATTRS_CHECKSUM_ATTR = "attrs_sha256"
#: the first format whose sidecars record :data:`ATTRS_CHECKSUM_ATTR` (and the fingerprint)
_ATTRS_CHECKSUM_SINCE = 4
#: attributes the attribute checksum leaves out: itself, and ``complete`` (written after it)
_UNCHECKED_ATTRS = frozenset({ATTRS_CHECKSUM_ATTR, "complete"})


def content_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex SHA-256 over the arrays in sorted key order: each key, dtype, shape and the bytes."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _text(value: object) -> str:
    return bytes(value).decode("utf-8", errors="replace") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _attr_bytes(value: object) -> bytes:
    """Canonical bytes of one attribute value as h5py reads it back (a string, a number, an array)."""
    if isinstance(value, (str, bytes, np.bytes_)):
        return b"text|" + _text(value).encode()
    a = np.asarray(value)
    if a.dtype.kind in "OSU":
        return f"texts|{a.shape}|".encode() + "\x00".join(_text(v) for v in a.ravel()).encode()
    return f"{a.dtype.str}|{a.shape}|".encode() + np.ascontiguousarray(a).tobytes()


def attrs_digest(attrs: Mapping[str, object]) -> str:
    """Hex SHA-256 over a sidecar's attributes in sorted key order, but ``complete`` and the checksum itself."""
    digest = hashlib.sha256()
    for key in sorted(str(k) for k in attrs if k not in _UNCHECKED_ATTRS):
        value = _attr_bytes(attrs[key])
        digest.update(f"{key}|{len(value)}|".encode() + value)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 8 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_fingerprint(path: str | os.PathLike) -> str:
    """A cheap fingerprint of a raw fastMRI file, the same for a copy of it: SHA-256 over its
    ``ismrmrd_header``, the k-space dtype and shape, and the centre readout row (through k-space's
    centre, the strongest signal) of every coil in the first, middle and last slice. It reads a few
    hundred kB (15 coils x 368 columns x 3 slices of a fastMRI knee file: 130 kB).

    Raises:
        DataFormatError: naming the file, when its header or k-space cannot be read.
    """
    path = Path(path)
    digest = hashlib.sha256(b"recon_lib raw fingerprint 1|")
    try:
        with h5py.File(path, "r") as f:
            header = f["ismrmrd_header"][()] if "ismrmrd_header" in f else b""
            ks = f["kspace"]
            slices, rows = int(ks.shape[0]), int(ks.shape[2])
            header = bytes(header) if isinstance(header, (bytes, np.bytes_)) else str(header).encode()
            digest.update(f"{ks.dtype.str}|{tuple(ks.shape)}|{len(header)}|".encode() + header)
            for s in sorted({0, slices // 2, slices - 1}):
                digest.update(np.ascontiguousarray(ks[s, :, rows // 2, :]).tobytes())
    except Exception as err:  # noqa: BLE001 - h5py raises OSError/KeyError/IndexError/... on bad files
        raise DataFormatError(
            f"{path}: cannot read its header and k-space (missing, truncated or corrupt?): {err}"
        ) from None
    return digest.hexdigest()


def prepare_command(folder: str | os.PathLike) -> str:
    """The command that prepares the raw files under ``folder``: it replaces every sidecar there that
    is missing, incomplete, of an older format, corrupted or not prepared from its raw file."""
    return f"python data_scripts/prepare_dataset.py {shlex.quote(str(folder))}"


def format_problem(attrs: Mapping[str, object]) -> str | None:
    """Why a sidecar with the attributes ``attrs`` is of a format this version does not read (None: it reads it)."""
    version = int(attrs.get("prepare_version", -1))  # type: ignore[call-overload]
    if OLDEST_SERVED_VERSION <= version <= PREPARE_VERSION:
        return None
    return (
        f"it was written by another version of the preparation (format {version}; this one reads formats "
        f"{OLDEST_SERVED_VERSION} to {PREPARE_VERSION})"
    )


def sidecar_problem(raw: str | os.PathLike, attrs: Mapping[str, object], full: bool = False) -> str | None:
    """Why a sidecar with the attributes ``attrs`` is not a current preparation of ``raw`` (None: it is).

    Checked cheapest first: the format, the attribute checksum, the raw file's name and size, its
    fingerprint; with ``full`` (and for format-3 sidecars, which record no fingerprint) its SHA-256.
    """
    raw = Path(raw)
    wrong_format = format_problem(attrs)
    if wrong_format is not None:
        return wrong_format
    recorded = attrs.get(ATTRS_CHECKSUM_ATTR)
    checksummed = int(attrs["prepare_version"]) >= _ATTRS_CHECKSUM_SINCE  # type: ignore[call-overload]
    if checksummed and (recorded is None or _text(recorded) != attrs_digest(attrs)):
        return "its attributes were changed after preparation (their checksum does not match)"
    name = _text(attrs.get("source", ""))
    if name != raw.name:
        return f"it was prepared from {name!r}, not from {raw.name!r} (a sidecar copied from another volume?)"
    size, actual = int(attrs.get("source_size", -1)), raw.stat().st_size  # type: ignore[call-overload]
    if size != actual:
        return f"it was prepared from a raw file of {size} bytes, {raw.name} has {actual} (replaced since?)"
    fingerprint = attrs.get(FINGERPRINT_ATTR)
    if fingerprint is not None and _text(fingerprint) != raw_fingerprint(raw):
        return "the raw file's header and k-space are not those it was prepared from (the raw file was replaced since?)"
    if (full or fingerprint is None) and _text(attrs.get("source_sha256", "")) != file_sha256(raw):
        return "the raw file's bytes (SHA-256) are not those it was prepared from (the raw file was changed since?)"
    return None


def check_sidecar(
    raw: str | os.PathLike,
    sidecar: str | os.PathLike,
    attrs: Mapping[str, object],
    folder: str | os.PathLike | None = None,
    full: bool = False,
    format_only: bool = False,
) -> None:
    """Check that ``sidecar`` (its attributes ``attrs``) is a current preparation of ``raw`` (:func:`sidecar_problem`).

    Args:
        raw: the raw file.
        sidecar: its sidecar (for the message).
        attrs: the sidecar's attributes.
        folder: the folder the fix command names (default: the raw file's folder).
        full: also compare every byte of the raw file (SHA-256), not only its fingerprint.
        format_only: check only the format (:func:`format_problem`), before reading anything else.

    Raises:
        DataFormatError: one message naming both files, what differs and the command that re-prepares the sidecar.
    """
    raw = Path(raw)
    try:
        problem = format_problem(attrs) if format_only else sidecar_problem(raw, attrs, full=full)
    except DataFormatError as err:
        problem = f"the raw file cannot be read ({err})"
    except (OSError, TypeError, ValueError) as err:
        problem = f"its record of the raw file cannot be read ({err})"
    if problem is not None:
        fix = prepare_command(raw.parent if folder is None else folder)
        raise DataFormatError(
            f"{sidecar} is not a current preparation of {raw}: {problem}. Fix: `{fix}` prepares it again"
        )


def verify_sidecar(path: str | os.PathLike, folder: str | os.PathLike | None = None) -> None:
    """Re-read every array of a sidecar and compare its checksum with the stored one, then check the
    sidecar against its raw file (:func:`check_sidecar`), every byte of it.

    Args:
        path: the sidecar (``<folder>.prepared/<stem>.h5``, :mod:`recon_lib.data.layout`).
        folder: the folder the fix command names (default: the raw file's folder).

    Raises:
        DataFormatError: naming the file (and its raw file) and the command that prepares it again,
            when a checksum is missing or does not match, or the file cannot be read.
    """
    path = Path(path)
    raw = raw_path_of(path)
    fix = f"Fix: `{prepare_command(raw.parent if folder is None else folder)}` prepares it again"
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            stored = attrs.get(CHECKSUM_ATTR)
            if stored is None:
                raise DataFormatError(f"{path}: no {CHECKSUM_ATTR!r} attribute. {fix}")
            arrays = {key: f[key][()] for key in f if key != "ismrmrd_header" and isinstance(f[key], h5py.Dataset)}
    except DataFormatError:
        raise
    except Exception as err:  # noqa: BLE001 - h5py raises OSError/RuntimeError/... on corrupt files
        raise DataFormatError(f"{path}: cannot read the sidecar (corrupt?): {err}. {fix}") from None
    if content_digest(arrays) != _text(stored):
        raise DataFormatError(f"{path}: content checksum mismatch -- the sidecar is corrupted. {fix}")
    check_sidecar(raw, path, attrs, folder=folder, full=True)
