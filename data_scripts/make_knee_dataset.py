#!/usr/bin/env python
"""Generate the suite's simulated fastMRI-format multi-coil knee dataset.

Usage:
    python data_scripts/make_knee_dataset.py --out DIR [--seed S] [--geometry teaching|fastmri]
        [--train N] [--val N] [--test N] [--slices N] [--snr X] [--coil-correlation R] [--workers N]
        [--simulator 1|2]

Writes ``DIR/train/knee_<index>_<pd|pdfs>.h5``, ``DIR/val/knee_val_<index>_...`` and
``DIR/test/knee_test_<index>_...`` (fastMRI multicoil layout plus the noise-free image, see
:func:`recon_lib.data.phantom.simulate.write_volume`) and, last, ``DIR/dataset.json``: the arguments,
the geometry and one record per file (split, acquisition, patient_id, volume seed, SNR, max, norm,
``content_sha256`` of the file's k-space and noise-free image).

* Every split has its own seed stream: ``--train 48`` adds training volumes without changing a
  single validation or test volume (their names, seeds and k-space hashes stay the same).

* Every volume is a different simulated patient (its own seed and ``patient_id``), so no patient
  is in two splits; each split alternates CORPD_FBK and CORPDFS_FBK, so every split with at least
  two volumes holds both contrasts (the defaults give 6+6 / 1+1 / 3+3).
* ``--simulator 2`` makes simulator 2's data (:mod:`recon_lib.data.phantom.simulate`: receive fields,
  3 mm slabs, wider variety; tissue labels in every file), dataset layout :data:`LAYOUT_BY_SIMULATOR`
  ``[2]``; the default (:data:`~recon_lib.data.phantom.simulate.DEFAULT_SIMULATOR`) makes the same files
  as before, bit for bit, with the same ``dataset.json``.
* Deterministic: the same arguments give byte-identical k-space, whatever ``--workers``.
* Safe to re-run: DIR must be empty or new, or hold exactly a previous run of this script with the
  same arguments (finished or interrupted); then complete files are kept and only missing ones are
  generated. Anything else in DIR stops the script before it writes (exit status 2). Files are
  written atomically, so an interrupted run never leaves a half-written volume.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from recon_lib.core.atomic import atomic_path, temporary_is_orphaned
from recon_lib.data.fastmri_io import (
    NOISE_FREE_KEY,
    SIMULATOR_ATTR,
    TISSUE_LABELS_KEY,
    DataFormatError,
    read_volume_info,
)
from recon_lib.data.integrity import content_digest
from recon_lib.data.layout import SPLITS, legacy_sidecar_path, sidecar_folder, sidecar_path
from recon_lib.data.phantom.simulate import (
    DEFAULT_SIMULATOR,
    DEFAULT_SNR,
    GEOMETRIES,
    PDFS_SNR_FACTOR,
    SIMULATORS,
    patient_id_for_seed,
    simulate_volume,
    write_volume,
)

MANIFEST = "dataset.json"
#: version of the dataset's layout (file names, seed streams, datasets per file); older folders are refused
DATASET_LAYOUT = 2
#: the layout of each simulator's datasets (simulator 2's files add tissue labels and its attributes)
LAYOUT_BY_SIMULATOR = {1: DATASET_LAYOUT, 2: 3}
#: seed-stream label per split: volume ``i`` of a split has the seed ``SeedSequence([seed, i, stream])``
#: (SeedSequence ignores trailing zeros, so the training stream 0 keeps the seeds of layout 1)
SEED_STREAMS = {"train": 0, "val": 1, "test": 2}
#: file-name prefix per split
PREFIXES = {"train": "knee_", "val": "knee_val_", "test": "knee_test_"}
#: written first, removed once ``dataset.json`` is in place: marks an unfinished run and its arguments
IN_PROGRESS = ".make_knee_dataset.json"
_TAGS = {"CORPD_FBK": "pd", "CORPDFS_FBK": "pdfs"}
#: temporary names left by an interrupted atomic write (recon_lib.data.fastmri_io.atomic_h5_writer)
_TEMP = re.compile(r"^\.(?P<name>.+\.h5)\..+\.tmp$")
#: sidecars written next to raw files by data_scripts/prepare_dataset.py


class RefusedError(RuntimeError):
    """The output folder holds something other than a previous run with the same arguments."""


@dataclass(frozen=True)
class PlannedVolume:
    """One file of the dataset."""

    file: str  #: path relative to the output folder, e.g. ``train/knee_000_pd.h5``
    split: str
    acquisition: str
    volume_seed: int
    patient_id: str


def plan_dataset(seed: int, counts: dict[str, int]) -> list[PlannedVolume]:
    """The files of a dataset, in generation order.

    Args:
        seed: the dataset seed.
        counts: number of volumes per split, e.g. ``{"train": 12, "val": 2, "test": 6}``.

    Returns:
        One :class:`PlannedVolume` per file; volume seeds and patient ids are unique.
    """
    plan: list[PlannedVolume] = []
    for split in SPLITS:
        for i in range(counts.get(split, 0)):
            acquisition = "CORPD_FBK" if i % 2 == 0 else "CORPDFS_FBK"
            # An independent stream per split and volume: adding volumes to one split never changes
            # another split's volumes, nor the earlier volumes of the same split.
            entropy = [seed, i, SEED_STREAMS[split]]
            volume_seed = int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])
            name = f"{PREFIXES[split]}{i:03d}_{_TAGS[acquisition]}.h5"
            plan.append(
                PlannedVolume(f"{split}/{name}", split, acquisition, volume_seed, patient_id_for_seed(volume_seed))
            )
    if len({p.volume_seed for p in plan}) != len(plan):  # 32-bit seeds: a clash is ~impossible but fatal
        raise RuntimeError(f"dataset seed {seed} gives two volumes the same seed; choose another --seed")
    return plan


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def _previous_arguments(out: Path) -> dict | None:
    for name in (MANIFEST, IN_PROGRESS):
        path = out / name
        if path.is_file():
            try:
                return json.loads(path.read_text())["arguments"]
            except (ValueError, KeyError, TypeError):
                raise RefusedError(f"{path} is not a dataset manifest of this script (unreadable JSON)") from None
    return None


def check_output_folder(out: Path, arguments: dict, plan: list[PlannedVolume]) -> None:
    """Refuse unless ``out`` is new, empty, or exactly a previous run with the same ``arguments``.

    Stale temporary files of interrupted writes are removed; the sidecars ``prepare_dataset.py``
    writes for planned files (in ``<split>.prepared/``, or ``*.prepared.h5`` beside the raw file in
    folders of older versions) are tolerated.

    Raises:
        RefusedError: naming what is in the way.
    """
    if out.exists() and not out.is_dir():
        raise RefusedError(f"--out {out} exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    previous = _previous_arguments(out)
    if previous is None:
        raise RefusedError(
            f"--out {out} is not empty and holds no previous run of this script ({MANIFEST} missing); "
            "choose a new or empty folder"
        )
    if previous.get("simulator", 1) != arguments.get("simulator", 1):
        raise RefusedError(
            f"--out {out} holds data of simulator {previous.get('simulator', 1)}, not {arguments.get('simulator', 1)}: "
            "choose a new or empty folder"
        )
    if previous.get("layout") != arguments.get("layout"):
        raise RefusedError(
            f"--out {out} was made by an older version of this script (dataset layout {previous.get('layout', 1)}, "
            f"now {arguments.get('layout')}): remove it (make clean-data) and generate it again"
        )
    if previous != arguments:
        diff = ", ".join(
            f"{k}: {previous.get(k)!r} there, {arguments.get(k)!r} now"
            for k in sorted(set(previous) | set(arguments))
            if previous.get(k) != arguments.get(k)
        )
        raise RefusedError(f"--out {out} holds a run with different arguments ({diff}); choose a new or empty folder")
    expected = {p.file for p in plan}
    sidecars = {sidecar_path(out / p.file).relative_to(out).as_posix() for p in plan}
    legacy = {legacy_sidecar_path(out / p.file).relative_to(out).as_posix() for p in plan}
    sidecar_folders = {sidecar_folder(out / split).name for split in SPLITS}
    for entry in sorted(out.iterdir()):
        if entry.name in (MANIFEST, IN_PROGRESS) and entry.is_file():
            continue
        temp = _TEMP.match(entry.name)
        if temp and entry.is_file() and temporary_is_orphaned(entry, out / temp["name"]):
            entry.unlink()  # an interrupted manifest write (a live run's is left alone)
            continue
        if not entry.is_dir() or entry.name not in (*SPLITS, *sidecar_folders):
            raise RefusedError(f"--out {out} holds {entry.name!r}, which is not part of this dataset; remove it first")
        for f in sorted(entry.iterdir()):
            rel = f"{entry.name}/{f.name}"
            temp = _TEMP.match(f.name)
            if f.is_file() and (rel in expected or rel in sidecars or rel in legacy):
                continue  # a volume, its sidecar, or a legacy sidecar (prepare_dataset.py replaces those)
            if temp and f.is_file() and f"{entry.name}/{temp['name']}" in expected | sidecars | legacy:
                if temporary_is_orphaned(f, entry / temp["name"]):
                    f.unlink()  # an interrupted volume or sidecar write: never complete, safe to drop
                continue  # a live run's write in progress is left alone
            raise RefusedError(f"--out {out} holds {rel!r}, which is not part of this dataset; remove it first")


def is_complete(path: Path, planned: PlannedVolume, num_slices: int, geometry_name: str, simulator: int = 1) -> bool:
    """Whether ``path`` is a readable volume matching the plan (shape, acquisition, patient, simulator)."""
    if not path.is_file():
        return False
    try:
        info = read_volume_info(path)
    except DataFormatError:
        return False
    geom = GEOMETRIES[geometry_name]
    return (
        info.num_slices == num_slices
        and info.num_coils == geom.num_coils
        and info.kspace_shape == tuple(geom.kspace_shape)
        and info.attrs.get("acquisition") == planned.acquisition
        and info.attrs.get("patient_id") == planned.patient_id
        and int(info.attrs.get(SIMULATOR_ATTR, 1)) == simulator
        and _has_datasets(path, (NOISE_FREE_KEY,) + ((TISSUE_LABELS_KEY,) if simulator >= 2 else ()))
    )


def _has_datasets(path: Path, keys: tuple[str, ...]) -> bool:
    with h5py.File(path, "r") as f:
        return all(key in f for key in keys)


def content_sha256(path: Path) -> str:
    """SHA-256 over the file's ``kspace`` and noise-free image (recorded in the manifest: the test
    and validation volumes of a seed are frozen, whatever the other splits' sizes)."""
    with h5py.File(path, "r") as f:
        return content_digest({key: f[key][()] for key in ("kspace", NOISE_FREE_KEY)})


def _generate(task: tuple[str, PlannedVolume, dict]) -> str:
    """Simulate and write one volume (runs in a worker process)."""
    out, planned, arguments = task
    import torch

    torch.set_num_threads(1)
    vol = simulate_volume(
        planned.volume_seed,
        planned.acquisition,
        geometry=arguments["geometry"],
        num_slices=arguments["slices"],
        snr=arguments["snr"],
        coil_correlation=arguments["coil_correlation"],
        simulator=arguments.get("simulator", 1),
    )
    write_volume(Path(out) / planned.file, vol)  # atomic, with the permissions a plain open would give
    return planned.file


def _manifest(out: Path, arguments: dict, plan: list[PlannedVolume]) -> dict:
    geom = GEOMETRIES[arguments["geometry"]]
    files = []
    for p in plan:
        attrs = read_volume_info(out / p.file).attrs
        files.append(
            {
                "file": p.file,
                "split": p.split,
                "acquisition": p.acquisition,
                "patient_id": p.patient_id,
                "volume_seed": p.volume_seed,
                "snr": float(
                    attrs.get("snr", arguments["snr"] * (PDFS_SNR_FACTOR if p.acquisition == "CORPDFS_FBK" else 1.0))
                ),
                "max": float(attrs["max"]),
                "norm": float(attrs["norm"]),
                "content_sha256": content_sha256(out / p.file),
            }
        )
    simulator = arguments.get("simulator", 1)
    extra = {} if simulator == 1 else {"simulator": simulator}
    return {
        "description": "simulated fastMRI-format multicoil coronal knee volumes (recon_lib.phantom)",
        **extra,
        "arguments": arguments,
        "seed": arguments["seed"],
        "geometry": {
            "name": geom.name,
            "kspace_shape": list(geom.kspace_shape),
            "recon_size": list(geom.recon_size),
            "num_coils": geom.num_coils,
            "padding": list(geom.padding),
        },
        "num_slices": arguments["slices"],
        "snr": arguments["snr"],
        "snr_definition": (
            "mean tissue magnitude of the noise-free image / std of the complex noise per pixel of the "
            "coil-combined image (uncorrelated coils); CORPDFS_FBK volumes use snr * "
            f"{PDFS_SNR_FACTOR} (recon_lib.data.phantom.simulate docstring)"
        ),
        "coil_correlation": arguments["coil_correlation"],
        "splits": {s: [f["file"] for f in files if f["split"] == s] for s in SPLITS},
        "files": files,
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_knee_dataset.py", description="Generate simulated fastMRI-format multi-coil knee volumes."
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (new, empty, or a previous run to resume)"
    )
    parser.add_argument("--seed", type=_positive_int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--geometry", choices=sorted(GEOMETRIES), default="teaching", help="acquisition matrix (default teaching)"
    )
    parser.add_argument("--train", type=_positive_int, default=12, help="training volumes (default 12)")
    parser.add_argument("--val", type=_positive_int, default=2, help="validation volumes (default 2)")
    parser.add_argument("--test", type=_positive_int, default=6, help="test volumes (default 6)")
    parser.add_argument("--slices", type=int, default=8, help="coronal slices per volume (default 8)")
    parser.add_argument("--snr", type=float, default=DEFAULT_SNR, help=f"SNR of PD volumes (default {DEFAULT_SNR:g})")
    parser.add_argument(
        "--coil-correlation", type=float, default=0.0, help="neighbour-coil noise correlation in [0, 1)"
    )
    parser.add_argument(
        "--simulator",
        type=int,
        choices=SIMULATORS,
        default=DEFAULT_SIMULATOR,
        help=f"knee simulator (default {DEFAULT_SIMULATOR}; 2: receive fields, 3 mm slabs, wider variety)",
    )
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes (default: up to 2)"
    )
    return parser


def run_arguments(args: argparse.Namespace) -> dict:
    """The arguments a run records (and a resumed run must repeat). Simulator 1's are those of
    earlier versions of this script, so its folders resume unchanged; simulator 2 adds its number."""
    arguments = {
        "layout": LAYOUT_BY_SIMULATOR[args.simulator],
        "seed": args.seed,
        "geometry": args.geometry,
        "train": args.train,
        "val": args.val,
        "test": args.test,
        "slices": args.slices,
        "snr": float(args.snr),
        "coil_correlation": float(args.coil_correlation),
    }
    if args.simulator != 1:
        arguments["simulator"] = args.simulator
    return arguments


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.slices < 1:
        parser.error(f"--slices must be >= 1, got {args.slices}")
    if not (np.isfinite(args.snr) and args.snr > 0):
        parser.error(f"--snr must be a positive number, got {args.snr}")
    if not 0.0 <= args.coil_correlation < 1.0:
        parser.error(f"--coil-correlation must be in [0, 1), got {args.coil_correlation}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.train + args.val + args.test == 0:
        parser.error("nothing to generate: --train, --val and --test are all 0")

    arguments = run_arguments(args)
    out: Path = args.out
    plan = plan_dataset(args.seed, {"train": args.train, "val": args.val, "test": args.test})
    try:
        check_output_folder(out, arguments, plan)
    except RefusedError as err:
        print(f"error: {err}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        return 2

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / split).mkdir(exist_ok=True)
    if not (out / MANIFEST).is_file():
        _write_json_atomic(out / IN_PROGRESS, {"arguments": arguments})
    todo = [p for p in plan if not is_complete(out / p.file, p, args.slices, args.geometry, args.simulator)]
    for p in todo:
        for stale in (sidecar_path(out / p.file), legacy_sidecar_path(out / p.file)):
            stale.unlink(missing_ok=True)  # prepared from a volume that is being regenerated
    tasks = [(str(out), p, arguments) for p in todo]
    try:
        with tqdm(total=len(plan), initial=len(plan) - len(todo), desc="simulating", unit="volume") as bar:
            if args.workers == 1 or len(tasks) <= 1:
                for task in tasks:
                    _generate(task)
                    bar.update()
            else:
                with ProcessPoolExecutor(max_workers=min(args.workers, len(tasks))) as pool:
                    for _ in pool.map(_generate, tasks):
                        bar.update()
    except KeyboardInterrupt:
        print("interrupted: finished volumes are kept; re-run the same command to resume.", file=sys.stderr)
        return 130
    _write_json_atomic(out / MANIFEST, _manifest(out, arguments, plan))
    (out / IN_PROGRESS).unlink(missing_ok=True)

    size = sum((out / p.file).stat().st_size for p in plan)
    print(
        f"{len(todo)} volume(s) written, {len(plan) - len(todo)} already complete, "
        f"{size / 2**20:.0f} MiB in {out}, {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
