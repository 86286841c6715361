"""``python -m pyserini_milco.baselines.fuse``: weighted score fusion of TREC runs, as BGE-M3's authors fuse.

BGE-M3's "Dense+Sparse" (arXiv 2402.03216, section 3.2: ``s = w1 * s_dense + w2 * s_lex`` with
``w1 = 1, w2 = 0.3``) is computed by FlagEmbedding's evaluation
(``C_MTEB/MKQA/hybrid_retrieval/step0-hybrid_search_results.py``) from the top 1000 of the dense run
and the top 1000 of the sparse run: every document of either list scores the weighted sum of its
scores, a list it is missing from adding 0, and the sparse run's Lucene scores are divided by 10^4
(they are ``round(100 w_q) * round(100 w_p)`` sums). So::

    python -m pyserini_milco.baselines.fuse --run dense.txt 1 --run sparse.txt 0.3e-4 --depth 1000 --output run.txt

(``0.3e-4`` = the paper's 0.3 on the Lucene score / 10^4). ``pyserini.search.hybrid`` does not fit here:
it gives a document missing from one list that list's lowest score instead of 0, and it would search
and encode every query again; this reads the two runs the dense and sparse conditions already wrote.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..evaluation.metrics import Run, ranking, read_run, write_run


def fuse(runs: Sequence[tuple[Run, float]], depth: int) -> Run:
    """``{qid: {docid: sum of weight * score}}`` over the top ``depth`` of every run (missing: 0)."""
    fused: Run = {}
    for run, weight in runs:
        for qid, docs in run.items():
            scores = fused.setdefault(qid, {})
            for docid in ranking(docs)[:depth]:
                scores[docid] = scores.get(docid, 0.0) + weight * docs[docid]
    return fused


def _run_and_weight(pair: Sequence[str]) -> tuple[Path, float]:
    path, weight = pair
    try:
        return Path(path), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run {path} {weight}: the weight must be a number") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.baselines.fuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs=2, action="append", required=True, metavar=("RUN", "WEIGHT"),
                        help="a TREC run and the weight its scores get; repeat for every run to fuse")
    parser.add_argument("--depth", type=int, default=1000,
                        help="how many of each run's top documents take part (default 1000, as BGE-M3's authors)")
    parser.add_argument("--hits", type=int, default=1000, help="documents written per query (default 1000)")
    parser.add_argument("--tag", default="fused", help="the run tag written in the last column")
    parser.add_argument("--output", type=Path, required=True, help="the fused TREC run to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        pairs = [_run_and_weight(pair) for pair in args.run]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    missing = [str(path) for path, _ in pairs if not path.is_file()]
    if missing:
        parser.error(f"no such run file: {', '.join(missing)} (run the conditions that write it first)")
    fused = fuse([(read_run(path), weight) for path, weight in pairs], args.depth)
    write_run(fused, args.output, tag=args.tag, depth=args.hits)
    print(f"fused {len(pairs)} runs over {len(fused)} queries into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
