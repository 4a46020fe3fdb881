"""Benchmarks of the nightly run and of watch-list screening (not shipped in the wheel)."""
