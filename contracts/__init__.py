"""Ground floor: the tables at the project's edges (contracts) and the reference data they check.

Pure definitions and loaders: nothing here reads the environment or imports the floors above.
"""
