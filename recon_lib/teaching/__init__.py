"""Layer 4 -- what the notebooks and the apps use: suite settings, notebook helpers, plots, the explorers.

:mod:`.suite` (data folder, quick mode, device, seeding), :mod:`.notebook` (live training runs for
the notebooks), :mod:`.exercises` (the notebooks' exercises), :mod:`.plotting` (figures) and
:mod:`.explorer` (the alpha slider and the triangle of three networks) and :mod:`.claims` (the check of
the numbers the documentation quotes against the result files). May import every layer below.
"""
