"""Settings of the notebook suite, read in one place.

Every notebook starts with::

    from recon_lib.teaching import suite
    suite.seed_everything(0)
    device = suite.device()

and reads the data folder, the checkpoint folder and the quick flag from here -- never from
its own environment look-ups -- so that CI and students see the same paths and switches.

Environment variables:

* ``RECON_QUICK=1`` -- CI's quick mode (``make test`` sets it): cells that train live run only
  a few iterations (see :func:`pick`); everything else is unchanged.
* ``RECON_DATA_DIR`` -- the prepared dataset folder (default ``<repo>/data/knee``, made by
  ``make data``).
* ``RECON_DEVICE`` -- force a torch device (``cpu``, ``cuda``, ``mps``); default: the best
  one available.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from recon_lib.core.checks import check_int
from recon_lib.core.devices import select_device
from recon_lib.data.layout import SPLITS, raw_volumes, unprepared
from recon_lib.evaluation.commands import results_folder

__all__ = [
    "QUICK",
    "DataMissingError",
    "repo_root",
    "data_dir",
    "checkpoint_dir",
    "results_dir",
    "cg_iterations",
    "seed_everything",
    "device",
    "pick",
    "require_data",
    "list_volumes",
    "settings",
    "SPLITS",
]

#: CI's quick mode: live-training cells run only a few iterations.
QUICK: bool = os.environ.get("RECON_QUICK") == "1"

T = TypeVar("T")


class DataMissingError(FileNotFoundError):
    """The dataset the notebooks need has not been made yet (run ``make data``)."""


def _looks_like_repo(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "recon_lib").is_dir()


def repo_root() -> Path:
    """The repository folder (the one holding ``pyproject.toml``, ``notebooks/`` and ``data/``).

    With the editable install of the README this is the parent of the ``recon_lib`` package.
    Otherwise the current folder and its parents are searched; the current folder is the
    fall-back.
    """
    here = Path(__file__).resolve().parents[2]  # recon_lib/teaching/suite.py -> the repository
    if _looks_like_repo(here):
        return here
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _looks_like_repo(candidate):
            return candidate
    return cwd


def data_dir() -> Path:
    """The dataset folder: ``$RECON_DATA_DIR`` if set, else ``<repo>/data/knee``."""
    env = os.environ.get("RECON_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return repo_root() / "data" / "knee"


def checkpoint_dir() -> Path:
    """The folder of trained weights, ``<repo>/checkpoints`` (written by ``recon_lib.training.trainer``)."""
    return repo_root() / "checkpoints"


def results_dir(command: str) -> Path:
    """The folder of a command's shipped results (``"evaluate"``, ``"alpha_validation"``,
    ``"shared_init"``): ``docs/results/<folder>/`` of the repository, replaced whole by each run."""
    return results_folder(command, repo_root())


def cg_iterations() -> dict[int, int]:
    """CG-SENSE's iteration count per acceleration as the shipped evaluation chose it on the
    validation split (``docs/results/evaluation/timing.json``, written by ``python -m recon_lib.evaluate``)."""
    path = results_dir("evaluate") / "timing.json"
    chosen = json.loads(path.read_text())["cg_iters"]
    if not isinstance(chosen, dict):
        raise ValueError(f"{path}: cg_iters is {chosen!r}, one count for every AF, not a count per AF")
    return {int(af): int(n) for af, n in chosen.items()}


def seed_everything(seed: int = 0) -> int:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) random generators.

    Args:
        seed: a non-negative integer.

    Returns:
        The seed, so a notebook can print what it used.
    """
    seed = check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeding NumPy's global generator is the point here
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def device(name: str | None = None) -> torch.device:
    """The torch device the notebooks compute on.

    Args:
        name: ``"cpu"``, ``"cuda"``, ``"mps"``, ... or None / ``"auto"``: ``$RECON_DEVICE`` if set,
            else CUDA, then Apple MPS, then the CPU.

    Returns:
        A ``torch.device``.
    """
    if name is None or name == "auto":
        name = os.environ.get("RECON_DEVICE") or "auto"
    return select_device(name)


def pick(full: T, quick: T) -> T:
    """``quick`` in CI's quick mode (``RECON_QUICK=1``), else ``full``.

    Example:
        >>> num_steps = pick(full=200, quick=3)
    """
    return quick if QUICK else full


def list_volumes(split: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The raw fastMRI-format volumes (``<root>/<split>/*.h5``) of a split; their sidecars live
    in ``<root>/<split>.prepared/`` (:mod:`recon_lib.data.layout`) and are not listed.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: the dataset folder (default :func:`data_dir`).

    Returns:
        Sorted paths.

    Raises:
        DataMissingError: the split holds no volume (with the ``make data`` hint).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = (Path(root) if root is not None else data_dir()) / split
    found = raw_volumes(folder)
    if not found:
        raise DataMissingError(f"No raw volumes (*.h5) in {folder}. {_hint()}")
    return found


def _hint() -> str:
    return (
        f"Run `make data` in {repo_root()} to generate and prepare the dataset "
        "(or set RECON_DATA_DIR to a folder that holds it)."
    )


def require_data(root: str | os.PathLike | None = None, prepared: bool = True) -> Path:
    """Check that the dataset exists and return its folder.

    Args:
        root: the dataset folder (default :func:`data_dir`).
        prepared: also require each raw file's sidecar, ``<split>.prepared/<stem>.h5`` beside
            the split folder (:func:`~recon_lib.data.layout.sidecar_path`), written by
            ``data_scripts/prepare_dataset.py`` (maps, SENSE reference, foreground).

    Returns:
        The dataset folder.

    Raises:
        DataMissingError: (a ``FileNotFoundError``) saying what is missing and to run
            ``make data`` from the repository folder.
    """
    root = Path(root) if root is not None else data_dir()
    hint = _hint()
    if not root.is_dir():
        raise DataMissingError(f"The dataset folder {root} does not exist. {hint}")
    for split in SPLITS:
        folder = root / split
        raw = raw_volumes(folder)
        if not raw:
            raise DataMissingError(f"No raw volumes (*.h5) in {folder}. {hint}")
        if prepared:
            missing = [p.name for p in unprepared(raw)]
            if missing:
                shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
                raise DataMissingError(
                    f"{len(missing)} of {len(raw)} volumes in {folder} are not prepared yet ({shown}). {hint}"
                )
    return root


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (as notebooks print it), else absolute."""
    try:
        return str(path.resolve().relative_to(repo_root()))
    except ValueError:
        return str(path)


def settings() -> dict[str, str | bool]:
    """The suite's settings as notebooks print them: paths relative to the repository when inside it.

    Returns:
        ``{"data": ..., "checkpoints": ..., "quick": ..., "device": ...}``.
    """
    return {
        "data": _shown(data_dir()),
        "checkpoints": _shown(checkpoint_dir()),
        "quick": QUICK,
        "device": str(device()),
    }
