"""Command line of the training recipe: ``python -m recon_lib.train --config configs/teaching.yaml``.

The implementation is :mod:`recon_lib.training.trainer`; this module only keeps the documented
entry point.
"""

import sys

from recon_lib.training.trainer import main

if __name__ == "__main__":
    sys.exit(main())
