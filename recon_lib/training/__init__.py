"""Layer 3 -- the paper's recipe: typed configuration, one optimisation step, the resumable trainer.

:mod:`.config` (settings files), :mod:`.steps` (one step of every stage), :mod:`.runtime`
(processes, sample order, the log), :mod:`.discriminator_check` (does the SN-GAN's discriminator
tell the reference from the generator on held-out slices?) and :mod:`.trainer`
(``python -m recon_lib.train``). What the
stages are is :mod:`recon_lib.models.stages`; measuring the results is the sibling layer
:mod:`recon_lib.evaluation`. May import every lower layer, never :mod:`recon_lib.evaluation` or
:mod:`recon_lib.teaching`.
"""
