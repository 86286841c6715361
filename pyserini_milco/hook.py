"""``python -m pyserini_milco.hook``: install or remove the ``.pth`` line of the Pyserini import hook.

The command lives in :mod:`pyserini_milco.integration.hook`;
this module runs it (a project error ends it with one line, ``error: <message>``).
"""
from .errors import run
from .integration.hook import main

if __name__ == "__main__":
    run(main)
