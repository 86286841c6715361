"""``python -m pyserini_milco.compare``: runs side by side, each against the first, with a paired
bootstrap interval over the queries (:mod:`pyserini_milco.evaluation.significance`).

Every run is scored in Python with ``trec_eval -c``'s definitions (every query of the qrels; one
missing from a run scores 0). Example::

    python -m pyserini_milco.compare --qrels qrels.txt --run bm25.txt --run milco.txt --metric ndcg_cut.10

prints a Markdown table: each run's mean, its difference from the first run with the interval, and
how many items it wins and loses. An interval that excludes 0 is marked ``*``.
"""
from __future__ import annotations

import argparse

from ..evaluation.significance import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, compare_table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qrels", required=True, help="TREC qrels file (qid iter docid grade)")
    parser.add_argument("--run", action="append", required=True, metavar="RUN",
                        help="TREC run file; give two or more, the first is the baseline the others are compared to")
    parser.add_argument("--metric", default="ndcg_cut.10", help="ndcg_cut.K, recall.K or map (default ndcg_cut.10)")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples (default 10000)")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="interval coverage (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    parser.add_argument("--item-pattern", default=None, metavar="REGEX",
                        help="resample queries that share an item together: the item of a query id is the "
                             "regex's first group, e.g. '^q?(\\d+)' when q12-de and q12-zh are one question "
                             "(default: every query is its own item)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print(compare_table(args.qrels, args.run, args.metric, args.resamples, args.confidence, args.seed,
                        args.item_pattern))
