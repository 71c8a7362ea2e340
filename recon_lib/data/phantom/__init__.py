"""The knee simulator behind the embedded dataset (used by ``data_scripts/`` and the tests).

:mod:`.anatomy` draws a coronal knee (tissues and their shapes), :mod:`.textures` fills the tissues
with trabecular, muscle and fat texture, :mod:`.coils` simulates the receive array and its noise,
and :mod:`.simulate` turns all of it into a fastMRI-format multicoil volume.
"""
