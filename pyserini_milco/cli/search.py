"""``python -m pyserini_milco.search``: ``python -m pyserini.search.lucene`` with MILCO switched on.

Takes every argument of the stock command, adds ``--impact`` when missing, and accepts MILCO's
query flags (``--quantization-scale``, ``--source-view``, ``--lowercase``); ``--min-idf`` defaults
to -1 so that query terms found in every document (MILCO's ``m_<s>``/``m_</s>``) are kept.
It works whether or not the start-up hook is installed or disabled. Example::

    python -m pyserini_milco.search --index idx --topics topics.tsv --output run.txt \\
        --encoder milco-mini --hits 1000 --batch-size 32 --threads 2
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys

from .options import add_encoding_options, options_from_args, options_to_env


def split_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(MILCO's own flags, the arguments for Pyserini with ``--impact`` and ``--min-idf -1`` ensured)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_encoding_options(parser, documents=False)
    ours, rest = parser.parse_known_args(argv)
    if "--impact" not in rest:
        rest.append("--impact")
    if "--min-idf" not in rest:
        rest += ["--min-idf", "-1"]
    return ours, rest


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        parser = argparse.ArgumentParser(prog="MILCO flags", add_help=False)
        add_encoding_options(parser, documents=False)
        parser.print_help()
        print("\nPyserini's flags follow:\n")
    ours, rest = split_arguments(argv)
    os.environ.update(options_to_env(options_from_args(ours)))
    import _pyserini_milco_hook

    _pyserini_milco_hook.install(force=True)
    sys.argv = ["pyserini.search.lucene", *rest]
    runpy.run_module("pyserini.search.lucene", run_name="__main__", alter_sys=True)
