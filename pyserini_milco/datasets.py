"""``python -m pyserini_milco.datasets``: download the evaluation and training data from their public sources.

The command lives in :mod:`pyserini_milco.evaluation.datasets`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .errors import run
from .evaluation.datasets import main

if __name__ == "__main__":
    run(main)
