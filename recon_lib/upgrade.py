"""Command line: bring files written by an older recon_lib up to the current formats.

``python -m recon_lib.upgrade checkpoints/*.pt`` verifies each checkpoint (finite weights, a
model that loads) and re-writes format-1 files with the checksum that loading now requires
(:func:`recon_lib.models.checkpoint.upgrade_checkpoint`). Files already current are only verified.
Exit status 2 with one line naming the file on the first one that cannot be upgraded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recon_lib.models.checkpoint import FORMAT, CheckpointError, upgrade_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recon_lib.upgrade", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="checkpoint files (*.pt)")
    args = parser.parse_args(argv)
    for file in args.files:
        try:
            changed = upgrade_checkpoint(file)
        except CheckpointError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{file}: {'upgraded to' if changed else 'verified, already'} {FORMAT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
