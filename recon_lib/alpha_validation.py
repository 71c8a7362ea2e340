"""Command line of the validation sweep: ``python -m recon_lib.alpha_validation --data data/knee``.

The implementation is :mod:`recon_lib.evaluation.alpha_validation`; this module only keeps the
documented entry point.
"""

import sys

from recon_lib.evaluation.alpha_validation import main

if __name__ == "__main__":
    sys.exit(main())
