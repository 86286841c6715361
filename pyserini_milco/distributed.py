"""``python -m pyserini_milco.distributed``: encode a corpus on a Ray cluster, one encoder per worker.

The command lives in :mod:`pyserini_milco.cli.distributed`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.distributed import main
from .errors import run

if __name__ == "__main__":
    run(main)
