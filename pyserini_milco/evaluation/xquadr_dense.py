"""multilingual-e5-small (dense) on XQuAD-R, in the same settings as MILCO and BM25.

milco-mini's backbone and its stage-2 teacher: the ceiling milco-mini chases, printed beside it.
Every candidate and question is embedded once (``passage: `` / ``query: `` prefixes, mean pooling,
unit vectors); each pool is searched exhaustively (exact inner products, what a FAISS flat index
returns), the runs are written as TREC files and scored by ``trec_eval`` like the others.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .metrics import read_collection, read_topics, top_hits, write_run
from .xquadr import FULL_POOL
from .xquadr_folder import Prepared, pool_qrels, pool_topics
from .xquadr_scores import XQUADR_SCORE_NAMES, averages, evaluate_pool

MODEL = "multilingual-e5-small"


def run_dense(prepared: Prepared, work: Path, hits: int = 100, batch_size: int = 64, max_length: int = 128) -> dict:
    """Embed, search every pool, evaluate every setting."""
    from ..mini.e5 import E5Embedder

    started = time.perf_counter()
    embedder = E5Embedder(max_length=max_length)
    settings = prepared.settings()
    docids, texts = read_collection(prepared.corpus_dir(FULL_POOL) / "docs.jsonl")
    passages = embedder.embed(texts, "passage", batch_size)
    languages = prepared.manifest()["languages"]
    topics = {lang: read_topics(prepared.topics(lang)) for lang in languages}
    queries = {lang: embedder.embed(topics[lang][1], "query", batch_size) for lang in languages}
    encoding_seconds = round(time.perf_counter() - started, 1)
    results: dict[str, dict] = {}
    for pool in tqdm(list(dict.fromkeys(s.pool for s in settings)), desc=MODEL, unit="pool"):
        mine = [s for s in settings if s.pool == pool]
        keep = np.array([pool == FULL_POOL or d.startswith(f"{pool}-") for d in docids])
        pool_ids = [d for d, k in zip(docids, keep) if k]
        run = {}
        for setting in mine:
            scores = queries[setting.query_lang] @ passages[torch.from_numpy(keep)].T
            run |= top_hits(scores.numpy(), topics[setting.query_lang][0], pool_ids, hits)
        run_path = work / "runs" / f"{pool}.txt"
        write_run(run, run_path, tag=MODEL)
        pool_topics(prepared, pool, mine, work / "topics" / f"{pool}.tsv")
        results |= evaluate_pool(pool_qrels(prepared, pool, mine, work / "qrels" / f"{pool}.txt"), run_path, mine)
    return {"model": MODEL, "hits": hits, "max_length": max_length,
            "seconds": {"total": round(time.perf_counter() - started, 1), "encoding": encoding_seconds},
            "averages": averages(results, XQUADR_SCORE_NAMES), "settings": results}
