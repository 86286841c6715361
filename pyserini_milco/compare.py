"""``python -m pyserini_milco.compare``: runs side by side, each against the first, with a paired
bootstrap interval over the queries.

The command lives in :mod:`pyserini_milco.cli.compare`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .cli.compare import main
from .errors import run

if __name__ == "__main__":
    run(main)
