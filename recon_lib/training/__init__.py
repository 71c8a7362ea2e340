"""Layer 3 -- the paper's recipe: typed configuration, the resumable trainer, the evaluation.

:mod:`.config` (settings files), :mod:`.trainer` (``python -m recon_lib.train``) and
:mod:`.evaluation` (``python -m recon_lib.evaluate``: Table 1 and the alpha sweep). May import
every lower layer, never :mod:`recon_lib.teaching`.
"""
