"""``python -m pyserini_milco.baselines.rerank``: BGE-M3's multi-vector and "All" modes, a rerank of a dense run.

As BGE-M3's authors evaluate them (arXiv 2402.03216, section 4; FlagEmbedding's
``C_MTEB/MKQA/multi_vector_rerank/step0-rerank_results.py``: ``--top_k 100 --dense_weight 1
--sparse_weight 0.3 --colbert_weight 1``), the top 100 documents of the dense run of every query
are scored again with ``w_dense * s_dense + w_sparse * s_lex + w_colbert * s_mul`` (definitions in
:mod:`.bge_m3`, computed from one forward pass of the query and of each candidate, lexical weights
unquantized) and written in that order:

* multi-vector: ``--dense-weight 0 --sparse-weight 0 --colbert-weight 1``;
* All: ``--dense-weight 1 --sparse-weight 0.3 --colbert-weight 1`` (the defaults).

Only the top ``--depth`` of each query are written (the authors' runs hold the 100 reranked
documents). Candidates are encoded a few queries at a time (``--queries-per-pass``), so memory holds
the token vectors of those queries' candidates only. Topics are what ``pyserini.search.*`` read (a
file or a Pyserini topics name); the corpus is a JsonCollection file or folder, read with
``--fields`` joined by a space, as ``pyserini.encode ... encoder --fields`` gives the dense encoder.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Iterator, Sequence

from tqdm.auto import tqdm

from ..modeling.checkpoint import CheckpointError
from ..collection.corpus import CorpusError, CorpusReader, batched
from ..evaluation.metrics import Run, ranking, read_run, write_run
from .bge_m3 import BgeM3Encoder, M3Vectors, colbert_score, dense_score, lexical_score


@dataclasses.dataclass(frozen=True)
class Weights:
    """How much each of BGE-M3's three scores counts."""

    dense: float = 1.0
    sparse: float = 0.3
    colbert: float = 1.0

    def needed(self) -> dict[str, bool]:
        """The representations :meth:`BgeM3Encoder.encode` must compute for these weights."""
        return {"dense": self.dense != 0, "lexical": self.sparse != 0, "colbert": self.colbert != 0}


def combined_score(weights: Weights, queries: M3Vectors, q: int, passages: M3Vectors, p: int) -> float:
    """``w_dense * s_dense + w_sparse * s_lex + w_colbert * s_mul`` of query ``q`` and passage ``p``."""
    score = 0.0
    if weights.dense:
        score += weights.dense * dense_score(queries.dense[q], passages.dense[p])
    if weights.sparse:
        score += weights.sparse * lexical_score(queries.lexical[q], passages.lexical[p])
    if weights.colbert:
        score += weights.colbert * colbert_score(queries.colbert[q], passages.colbert[p])
    return score


def read_topics(topics: str) -> dict[str, str]:
    """``{qid: query}`` of a topics file or Pyserini topics name (Pyserini's own reader)."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    iterator = get_query_iterator(topics, TopicsFormat.DEFAULT)
    return {str(qid): iterator.get_query(qid) for qid in iterator.topics}


def candidates(run: Run, topics: dict[str, str], depth: int) -> dict[str, list[str]]:
    """The top ``depth`` docids of every query that has a topic."""
    unknown = sorted(set(run) - set(topics))
    if unknown:
        raise ValueError(f"the run has {len(unknown)} queries that the topics lack (e.g. {unknown[0]}); "
                         "pass the topics the run was searched with")
    return {qid: ranking(docs)[:depth] for qid, docs in run.items()}


def passage_texts(corpus: Path, fields: Sequence[str], wanted: set[str]) -> dict[str, str]:
    """Texts of the ``wanted`` documents, streamed from the corpus (only those are kept)."""
    texts = {doc.id: doc.text for doc in CorpusReader(corpus, fields).documents() if doc.id in wanted}
    missing = sorted(wanted - set(texts))
    if missing:
        raise ValueError(f"{corpus}: {len(missing)} documents of the run are not in the corpus (e.g. {missing[0]}); "
                         "pass the corpus the dense index was built from")
    return texts


def rerank(encoder: BgeM3Encoder, topics: dict[str, str], ranked: dict[str, list[str]], texts: dict[str, str],
           weights: Weights, settings: argparse.Namespace) -> Iterator[tuple[str, dict[str, float]]]:
    """``(qid, {docid: combined score})`` for every query, a few queries per encoding pass."""
    needed = weights.needed()
    for chunk in batched(list(ranked), settings.queries_per_pass):
        queries = encoder.encode([topics[q] for q in chunk], settings.batch_size, settings.max_length, **needed)
        docids = list(dict.fromkeys(d for q in chunk for d in ranked[q]))
        passages = encoder.encode([texts[d] for d in docids], settings.batch_size, settings.max_length, **needed)
        position = {docid: i for i, docid in enumerate(docids)}
        for i, qid in enumerate(chunk):
            yield qid, {d: combined_score(weights, queries, i, passages, position[d]) for d in ranked[qid]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.baselines.rerank", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="the dense run whose top documents are reranked")
    parser.add_argument("--topics", required=True, help="the topics the run was searched with (file or Pyserini name)")
    parser.add_argument("--corpus", type=Path, required=True, help="JsonCollection file or folder holding the documents")
    parser.add_argument("--output", type=Path, required=True, help="the reranked TREC run to write")
    parser.add_argument("--encoder", default="bge-m3", help="bge-m3 (= BAAI/bge-m3), a hub id or a BGE-M3 folder")
    parser.add_argument("--depth", type=int, default=100, help="documents reranked (and written) per query (default 100)")
    parser.add_argument("--dense-weight", type=float, default=1.0, help="weight of the dense score (default 1)")
    parser.add_argument("--sparse-weight", type=float, default=0.3, help="weight of the lexical score (default 0.3)")
    parser.add_argument("--colbert-weight", type=float, default=1.0, help="weight of the multi-vector score (default 1)")
    parser.add_argument("--fields", nargs="+", default=["title", "text"],
                        help="document fields joined by a space, as the dense encoder read them (default: title text)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per query and per document (default 512)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default 16)")
    parser.add_argument("--queries-per-pass", type=int, default=8,
                        help="queries whose candidates are encoded together (default 8; memory grows with it)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    weights = Weights(args.dense_weight, args.sparse_weight, args.colbert_weight)
    if not any(weights.needed().values()):
        parser.error("every weight is 0: give at least one score a weight")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        topics = read_topics(args.topics)
        ranked = candidates(read_run(args.run), topics, args.depth)
        texts = passage_texts(args.corpus, args.fields, {d for docids in ranked.values() for d in docids})
        encoder = BgeM3Encoder.from_pretrained(args.encoder, device=args.device)
    except (CheckpointError, CorpusError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    scored = dict(tqdm(rerank(encoder, topics, ranked, texts, weights, args), total=len(ranked), desc="reranking"))
    write_run(scored, args.output, tag="bge-m3-rerank", depth=args.depth)
    print(f"reranked the top {args.depth} of {len(scored)} queries into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
