"""Torch-free helpers for reading and reporting results: metric formatting, statistics and run
identity. ``parse_test_res.py`` and the benchmarks import only this package, so they start fast."""
