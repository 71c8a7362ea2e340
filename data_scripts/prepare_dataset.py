#!/usr/bin/env python
"""Prepare a raw fastMRI-format dataset folder for training (coil maps, SENSE reference, foreground).

Usage:
    python data_scripts/prepare_dataset.py DIR [--overwrite]
    python data_scripts/prepare_dataset.py DIR --verify     # re-read every sidecar and raw file, check checksums

Every raw ``*.h5`` under DIR (recursively: ``train/``, ``val/``, ``test/``) gets a sidecar
``<folder>.prepared/<stem>.h5`` (see :mod:`recon_lib.data.prepare`); raw files are never modified.
Volumes already prepared are skipped, so the command can be re-run after an interruption; a
sidecar that is not intact or not prepared from its raw file (corrupted, edited, copied from another
volume, of a raw file replaced since, of an older format) is prepared again. All files are
validated first: a bad file stops the run with one message naming the file and the key at fault,
before anything is written (exit status 2). ``--verify`` reads every sidecar and raw file and
checks that each sidecar is intact and was prepared from its raw file (exit status 2 naming both
files and this command, which repairs it).
"""

from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.integrity import prepare_command, verify_sidecar
from recon_lib.data.layout import find_raw_files, sidecar_path, unprepared
from recon_lib.data.prepare import prepare_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="dataset folder holding raw fastMRI multicoil *.h5 files")
    parser.add_argument("--overwrite", action="store_true", help="re-prepare volumes that already have a sidecar")
    parser.add_argument(
        "--verify", action="store_true", help="only check every sidecar's checksums and its tie to its raw file"
    )
    args = parser.parse_args(argv)
    if args.verify:
        return _verify(args.root)

    start = time.perf_counter()
    try:
        summary = prepare_folder(
            args.root,
            overwrite=args.overwrite,
            progress=lambda infos: tqdm(infos, desc="preparing", unit="volume"),
        )
    except (DataFormatError, FileNotFoundError) as err:
        print(f"error: {err} (nothing was written)", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk: finished sidecars are kept
        print(f"error: {err} (finished volumes are kept; re-run to resume)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished volumes are kept, re-run to resume.", file=sys.stderr)
        return 130
    print(
        f"prepared {len(summary.prepared)} volume(s), skipped {len(summary.skipped)} already prepared, "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _verify(root: str) -> int:
    start = time.perf_counter()
    try:
        raw_files = find_raw_files(root)
        missing = unprepared(raw_files)
        if missing:
            raise DataFormatError(
                f"{missing[0]}: not prepared ({len(missing)} of {len(raw_files)} volumes); "
                f"`{prepare_command(root)}` prepares them"
            )
        for raw in tqdm(raw_files, desc="verifying", unit="volume"):
            verify_sidecar(sidecar_path(raw), folder=root)
    except (DataFormatError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"verified {len(raw_files)} sidecar(s) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
