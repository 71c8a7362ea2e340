"""Layer 3 -- measuring the trained networks: Table 1, the alpha sweep and the lessons built on it.

:mod:`.protocol` (test volumes under fixed masks, scored), :mod:`.baselines` (the classical rows,
tuned on the validation split), :mod:`.sweep` and :mod:`.sweep_plot` (the alpha sweep, the automatic
alpha, its figures), :mod:`.table1` (``python -m recon_lib.evaluate``), :mod:`.alpha_validation`
(``python -m recon_lib.alpha_validation``), :mod:`.shared_init` (``python -m recon_lib.shared_init``),
:mod:`.critic` (a held-out critic: the classifier two-sample test) and :mod:`.perception`
(``python -m recon_lib.perception``), and what those commands share (:mod:`.commands`). A sibling
of :mod:`recon_lib.training`: it reads checkpoints through :mod:`recon_lib.models.stages`, never the
trainer. May import every lower layer, never :mod:`recon_lib.training` or :mod:`recon_lib.teaching`.
"""
