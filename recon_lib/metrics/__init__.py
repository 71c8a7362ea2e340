"""Layer 2 -- measuring images: SSIM, the training losses built on it, and the evaluation metrics.

:mod:`.ssim` (differentiable SSIM, fastMRI's convention), :mod:`.losses` (L_SN and LSGAN) and
:mod:`.quality` (NMSE, PSNR, SSIM per volume, texture measures, the Table 1 aggregator),
:mod:`.texture` (texture statistics against the noise-free truth, the matched-noise control) and
:mod:`.discrimination` (balanced accuracy and ROC AUC of two sets of scores).
Imports :mod:`recon_lib.core` and :mod:`recon_lib.physics` only.
"""
