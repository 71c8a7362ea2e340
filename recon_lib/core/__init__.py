"""Layer 0 -- helpers every other layer may use: entry checks, atomic file writes, tensor layout, devices.

Imports nothing from the rest of ``recon_lib``.
"""
