"""Layer 4 -- what the notebooks and the app use: suite settings, notebook helpers, plots, the alpha explorer.

:mod:`.suite` (data folder, quick mode, device, seeding), :mod:`.notebook` (live training runs for
the notebooks), :mod:`.plotting` (figures) and :mod:`.explorer` (the interactive alpha slider).
May import every layer below.
"""
