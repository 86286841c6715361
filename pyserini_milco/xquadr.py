"""``python -m pyserini_milco.xquadr``: XQuAD-R for Pyserini, and its BM25 and MILCO runs.

The command lives in :mod:`pyserini_milco.cli.xquadr`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.xquadr import main
from .errors import run

if __name__ == "__main__":
    run(main)
