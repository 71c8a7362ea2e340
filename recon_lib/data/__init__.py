"""Layer 2 -- data: fastMRI-format files, their preparation, the PyTorch dataset, the knee simulator.

:mod:`.fastmri_io` reads and writes the fastMRI multicoil HDF5 layout, :mod:`.prepare` turns a raw
file into its prepared sidecar (coil maps, SENSE reference, foreground), :mod:`.dataset` serves
prepared slices with masks, and :mod:`.phantom` synthesises the embedded knee dataset. Imports
:mod:`recon_lib.core` and :mod:`recon_lib.physics` only.
"""
