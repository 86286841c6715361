"""``python -m pyserini_milco.demo``: MILCO end to end, offline, on 2 CPU cores (``make demo``).

The command lives in :mod:`pyserini_milco.cli.demo`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.demo import main
from .errors import run

if __name__ == "__main__":
    run(main)
