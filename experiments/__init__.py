"""Experiments behind figures of README.md and docs/: each module's docstring gives the exact command
that produced its figures. Run them from the repository root as modules, e.g.
``python -m experiments.query_pruning --help``; ``tests/test_experiments.py`` runs each on a tiny
configuration.
"""
