"""Scoring a retriever on the NTREX development set (written by :func:`.ntrex_groups.write_devset`).

Checkpoints are chosen here, never on the figures that go into the README. Exhaustive scoring in
Python (a ~490-passage pool needs no index): MILCO's sparse vectors as SciPy CSR rows over both
views, a dense model's unit vectors as a matrix; nDCG@10 and R@100 with the package's trec_eval
definitions (:mod:`pyserini_milco.evaluation`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..evaluation.metrics import evaluate, read_collection, read_qrels, read_topics, top_hits

#: Texts of a kind (``"query"`` / ``"passage"``) → a ``[N, D]`` matrix (NumPy, SciPy sparse or torch).
EncodeFn = Callable[[Sequence[str], str], object]
DEFAULT_SETTINGS = ("ar-en", "de-en", "es-en", "hi-en", "vi-en", "zh-en", "de-de", "zh-zh", "ar-ar")
METRICS = ("ndcg_cut.10", "recall.100")
#: a pooled development query id (``<setting>:<qid>``, variants' qids ending ``-s1``/``-s3``) → its held-out
#: passage: what a paired bootstrap resamples (every setting and variant of a passage moves together)
DEV_ITEM_PATTERN = r":(.+?)(?:-s\d)?$"


@dataclasses.dataclass
class DevSet:
    folder: Path
    qrels: dict[str, dict[str, int]]

    def topics(self, language: str) -> tuple[list[str], list[str]]:
        return read_topics(self.folder / f"topics.{language}.tsv")

    def pool(self, language: str) -> tuple[list[str], list[str]]:
        return read_collection(self.folder / f"pool.{language}.jsonl")


def load_devset(folder: str | Path) -> DevSet:
    folder = Path(folder)
    if not (folder / "qrels.txt").is_file():
        raise FileNotFoundError(f"{folder}: no development set (qrels.txt missing); write one with "
                                "`python -m pyserini_milco.train groups --out DIR` (DIR/dev)")
    return DevSet(folder, read_qrels(folder / "qrels.txt"))


def dense_scores(queries: object, passages: object) -> np.ndarray:
    """``queries @ passages.T`` as a dense float64 array, for NumPy, SciPy sparse or torch inputs."""
    product = queries @ passages.T
    if hasattr(product, "toarray"):
        product = product.toarray()
    if hasattr(product, "numpy"):
        product = product.numpy()
    return np.asarray(product, dtype=np.float64)


def setting_runs(devset: DevSet, encode: EncodeFn, settings: Sequence[str],
                 depth: int = 100) -> Iterator[tuple[str, list[str], dict]]:
    """``(setting, query ids, run)`` for each ``<query language>-<pool language>`` setting: exhaustive
    dot-product search of ``encode``'s query rows against its pool's passage rows (each pool encoded
    once), ``depth`` hits per query."""
    pools: dict[str, tuple[list[str], object]] = {}
    for setting in settings:
        query_language, pool_language = setting.split("-")
        if pool_language not in pools:
            docids, texts = devset.pool(pool_language)
            pools[pool_language] = (docids, encode(texts, "passage"))
        docids, matrix = pools[pool_language]
        qids, texts = devset.topics(query_language)
        yield setting, qids, top_hits(dense_scores(encode(texts, "query"), matrix), qids, docids, depth)


def evaluate_retriever(devset: DevSet, encode: EncodeFn, settings: Sequence[str] = DEFAULT_SETTINGS) -> dict[str, float]:
    """``ndcg@10_<q>-<p>`` and ``recall@100_<q>-<p>`` per setting, their means over settings, and
    ``ndcg@10_mean`` (what checkpoints are chosen by). Each pool is encoded once."""
    out: dict[str, float] = {}
    for setting, _, run in setting_runs(devset, encode, settings):
        scores = evaluate(devset.qrels, run, METRICS)
        out[f"ndcg@10_{setting}"] = round(scores["ndcg_cut_10"], 4)
        out[f"recall@100_{setting}"] = round(scores["recall_100"], 4)
    out["ndcg@10_mean"] = round(float(np.mean([out[f"ndcg@10_{s}"] for s in settings])), 4)
    out["recall@100_mean"] = round(float(np.mean([out[f"recall@100_{s}"] for s in settings])), 4)
    return out
