"""multilingual-e5-small (dense) on XQuAD-R, in the same settings as MILCO and BM25.

milco-mini's backbone and its stage-2 teacher: the ceiling milco-mini chases, printed beside it.
Every candidate and question is embedded once (``passage: `` / ``query: `` prefixes, mean pooling,
unit vectors); each pool is searched exhaustively (exact inner products, what a FAISS flat index
returns), the runs are written as TREC files and scored by ``trec_eval`` like the others.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .metrics import metric, write_run
from .xquadr import BM25_METRICS, FULL_POOL, Prepared, averages, evaluate_pool, pool_qrels, pool_topics

MODEL = "multilingual-e5-small"


def read_jsonl_texts(path: Path) -> tuple[list[str], list[str]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["id"] for r in records], [r["contents"] for r in records]


def read_topics(path: Path) -> tuple[list[str], list[str]]:
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [qid for qid, _ in rows], [text for _, text in rows]


def exhaustive_run(queries: torch.Tensor, qids: list[str], passages: torch.Tensor, docids: list[str],
                   hits: int) -> dict[str, dict[str, float]]:
    """Each query's ``hits`` best passages by inner product."""
    scores = queries @ passages.T
    best = scores.topk(min(hits, len(docids)), dim=1)
    return {qid: {docids[j]: float(v) for v, j in zip(values.tolist(), rows.tolist())}
            for qid, values, rows in zip(qids, best.values, best.indices)}


def run_dense(prepared: Prepared, work: Path, hits: int = 100, batch_size: int = 64, max_length: int = 128) -> dict:
    """Embed, search every pool, evaluate every setting."""
    from ..mini.e5 import E5Embedder

    started = time.perf_counter()
    embedder = E5Embedder(max_length=max_length)
    settings = prepared.settings()
    docids, texts = read_jsonl_texts(prepared.corpus_dir(FULL_POOL) / "docs.jsonl")
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
            run |= exhaustive_run(queries[setting.query_lang], topics[setting.query_lang][0],
                                  passages[torch.from_numpy(keep)], pool_ids, hits)
        run_path = work / "runs" / f"{pool}.txt"
        write_run(run, run_path, tag=MODEL)
        pool_topics(prepared, pool, mine, work / "topics" / f"{pool}.tsv")
        results |= evaluate_pool(pool_qrels(prepared, pool, mine, work / "qrels" / f"{pool}.txt"), run_path, mine)
    names = [metric(m)[0] for m in BM25_METRICS]
    return {"model": MODEL, "hits": hits, "max_length": max_length,
            "seconds": {"total": round(time.perf_counter() - started, 1), "encoding": encoding_seconds},
            "averages": averages(results, names), "settings": results}
