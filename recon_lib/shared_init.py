"""Command line of the shared-initialisation lesson: ``python -m recon_lib.shared_init --data data/knee``.

The implementation is :mod:`recon_lib.evaluation.shared_init`; this module only keeps the
documented entry point.
"""

import sys

from recon_lib.evaluation.shared_init import main

if __name__ == "__main__":
    sys.exit(main())
