"""What the evaluation commands share: their input checks and their one-line errors.

``python -m recon_lib.evaluate``, ``python -m recon_lib.alpha_validation`` and
``python -m recon_lib.shared_init`` each read a split of a dataset root (``--data``), load weights
from a checkpoint folder (``--checkpoints``), write their set of files to a folder of their own
(``--out``, replaced whole: :func:`~recon_lib.core.atomic.output_set`) and run on ``--device``.
:func:`check_inputs` checks these in one place, before anything is loaded or computed; a bad one
raises an error naming it, and :func:`report` prints any of :data:`COMMAND_ERRORS` as the commands'
one ``error:`` line with exit status 2. :func:`results_folder` is where each command's shipped
results live. A command that loads the SN-GAN loads, at each acceleration, the one that serves it
(``sn_gan_af<AF>.pt`` where shipped, else ``sn_gan.pt``: :func:`~recon_lib.evaluation.sweep.sn_gan_checkpoints`);
its ``--checkpoints`` help says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from recon_lib.core.atomic import check_output_folder
from recon_lib.core.devices import select_device
from recon_lib.data.dataset import DatasetNotPreparedError
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.layout import raw_volumes, unprepared
from recon_lib.data.provenance import mismatch_lines
from recon_lib.models.checkpoint import CheckpointError, load_checkpoint
from recon_lib.models.stages import FINETUNE_GAN
from recon_lib.physics.masks import DEFAULT_CENTER_FRACTIONS

__all__ = [
    "COMMAND_ERRORS",
    "RESULTS",
    "RESULT_FOLDERS",
    "SN_GAN_PER_ACCELERATION",
    "Inputs",
    "command_parser",
    "check_accelerations",
    "check_inputs",
    "report",
    "results_folder",
]

#: where the shipped results live, relative to the repository
RESULTS = Path("docs") / "results"
#: each command's own folder inside :data:`RESULTS` (its ``--out`` by default), replaced whole by each run
RESULT_FOLDERS = {
    "evaluate": "evaluation",
    "alpha_validation": "alpha_validation",
    "shared_init": "shared_init",
    "perception": "perception",
}


def results_folder(command: str, root: str | os.PathLike = ".") -> Path:
    """The folder of ``command``'s shipped results under the repository ``root``.

    Example:
        >>> results_folder("evaluate").as_posix()
        'docs/results/evaluation'
    """
    if command not in RESULT_FOLDERS:
        raise ValueError(f"unknown command {command!r} (commands with results: {', '.join(RESULT_FOLDERS)})")
    return Path(root) / RESULTS / RESULT_FOLDERS[command]


#: what the ``--checkpoints`` help adds after the SN-GAN's file
SN_GAN_PER_ACCELERATION = " (and sn_gan_af<AF>.pt, used at that acceleration instead of sn_gan.pt, where shipped)"

#: the errors a command reports as one ``error:`` line and exit status 2, never as a traceback
COMMAND_ERRORS = (CheckpointError, DataFormatError, DatasetNotPreparedError, ValueError, OSError)


def command_parser(command: str, description: str, split: str, checkpoints: str) -> argparse.ArgumentParser:
    """The parser of ``python -m recon_lib.<command>`` with the arguments every evaluation command
    takes: ``--data`` (its ``split``), ``--checkpoints`` (holding ``checkpoints``), ``--out`` (its
    results folder by default), ``--accelerations`` and ``--device``. When ``checkpoints`` names the
    SN-GAN's file, the help adds its per-acceleration files (:data:`SN_GAN_PER_ACCELERATION`)."""
    parser = argparse.ArgumentParser(prog=f"python -m recon_lib.{command}", description=description)
    parser.add_argument("--data", default="data/knee", help=f"prepared dataset root (uses its {split}/ split)")
    per_af = SN_GAN_PER_ACCELERATION if FINETUNE_GAN.checkpoint_name() in checkpoints else ""
    parser.add_argument("--checkpoints", default="checkpoints", help=f"folder with {checkpoints}{per_af}")
    parser.add_argument(
        "--out",
        default=str(results_folder(command)),
        help="output folder, replaced whole by this run (new, empty, or written by this command before)",
    )
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    return parser


def check_accelerations(accelerations: list[int]) -> None:
    """``ValueError`` naming the first of ``--accelerations`` that has no centre fraction."""
    unknown = [a for a in accelerations if a not in DEFAULT_CENTER_FRACTIONS]
    if unknown:
        known = ", ".join(f"{a:g}" for a in DEFAULT_CENTER_FRACTIONS)
        raise ValueError(f"--accelerations {unknown[0]} has no centre fraction (known accelerations: {known})")


@dataclass(frozen=True)
class Inputs:
    """A command's checked inputs.

    Attributes:
        device: the torch device of ``--device``.
        split: the split folder the command reads, ``<--data>/<split>``.
        checkpoints: the checkpoint folder of ``--checkpoints``.
    """

    device: torch.device
    split: Path
    checkpoints: Path


def check_inputs(args: argparse.Namespace, split: str, command: str, *, prepared_volumes: bool = False) -> Inputs:
    """Check ``--device``, ``--accelerations``, ``--out`` and the split folder of ``--data``; raise naming
    the first bad one.

    Args:
        args: the parsed command line (``data``, ``checkpoints``, ``out``, ``device``).
        split: the split the command reads (``"test"`` or ``"val"``).
        command: the command's name: ``--out`` must be a folder it may replace whole (new, empty, or
            written by the same command) in a writable place (:func:`~recon_lib.core.atomic.check_output_folder`).
        prepared_volumes: require the split to hold raw volumes, every one prepared (otherwise the
            folder only has to exist).

    Raises:
        ValueError: a bad device, an ``--out`` that is a file, holds other files or cannot be written,
            a missing or empty split.
        DatasetNotPreparedError: ``prepared_volumes`` and some volumes are not prepared.
    """
    device = select_device(args.device)
    check_accelerations(args.accelerations)
    check_output_folder(args.out, command)
    folder = Path(args.data) / split
    if prepared_volumes:
        _check_prepared(folder, args.data)
    elif not folder.is_dir():
        raise ValueError(f"{folder} does not exist: run `make data` (or prepare your fastMRI folder) first")
    for line in checkpoint_data_warnings(Path(args.checkpoints), args.data):
        print(f"warning: {line}", file=sys.stderr)
    return Inputs(device=device, split=folder, checkpoints=Path(args.checkpoints))


def checkpoint_data_warnings(checkpoints: Path, data_root: str | os.PathLike) -> list[str]:
    """:func:`~recon_lib.data.provenance.mismatch_lines` for every checkpoint in the folder
    ``checkpoints`` (an unreadable one is skipped: the command that loads it names it)."""
    trained: dict[str, dict | None] = {}
    for path in sorted(checkpoints.glob("*.pt")) if checkpoints.is_dir() else []:
        try:
            metadata = load_checkpoint(path)["metadata"]
        except CheckpointError:
            continue
        trained[path.name] = metadata.get("dataset") if isinstance(metadata, dict) else None
    return mismatch_lines(trained, data_root)


def _check_prepared(folder: Path, root: str) -> None:
    """``folder`` holds raw volumes and every one has its sidecar."""
    raw = raw_volumes(folder)
    if not raw:
        raise ValueError(f"{folder} holds no volumes: run `make data` (or prepare your fastMRI folder) first")
    missing = [p.name for p in unprepared(raw)]
    if missing:
        raise DatasetNotPreparedError(
            f"{len(missing)} of {len(raw)} volumes in {folder} are not prepared ({missing[0]} ...): "
            f"run `python data_scripts/prepare_dataset.py {root}` first"
        )


def report(err: BaseException) -> int:
    """Print ``err`` as the command's one ``error:`` line; return the exit status, 2."""
    print(f"error: {err}", file=sys.stderr)
    return 2
