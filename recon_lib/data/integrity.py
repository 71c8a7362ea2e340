"""Content checksums of prepared sidecars: random bytes written into a sidecar are found on demand.

Opening a dataset runs only cheap checks (shapes, dtypes, attributes; :mod:`recon_lib.data.dataset`);
reading every byte of every sidecar on each open would cost seconds. Preparation therefore stores
the SHA-256 of the sidecar's arrays (``content_sha256``), and :func:`verify_sidecar` (or
``KneeDataset.verify()``, or ``python data_scripts/prepare_dataset.py --verify ROOT``) re-reads
them and compares.

Example:
    >>> import numpy as np
    >>> a = {"target": np.ones((2, 3), np.float32), "foreground": np.ones((2, 3), bool)}
    >>> content_digest(a) == content_digest(dict(reversed(a.items())))  # key order does not matter
    True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from recon_lib.data.fastmri_io import DataFormatError

__all__ = ["CHECKSUM_ATTR", "content_digest", "verify_sidecar"]

#: the sidecar attribute that holds :func:`content_digest` of its arrays
CHECKSUM_ATTR = "content_sha256"


def content_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex SHA-256 over the arrays in sorted key order: each key, dtype, shape and the bytes."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def verify_sidecar(path: str | os.PathLike) -> None:
    """Re-read every array of a sidecar and compare its checksum with the stored one.

    Raises:
        DataFormatError: naming the file when the checksum is missing or does not match, or the
            file cannot be read.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get(CHECKSUM_ATTR)
            if stored is None:
                raise DataFormatError(f"{path}: no {CHECKSUM_ATTR!r} attribute; re-run prepare_dataset.py")
            arrays = {key: f[key][()] for key in f if key != "ismrmrd_header" and isinstance(f[key], h5py.Dataset)}
    except DataFormatError:
        raise
    except Exception as err:  # noqa: BLE001 - h5py raises OSError/RuntimeError/... on corrupt files
        raise DataFormatError(f"{path}: cannot read the sidecar (corrupt?): {err}") from None
    actual = content_digest(arrays)
    if actual != str(stored.decode() if isinstance(stored, bytes) else stored):
        raise DataFormatError(
            f"{path}: content checksum mismatch -- the sidecar is corrupted; re-run prepare_dataset.py"
        )
