"""Command line of the perception scores: ``python -m recon_lib.perception --data data/knee``.

The implementation is :mod:`recon_lib.evaluation.perception`; this module only keeps the
documented entry point.
"""

import sys

from recon_lib.evaluation.perception import main

if __name__ == "__main__":
    sys.exit(main())
