"""Layer 1 -- the MRI forward model and its classical inverses.

Centred FFTs (:mod:`.fft`), the SENSE coil operators E and E^H (:mod:`.coils`), Cartesian
undersampling masks (:mod:`.masks`), coil-wise k-space data consistency (:mod:`.data_consistency`),
ESPIRiT coil maps (:mod:`.espirit`) and the classical baselines CG-SENSE and L1-wavelet
(:mod:`.classical`). Imports only :mod:`recon_lib.core`.
"""
