"""Layer 4 -- what the notebooks and the apps use: suite settings, notebook helpers, plots, the explorers.

:mod:`.suite` (data folder, quick mode, device, seeding), :mod:`.notebook` (live training runs for
the notebooks), :mod:`.exercises` (the notebooks' exercises), :mod:`.plotting` (figures) and
:mod:`.explorer` (the alpha slider and the triangle of three networks). May import every layer below.
"""
