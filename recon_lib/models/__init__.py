"""Layer 2 -- the networks and what is done with their weights.

The Down-Up block (:mod:`.down_up`), the unrolled sensitivity network (:mod:`.sensitivity_network`),
fastMRI's U-Net baseline (:mod:`.unet`), the PatchGAN discriminator (:mod:`.discriminator`),
checkpoints (:mod:`.checkpoint`), inference helpers (:mod:`.inference`), network interpolation
(:mod:`.interpolation`) and the recipe's stages, one record each (:mod:`.stages`). Imports
:mod:`recon_lib.core` and :mod:`recon_lib.physics` only.
"""
