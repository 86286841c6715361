"""MILCO on XQuAD-R through Lucene impact indexes, in the same settings as the BM25 baseline.

Each candidate and each question is encoded once: the full pool's corpus with
``python -m pyserini_milco.encode`` (the language pools are its subsets, split by docid prefix),
all questions with ``python -m pyserini_milco.encode_queries``. Every pool then gets an impact
index (``--impact --pretokenized``) and one stock ``pyserini.search.lucene --impact`` run per
view, with the pre-encoded queries. The pivot-only view needs no index of its own: the score is
a sum over terms, so pivot-only queries (the ``e_`` terms of the dual query) against the dual
index score exactly ``pivot_q · pivot_d``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..encoding.terms import PIVOT_PREFIX
from ..integration import pyserini_cli
from ..integration.lucene import build_index, search
from .xquadr import FULL_POOL
from .xquadr_folder import Prepared, pool_qrels, pool_topics
from .xquadr_scores import XQUADR_SCORE_NAMES, averages, evaluate_pool

VIEWS = ("dual", "pivot")


def encode_corpus(encoder: str, corpus: Path, out: Path, batch_size: int, max_length: int, threads: int) -> Path:
    """Encode ``corpus`` into a JsonVectorCollection folder (resumes if interrupted)."""
    args = ["input", "--corpus", corpus, "output", "--embeddings", out, "encoder", "--encoder", encoder,
            "--device", "cpu", "--batch-size", str(batch_size), "--max-length", str(max_length),
            "--threads", str(threads)]
    pyserini_cli.run("pyserini_milco.encode", args, log=out.with_suffix(".log"))
    return out


def split_by_language(encoded: Path, out: Path, languages: list[str]) -> dict[str, Path]:
    """One folder per language pool, holding the lines of ``encoded`` whose docid starts with it."""
    lines: dict[str, list[str]] = {lang: [] for lang in languages}
    for chunk in sorted(encoded.glob("*.jsonl")):
        for line in chunk.read_text(encoding="utf-8").splitlines(keepends=True):
            lang = json.loads(line)["id"].split("-", 1)[0]
            lines[lang].append(line)
    folders = {}
    for lang, kept in lines.items():
        with atomic_output(out / lang / "embeddings.jsonl") as handle:
            handle.writelines(kept)
        folders[lang] = out / lang
    return folders


def encode_topics(encoder: str, prepared: Prepared, languages: list[str], work: Path, max_length: int) -> dict[str, Path]:
    """Pre-encoded queries of every language: ``{view: queries.jsonl}`` (pivot = the dual query's e_ terms)."""
    topics = work / "topics-all.tsv"
    with atomic_output(topics) as handle:
        for lang in languages:
            handle.write(prepared.topics(lang).read_text(encoding="utf-8"))
    dual = work / "queries-dual.jsonl"
    if not dual.is_file():
        pyserini_cli.run("pyserini_milco.encode_queries", ["--topics", topics, "--encoder", encoder, "--output", dual,
                                                            "--device", "cpu", "--max-length", str(max_length)],
                         log=dual.with_suffix(".log"))
    pivot = work / "queries-pivot.jsonl"
    with atomic_output(pivot) as handle:
        for line in dual.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record["vector"] = {t: w for t, w in record["vector"].items() if t.startswith(PIVOT_PREFIX)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"dual": dual, "pivot": pivot}


def terms_per_document(encoded: Path) -> float:
    counts = [len(json.loads(line)["vector"]) for chunk in sorted(encoded.glob("*.jsonl"))
              for line in chunk.read_text(encoding="utf-8").splitlines()]
    return round(sum(counts) / max(1, len(counts)), 1)


def run_milco(prepared: Prepared, work: Path, encoder: str, threads: int = 2, hits: int = 100,
              batch_size: int = 32, max_length: int = 128) -> dict:
    """Encode, index every pool, search it with each view's queries, evaluate every setting."""
    started = time.perf_counter()
    settings = prepared.settings()
    languages = prepared.manifest()["languages"]
    encoded_all = encode_corpus(encoder, prepared.corpus_dir(FULL_POOL), work / "encoded" / FULL_POOL,
                                batch_size, max_length, threads)
    encoded = {FULL_POOL: encoded_all, **split_by_language(encoded_all, work / "encoded-split", languages)}
    queries = encode_topics(encoder, prepared, languages, work, max_length)
    encoding_seconds = round(time.perf_counter() - started, 1)
    results: dict[str, dict] = {view: {} for view in VIEWS}
    for pool in tqdm(list(dict.fromkeys(s.pool for s in settings)), desc="MILCO", unit="pool"):
        mine = [s for s in settings if s.pool == pool]
        index = build_index(encoded[pool], work / "indexes" / pool, impact=True, threads=threads)
        topics = pool_topics(prepared, pool, mine, work / "topics" / f"{pool}.tsv")
        qrels = pool_qrels(prepared, pool, mine, work / "qrels" / f"{pool}.txt")
        for view in VIEWS:
            run = search(index, topics, work / "runs" / view / f"{pool}.txt", hits=hits, impact=True,
                         encoder=str(queries[view]), threads=threads)
            results[view] |= evaluate_pool(qrels, run, mine)
    return {
        "model": encoder, "hits": hits, "threads": threads, "max_length": max_length,
        "terms_per_document": terms_per_document(encoded_all),
        "seconds": {"total": round(time.perf_counter() - started, 1), "encoding": encoding_seconds},
        "views": {view: {"averages": averages(results[view], XQUADR_SCORE_NAMES), "settings": results[view]}
                  for view in VIEWS},
    }
