"""Where the dataset's files live: raw fastMRI volumes and their prepared sidecars.

The one place that knows the layout. A raw file ``<folder>/<stem>.h5`` is prepared into
``<folder>.prepared/<stem>.h5``: a sibling folder, so that fastMRI's own loaders, which read every
file of a split folder, never meet a sidecar (:mod:`recon_lib.data.prepare`). Sidecars of format 2
and older sat next to the raw file as ``<stem>.prepared.h5`` (:func:`legacy_sidecar_path`);
preparation replaces them.

Example:
    >>> sidecar_path("data/knee/train/knee_000_pd.h5").as_posix()
    'data/knee/train.prepared/knee_000_pd.h5'
    >>> is_sidecar("data/knee/train.prepared/knee_000_pd.h5"), is_sidecar("data/knee/train/knee_000_pd.h5")
    (True, False)
    >>> sidecar_folder("data/knee/train").as_posix()
    'data/knee/train.prepared'
    >>> raw_path_of("data/knee/train.prepared/knee_000_pd.h5").as_posix()
    'data/knee/train/knee_000_pd.h5'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "SPLITS",
    "SIDECAR_FOLDER_SUFFIX",
    "sidecar_folder",
    "sidecar_path",
    "raw_path_of",
    "legacy_sidecar_path",
    "is_sidecar",
    "acs_maps_key",
    "raw_volumes",
    "unprepared",
    "find_raw_files",
]

#: a dataset's sub-folders, as written by ``data_scripts/make_knee_dataset.py``
SPLITS = ("train", "val", "test")
#: sidecars of the raw files in ``<folder>`` live in ``<folder>.prepared``
SIDECAR_FOLDER_SUFFIX = ".prepared"
#: the name sidecars had next to their raw file before (format 2 and older)
LEGACY_SIDECAR_SUFFIX = ".prepared.h5"


def acs_maps_key(center_fraction: float) -> str:
    """The sidecar dataset holding the maps calibrated on the centre lines a mask with this centre
    fraction acquires, e.g. ``maps_cf0.16`` (AF 4) or ``maps_cf0.08`` (AF 8) in the teaching geometry."""
    return f"maps_cf{float(center_fraction):g}"


def sidecar_folder(raw_folder: str | os.PathLike) -> Path:
    """The folder of the sidecars of the raw files in ``raw_folder``: ``<folder>.prepared``."""
    folder = Path(raw_folder)
    return folder.with_name(folder.name + SIDECAR_FOLDER_SUFFIX)


def sidecar_path(raw_path: str | os.PathLike) -> Path:
    """The sidecar of a raw file: ``dir/<stem>.h5`` -> ``dir.prepared/<stem>.h5``."""
    raw_path = Path(raw_path)
    return sidecar_folder(raw_path.parent) / raw_path.name


def raw_path_of(sidecar: str | os.PathLike) -> Path:
    """The raw file of a sidecar (the inverse of :func:`sidecar_path`): ``dir.prepared/<stem>.h5`` -> ``dir/<stem>.h5``.

    Raises:
        ValueError: ``sidecar`` is not in a ``*.prepared`` folder.
    """
    sidecar = Path(sidecar)
    folder = sidecar.parent
    if not folder.name.endswith(SIDECAR_FOLDER_SUFFIX) or folder.name == SIDECAR_FOLDER_SUFFIX:
        raise ValueError(f"{sidecar} is not a sidecar: its folder's name does not end in {SIDECAR_FOLDER_SUFFIX!r}")
    return folder.with_name(folder.name[: -len(SIDECAR_FOLDER_SUFFIX)]) / sidecar.name


def legacy_sidecar_path(raw_path: str | os.PathLike) -> Path:
    """Where a format-2 sidecar of ``raw_path`` was: ``dir/<stem>.prepared.h5``."""
    raw_path = Path(raw_path)
    return raw_path.with_name(raw_path.stem + LEGACY_SIDECAR_SUFFIX)


def is_sidecar(path: str | os.PathLike) -> bool:
    """True for a sidecar: a file in a ``*.prepared`` folder, or a legacy ``*.prepared.h5``."""
    path = Path(path)
    return path.parent.name.endswith(SIDECAR_FOLDER_SUFFIX) or path.name.endswith(LEGACY_SIDECAR_SUFFIX)


def raw_volumes(folder: str | os.PathLike) -> list[Path]:
    """The raw volumes directly inside ``folder`` (``*.h5``; sidecars and hidden files excluded), sorted.

    A folder that does not exist holds none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.h5") if p.is_file() and not is_sidecar(p) and not p.name.startswith("."))


def unprepared(raw_files: list[Path]) -> list[Path]:
    """The raw files among ``raw_files`` whose sidecar does not exist (yet)."""
    return [p for p in raw_files if not sidecar_path(p).is_file()]


def find_raw_files(root: str | os.PathLike) -> list[Path]:
    """All raw ``*.h5`` files under ``root`` (recursively), sidecars and hidden files excluded, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist or is not a folder")
    return sorted(p for p in root.rglob("*.h5") if p.is_file() and not is_sidecar(p) and not p.name.startswith("."))
