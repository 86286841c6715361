"""``python -m pyserini_milco.search``: ``python -m pyserini.search.lucene`` with MILCO switched on.

The command lives in :mod:`pyserini_milco.cli.search`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.search import main
from .errors import run

if __name__ == "__main__":
    run(main)
