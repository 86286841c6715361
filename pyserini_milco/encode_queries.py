"""``python -m pyserini_milco.encode_queries``: pre-encode topics so search needs no model.

The command lives in :mod:`pyserini_milco.cli.encode_queries`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.encode_queries import main
from .errors import run

if __name__ == "__main__":
    run(main)
