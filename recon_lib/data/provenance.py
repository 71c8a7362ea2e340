"""Which dataset a model was trained on: the record a checkpoint keeps, and the check against new data.

A checkpoint trained on simulator-1 knees and scored on simulator-2 knees (or on real fastMRI
files) is off its training distribution; the evaluation and the explorers say so. The record,
:func:`dataset_record`, reads only file attributes (milliseconds): the simulator version of the raw
files (``simulator_version``, absent in simulator-1 and real files), whether they are the suite's
simulated knees (the header vendor), and the sidecar format.

Example:
    >>> data_mismatch({"simulator": 1, "source": "simulated"}, {"simulator": 2, "source": "simulated"})
    'trained on simulator-1 knees, these data are simulator-2 knees'
    >>> data_mismatch({"simulator": 2, "source": "simulated"}, {"simulator": 2, "source": "simulated"}) is None
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py

from recon_lib.data.fastmri_io import PHANTOM_VENDOR, SIMULATOR_ATTR, read_volume_info
from recon_lib.data.layout import SPLITS, raw_volumes, sidecar_path

__all__ = ["dataset_record", "data_mismatch", "describe", "mismatch_lines"]


def dataset_record(root: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint records of the data under ``root`` (a dataset folder or one split folder).

    Returns:
        ``{"source": "simulated" | "real" | "unknown", "simulator": int | None, "prepare_version":
        int | None}``; ``simulator`` is None for real data, ``"unknown"`` when ``root`` holds no
        raw volume. Mixed simulators in one dataset are a ``ValueError`` naming two files.
    """
    root = Path(root)
    folders = [root / s for s in SPLITS if (root / s).is_dir()] or [root]
    files = [p for folder in folders for p in raw_volumes(folder)]
    if not files:
        return {"source": "unknown", "simulator": None, "prepare_version": None}
    seen: dict[tuple[str, int | None], Path] = {}
    for path in files:
        info = read_volume_info(path)
        simulated = info.encoding.vendor == PHANTOM_VENDOR
        key = ("simulated", int(info.attrs.get(SIMULATOR_ATTR, 1))) if simulated else ("real", None)
        seen.setdefault(key, path)
    if len(seen) > 1:
        (a, pa), (b, pb) = list(seen.items())[:2]
        raise ValueError(f"{root} mixes data of two kinds: {pa} is {describe(*a)}, {pb} is {describe(*b)}")
    (source, simulator), first = next(iter(seen.items()))
    side = sidecar_path(first)
    version = None
    if side.is_file():
        with h5py.File(side, "r") as f:
            version = int(f.attrs.get("prepare_version", -1))
    return {"source": source, "simulator": simulator, "prepare_version": version}


def describe(source: str, simulator: int | None) -> str:
    """``simulator-2 knees``, ``real data`` or ``unknown data``."""
    if source == "simulated":
        return f"simulator-{simulator} knees"
    return "real data" if source == "real" else "unknown data"


def data_mismatch(trained: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """A one-line warning when a checkpoint's data record differs from the data at hand, else None.

    A checkpoint without a record (trained before records existed) was trained on simulator-1 knees.
    The sidecar format (:data:`~recon_lib.data.integrity.PREPARE_VERSION`) is recorded, not compared:
    preparing the same raw files gives the same arrays across formats.
    """
    trained = trained or {"source": "simulated", "simulator": 1}
    was = describe(trained.get("source", "unknown"), trained.get("simulator"))
    now = describe(current.get("source", "unknown"), current.get("simulator"))
    if was == now:
        return None
    return f"trained on {was}, these data are {now}"


def mismatch_lines(trained: Mapping[str, dict[str, Any] | None], data_root: str | os.PathLike) -> list[str]:
    """One warning line per model whose recorded data (its checkpoint's ``metadata["dataset"]``, None
    when it records none) differ from the data under ``data_root``: ``"<name>: trained on ..."``.

    Example:
        >>> mismatch_lines({}, ".")
        []
    """
    if not trained:
        return []
    current = dataset_record(data_root)
    if current["source"] == "unknown":
        return []
    lines = []
    for name, record in trained.items():
        message = data_mismatch(record, current)
        if message is not None:
            lines.append(f"{name}: {message}")
    return lines
