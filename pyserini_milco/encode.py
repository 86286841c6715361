"""``python -m pyserini_milco.encode``: encode a corpus with MILCO into a JsonVectorCollection.

The command lives in :mod:`pyserini_milco.cli.encode`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.encode import main
from .errors import run

if __name__ == "__main__":
    run(main)
