"""Benchmarks of pyserini-milco: encoding speed, search speed and pruning, distributed encoding.

Run them from the repository root as modules, e.g. ``python -m benchmarks.encode --help``.
"""
