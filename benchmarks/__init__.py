"""Latency and concurrency benchmarks: `python -m benchmarks.run` (or `make bench`).

See docs/benchmarks.md for what is measured, how, and the latest figures.
"""
