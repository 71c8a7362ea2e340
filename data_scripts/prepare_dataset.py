#!/usr/bin/env python
"""Prepare a raw fastMRI-format dataset folder for training (coil maps, SENSE reference, foreground).

Usage:
    python data_scripts/prepare_dataset.py DIR [--overwrite]

Every raw ``*.h5`` under DIR (recursively: ``train/``, ``val/``, ``test/``) gets a sidecar
``<stem>.prepared.h5`` next to it (see :mod:`recon_lib.data.prepare`); raw files are never modified.
Volumes already prepared are skipped, so the command can be re-run after an interruption. All
files are validated first: a bad file stops the run with one message naming the file and the
key at fault, before anything is written (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.prepare import prepare_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="dataset folder holding raw fastMRI multicoil *.h5 files")
    parser.add_argument("--overwrite", action="store_true", help="re-prepare volumes that already have a sidecar")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
