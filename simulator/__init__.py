"""The synthetic cargo world: traders, routes, goods, hidden threats, inspections and exercises.

No customs service publishes labelled CBRN or small-arms declarations, so the demo, the tests and
the first models run on this world. Pure generators return Polars frames; `stage.simulate_world`
writes landing files, outcomes and the ground truth the pipeline never reads.
"""
