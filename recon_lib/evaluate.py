"""Command line of the evaluation: ``python -m recon_lib.evaluate --data data/knee --out docs/results/evaluation``.

The implementation is :mod:`recon_lib.evaluation.table1`; this module only keeps the documented
entry point.
"""

import sys

from recon_lib.evaluation.table1 import main

if __name__ == "__main__":
    sys.exit(main())
