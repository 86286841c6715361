"""Search at scale: BM25, MILCO impact search and dense FAISS search on one pool of ~257,000 NTREX-128
sentences, same machine, same run.

The pool (``WORK/pool``): every line of every NTREX-128 file (the English source and the 128
references, the second Spanish one included), 129 × 1,997 = 257,613 sentences, docid
``<lang>-<line>`` (``deu-0005``: line 5 of ``newstest2019-ref.deu.txt``; ``eng-0005``: the English
source; ``spa2-0005``: ``newstest2019-ref-2.spa.txt``), English first, then the query languages,
then the others (``--documents N`` searches the first N).

Queries: the sentences of ``--query-languages`` on every ``--query-every``-th line (default: 12
languages × 50 lines = 600 queries) ask for the same sentence in the other languages: relevant (grade
1) are the 128 other documents of the same line, so nDCG@10 is the share of the top 10 that are
translations of the query, ranked. The query's own sentence is in the pool: it is dropped from the
query's ranked list before nDCG@10, as in translation mining.

Encodings are computed once and cached under ``WORK`` (delete a folder to redo it):

- ``vectors/none``: ``python -m pyserini_milco.encode ... --encoder ENCODER`` (chunked: a crash
  resumes); its wall time is recorded in ``vectors/none.json`` the first time;
- ``vectors/topk-K``: the documents pruned per view to their K heaviest terms, from the cached
  integer weights (ties at the K-th weight broken by term name);
- ``dense/``: ``--dense-encoder`` embeddings in chunks (``pyserini.encode --to-faiss`` layout: ``docid``
  and a flat inner-product ``index``), from which ``pyserini.index.faiss`` builds flat and HNSW indexes;
- ``indexes/``: the Lucene indexes (BM25 with Anserini's English analyzer; impact, pretokenized).

MILCO is searched with the stock query pruning (``--query-prune``) pre-encoded and end to end, and
with further query pruning levels (``--query-levels``) pre-encoded, against every document level:
the plot draws nDCG@10 against q/s for each. Each row of pruned queries gets its cost against the same
index searched with unpruned queries (``none`` among ``--query-levels``): the nDCG@10 difference with a
95% paired-bootstrap interval over the NTREX lines asked (a line's queries in 12 languages ask for the
same translations, so lines, not queries, are resampled), printed and in the table. The stock search commands of some rows (``--stock-cli``)
are also timed from outside on every query (:mod:`benchmarks.stock_cli`), with Pyserini's default
flags and with ``--batch-size 64 --threads 2``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from pyserini_milco.atomic import atomic_output
from pyserini_milco.encoding.options import DEFAULT_QUERY_PRUNE
from pyserini_milco.encoding.pruning import PruneSpec, prune_part
from pyserini_milco.encoding.terms import SparseVector
from pyserini_milco.evaluation.metrics import Qrels, Run, per_query, read_qrels, read_topics

from .common import (NDCG, add_warm_up_argument, encode_queries, end_to_end, evenly, folder_bytes, latency_ms,
                     level_name, machine, parse_level, search_speed, set_threads, timed, write_json)
from .stock_cli import stock_ratios, time_stock_commands

POOL_FILE = re.compile(r"newstest2019-(?:src|ref(-\d+)?)\.(.+)\.txt")
ENGLISH = ("eng", "eng-GB", "eng-US", "eng-IN")
DEFAULT_LEVELS = ("none", "topk:64", "topk:100")
DEFAULT_QUERY_LEVELS = ("none", "topk:10", "topk:40")
PART = 10_000  # documents per corpus file and per cached encoding chunk
DEFAULT_QUERY_LANGUAGES = ("deu", "fra", "spa", "rus", "zho-CN", "jpn", "arb", "hin", "kor", "tur", "vie", "swa")


@dataclass(frozen=True)
class Pool:
    """The files of a prepared pool: the corpus folder (JsonCollection, one file per language),
    the topics (``qid<TAB>text``) and the qrels (TREC)."""

    corpus: Path
    topics: Path
    qrels: Path


def pool_language(path: Path) -> str | None:
    """``deu`` for ``newstest2019-ref.deu.txt``, ``eng`` for the source, ``spa2`` for ``ref-2.spa``;
    None for a file that is not an NTREX-128 text."""
    match = POOL_FILE.fullmatch(path.name)
    if match is None:
        return None
    return match.group(2) + (match.group(1) or "").lstrip("-")


def docid(lang: str, line: int) -> str:
    """``deu-0005``: the document of line ``line`` (1-based) in language ``lang``."""
    return f"{lang}-{line:04d}"


def pool_texts(data_dir: Path, lines: int | None) -> Iterator[tuple[str, list[str]]]:
    """(language, its first ``lines`` sentences; all: None) for every NTREX-128 file, in name order."""
    for path in sorted(data_dir.glob("newstest2019-*.txt")):
        lang = pool_language(path)
        if lang is not None:
            yield lang, path.read_text(encoding="utf-8").splitlines()[:lines]


def pool_order(languages: Sequence[str], query_languages: Sequence[str]) -> list[str]:
    """The languages in the pool's order: English, the query languages, then the others by name (so
    that the first documents of the pool, what a partial run searches, hold every relevant one)."""
    first = [*ENGLISH, *(lang for lang in query_languages if lang not in ENGLISH)]
    return [*first, *sorted(lang for lang in languages if lang not in first)]


def write_pool(data_dir: Path, out: Path, query_languages: Sequence[str], query_every: int,
               lines: int | None = None) -> Pool:
    """Write the pool's corpus, topics and qrels under ``out`` (kept when already written: the
    encodings cached beside them belong to it). The corpus is files of ``PART`` documents in the
    pool's order (:func:`pool_order`; each language's sentences shortest first, so that an encoding
    batch pads little), one encoding chunk each."""
    pool = Pool(out / "corpus", out / "topics.tsv", out / "qrels.txt")
    if pool.qrels.is_file():
        return pool
    texts = dict(pool_texts(data_dir, lines))
    missing = [lang for lang in (*query_languages, *ENGLISH) if lang not in texts]
    if missing:
        raise SystemExit(f"{data_dir}: no NTREX-128 file for {', '.join(missing)}; is --data-dir the NTREX-128 folder?")
    documents = [json.dumps({"id": docid(lang, line), "contents": text}, ensure_ascii=False) + "\n"
                 for lang in pool_order(list(texts), query_languages)
                 for line, text in sorted(enumerate(texts[lang], 1), key=lambda pair: len(pair[1]))]
    pool.corpus.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(documents), PART):
        with atomic_output(pool.corpus / part_name(start // PART)) as handle:
            handle.writelines(documents[start:start + PART])
    asked = range(1, len(texts["eng"]) + 1, query_every)
    with atomic_output(pool.topics) as handle:
        for lang in query_languages:
            handle.writelines(f"{docid(lang, line)}\t{texts[lang][line - 1]}\n" for line in asked)
    with atomic_output(pool.qrels) as handle:
        for lang in query_languages:
            handle.writelines(f"{docid(lang, line)} 0 {docid(other, line)} 1\n" for line in asked for other in texts
                              if other != lang)
    return pool


def part_name(number: int) -> str:
    """``part-00003.jsonl``: the corpus file of documents ``[3 × PART, 4 × PART)``."""
    return f"part-{number:05d}.jsonl"


def finished_record(record: Path, settings: dict) -> dict | None:
    """The record of a finished encoding at ``record`` (None when there is none yet); one made
    with other ``settings`` stops the run, naming what to delete."""
    if not record.is_file():
        return None
    done = json.loads(record.read_text())
    if {key: done[key] for key in settings} != settings:
        raise SystemExit(f"{record.with_suffix('')} was encoded with {done}, not {settings}: "
                         f"delete it (and {record}) to re-encode")
    return done


def cached_milco(pool: Pool, out: Path, encoder: str, precision: str, batch_size: int, max_length: int = 512) -> dict:
    """The pool encoded by ``python -m pyserini_milco.encode`` into ``out`` (resumed when a run
    stopped; nothing redone when complete); its settings and the wall time of the run that
    finished it, from ``out``'s ``.json`` record."""
    from pyserini_milco.integration import pyserini_cli

    record = out.with_suffix(".json")
    settings = {"encoder": encoder, "precision": precision, "batch_size": batch_size}
    if (done := finished_record(record, settings)) is not None:
        return done
    args = ["input", "--corpus", pool.corpus, "output", "--embeddings", out, "--docs-per-file", str(PART),
            "encoder", "--encoder", encoder, "--batch-size", str(batch_size), "--max-length", str(max_length),
            "--device", "cpu", "--threads", "1",
            "--precision", precision]
    seconds, _ = timed(lambda: pyserini_cli.run("pyserini_milco.encode", args, log=out.with_suffix(".log")))
    done = {**settings, "seconds": round(seconds, 1), "machine": machine("cpu"),
            "note": "seconds of the run that finished the encoding (a resumed run times only its own part)"}
    write_json(record, done)
    return done


def embed_chunk(embedder, texts: Sequence[str], batch_size: int, precision: str, max_length: int):
    """``[N, D]`` passage vectors of ``texts``; bf16 through torch's CPU autocast when asked."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        return embedder.embed(list(texts), "passage", batch_size=batch_size, max_length=max_length).float().numpy()


def cached_dense(pool: Pool, out: Path, encoder: str, precision: str, batch_size: int, max_length: int = 512,
                 chunk: int = PART) -> dict:
    """The pool embedded by ``encoder`` into ``out`` as ``pyserini.encode --to-faiss`` writes it
    (``docid`` + a flat inner-product ``index``), chunk by chunk (``out/chunks``: a stopped run
    resumes); its settings and the wall time of the run that finished it, from ``out``'s ``.json``."""
    from pyserini_milco.collection.corpus import CorpusReader

    from .dense_search import load_embedder, write_flat

    record = out.with_suffix(".json")
    settings = {"encoder": encoder, "precision": precision, "batch_size": batch_size}
    if (done := finished_record(record, settings)) is not None:
        return done
    docs = list(CorpusReader(pool.corpus).documents())
    embedder = load_embedder(encoder)
    chunks = out / "chunks"
    chunks.mkdir(parents=True, exist_ok=True)

    def embed_all() -> np.ndarray:
        parts = []
        for start in range(0, len(docs), chunk):
            path = chunks / f"{start // chunk:05d}.npy"
            if not path.is_file():
                with atomic_output(path, mode="wb") as handle:
                    np.save(handle, embed_chunk(embedder, [d.text for d in docs[start:start + chunk]], batch_size,
                                                precision, max_length))
            parts.append(np.load(path))
        return np.concatenate(parts)

    seconds, vectors = timed(embed_all)
    write_flat(vectors, [d.id for d in docs], out)
    done = {**settings, "dimension": int(vectors.shape[1]), "seconds": round(seconds, 1), "machine": machine("cpu"),
            "note": "seconds of the run that finished the embedding (a resumed run times only its own part)"}
    write_json(record, done)
    return done


def prune_terms(terms: dict[str, int], spec: PruneSpec) -> dict[str, int]:
    """``terms`` (an encoded document's integer weights) pruned per view by the package's
    :func:`prune_part`, ties broken by term name: what ``encode --prune`` keeps, up to ties between
    float weights that round to the same integer."""
    kept: dict[str, int] = {}
    for view, prefix in (("pivot", "e_"), ("source", "m_")):
        names = sorted(term for term in terms if term.startswith(prefix))
        if spec.view in (view, "both") and names:
            values = np.array([terms[name] for name in names], dtype=np.float64)
            names = [names[i] for i in prune_part(SparseVector(np.arange(len(names)), values), spec).indices]
        kept.update((name, terms[name]) for name in names)
    return kept


def pruned_chunk(source: Path, out: Path, spec: PruneSpec) -> Path:
    """``source`` (a chunk of the unpruned encoding) pruned into ``out`` (kept when already there)."""
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with source.open(encoding="utf-8") as lines, atomic_output(out) as handle:
            for line in lines:
                document = json.loads(line)
                document["vector"] = prune_terms(document["vector"], spec)
                handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    return out


def linked(files: Sequence[Path], folder: Path) -> Path:
    """A fresh ``folder`` of hard links to ``files`` (no copy): the input folder of one index."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in files:
        os.link(path, folder / path.name)
    return folder


@dataclass(frozen=True)
class Searched:
    """The part of the pool one run searches: its first ``parts`` corpus files (``documents`` documents),
    and the folder for its inputs and indexes."""

    parts: int
    documents: int
    folder: Path


def searched(pool: Pool, work: Path, documents: int | None) -> Searched:
    """The first ``documents`` documents of the pool (rounded up to whole corpus files; all: None)."""
    files = sorted(pool.corpus.glob("part-*.jsonl"))
    parts = len(files) if documents is None else min(len(files), -(-documents // PART))
    count = sum(1 for path in files[:parts] for _ in path.open(encoding="utf-8"))
    return Searched(parts, count, work / f"searched-{count}")


def encoded_chunks(folder: Path, parts: int) -> list[Path] | None:
    """The first ``parts`` finished chunk files of an encoding, or None while one is missing."""
    chunks = [folder / f"embeddings-s000-{number:05d}.jsonl" for number in range(parts)]
    return chunks if all(path.is_file() for path in chunks) else None


def impact_inputs(pool: Pool, work: Path, part: Searched, levels: Sequence[PruneSpec | None], args) -> dict[str, Path]:
    """``{level name: JsonVectorCollection folder}`` of the searched documents for every level: the
    cached encoding's chunks (encoding the pool first when they are missing), pruned for each level."""
    unpruned = work / "vectors" / "none"
    chunks = encoded_chunks(unpruned, part.parts)
    if chunks is None:
        cached_milco(pool, unpruned, args.encoder, args.precision, args.batch_size, args.max_length)
        chunks = encoded_chunks(unpruned, part.parts)
    inputs = {}
    for spec in levels:
        name = level_name(spec)
        files = chunks if spec is None else [pruned_chunk(path, work / "vectors" / name.replace(":", "-") / path.name,
                                                          spec) for path in chunks]
        inputs[name] = linked(files, part.folder / "inputs" / name.replace(":", "-"))
    return inputs


def dense_input(pool: Pool, work: Path, part: Searched, args) -> Path:
    """The searched documents' ``--dense-encoder`` vectors as ``pyserini.encode --to-faiss`` writes
    them, from the cached chunks (embedding the pool first when they are missing)."""
    from pyserini_milco.collection.corpus import CorpusReader

    from .dense_search import write_flat

    chunks = [work / "dense" / "chunks" / f"{number:05d}.npy" for number in range(part.parts)]
    if not all(path.is_file() for path in chunks):
        cached_dense(pool, work / "dense", args.dense_encoder, args.precision, args.batch_size, args.max_length)
    docids = [d.id for path in sorted(pool.corpus.glob("part-*.jsonl"))[:part.parts]
              for d in CorpusReader(path).documents()]
    return write_flat(np.concatenate([np.load(path) for path in chunks]), docids, part.folder / "inputs" / "dense")


#: a query id's NTREX line (``deu-0041`` → ``0041``): the queries of one line in 12 languages ask for the
#: same translations, so pruning costs are resampled by line, not by query
LINE_PATTERN = r"-(\d+)$"
PER_QUERY = "ndcg@10_per_query"


def query_ndcg10(run: Run, qrels: Qrels) -> dict[str, float]:
    """nDCG@10 of every query, with its own sentence dropped from its ranked list."""
    return per_query(qrels, {qid: {d: s for d, s in docs.items() if d != qid} for qid, docs in run.items()},
                     ["ndcg_cut.10"])[NDCG]


def ndcg10(scores: dict[str, float]) -> dict[str, float]:
    """Per-query nDCG@10 averaged per query language, and their mean (``mean``: every query counts once)."""
    languages: dict[str, list[float]] = {}
    for qid, value in scores.items():
        languages.setdefault(qid.rsplit("-", 1)[0], []).append(value)
    return {**{lang: round(sum(v) / len(v), 4) for lang, v in languages.items()},
            "mean": round(sum(scores.values()) / len(scores), 4)}


def pruning_costs(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each MILCO row with pruned queries against the same index searched with unpruned queries: the
    paired bootstrap of the nDCG@10 difference over the NTREX lines (``vs_queries_none``, and one
    printed line each). Drops every row's per-query scores, which the results file does not keep."""
    from pyserini_milco.evaluation.significance import group_items, paired_bootstrap

    unpruned = {r["level"]: r for r in rows if r["method"] == "milco" and r["query_level"] == "none"}
    lines = []
    for row in rows:
        base = unpruned.get(row["level"]) if row["method"] == "milco" and row["query_level"] != "none" else None
        if base is not None:
            cost = paired_bootstrap(group_items(base[PER_QUERY], LINE_PATTERN), group_items(row[PER_QUERY], LINE_PATTERN))
            row["vs_queries_none"] = {"delta": round(cost.difference, 4), "low": round(cost.low, 4),
                                      "high": round(cost.high, 4), "lines": cost.items}
            lines.append(f"milco {row['level']}, queries {row['query_level']} vs queries none: nDCG@10 {cost.difference:+.4f} "
                         f"[{cost.low:+.4f}, {cost.high:+.4f}] over {cost.items} lines"
                         + ("" if cost.excludes_zero else " (within noise)"))
    for row in rows:
        row.pop(PER_QUERY, None)
    return lines


def measured(searcher, queries: tuple[list[str], Sequence], qrels: Qrels, args: argparse.Namespace,
             impact: bool) -> dict[str, Any]:
    """Pre-encoded search on ``queries`` (ids, and texts, pre-encoded query texts or vectors): nDCG@10,
    queries/s per thread count (and Lucene alone for impact search), p50/p99 latency one query at a time."""
    qids, inputs = queries
    run, speed = search_speed(searcher, qids, inputs, args, impact=impact)
    speed["latency_ms"] = latency_ms(lambda query: searcher.search(as_query(query), k=args.hits),
                                     evenly(inputs, args.speed_queries))
    scores = query_ndcg10(run, qrels)
    return {**speed, "ndcg@10": ndcg10(scores), PER_QUERY: scores}


def as_query(query):
    """A query as ``search`` takes it: text, or a vector as a one-row matrix (``FaissSearcher``)."""
    return query if isinstance(query, str) else query.reshape(1, -1)


def sample(qids: list[str], texts: list[str], count: int) -> tuple[list[str], list[str]]:
    """About ``count`` of the queries, spread over the languages (every k-th)."""
    return evenly(qids, count), evenly(texts, count)


def index_once(build, out: Path, reuse: bool) -> Path:
    """``out`` when ``reuse`` and it exists, else ``build(out)``."""
    return out if reuse and out.is_dir() else build(out)


def impact_rows(pool: Pool, work: Path, part: Searched, queries: tuple[list[str], list[str]], qrels: Qrels,
                args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of ``--encoder`` for every document level: with the stock query pruning (``--query-prune``)
    pre-encoded (Anserini and Lucene alone beside it) and end to end through the stock path
    (``LuceneImpactSearcher`` given the encoder's name); with every ``--query-levels`` pruning
    pre-encoded only (nDCG@10, q/s and latency, for the pruning plot)."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from pyserini_milco.integration.lucene import build_index

    stock = level_name(args.query_prune)
    query_levels = {stock: args.query_prune, **{level_name(spec): spec for spec in args.query_levels}}
    query_files, query_seconds = {}, {}
    for name, spec in query_levels.items():
        query_files[name] = part.folder / f"queries-{name.replace(':', '-')}.jsonl"
        query_seconds[name] = encode_queries(args.encoder, pool.topics, query_files[name], args.max_length, spec)
    rows = []
    for name, inputs in impact_inputs(pool, work, part, args.levels, args).items():
        index = index_once(lambda out: build_index(inputs, out, impact=True), part.folder / "indexes" / inputs.name,
                           args.reuse_indexes)
        sizes = {"index": str(index), "index_bytes": folder_bytes(index), "terms_per_doc": terms_per_doc(inputs)}
        for query_name, query_file in query_files.items():
            searcher = LuceneImpactSearcher(str(index), str(query_file), min_idf=-1)
            row = {"row": f"milco {name}" + ("" if query_name == stock else f", queries {query_name}"),
                   "method": "milco", "level": name, "query_level": query_name, **sizes,
                   **measured(searcher, queries, qrels, args, impact=query_name == stock)}
            searcher.close()
            if query_name == stock:
                row["end_to_end"] = end_to_end(lambda: LuceneImpactSearcher(str(index), args.encoder),
                                               *sample(*queries, args.e2e_queries), args.threads, args.hits)
            rows.append(row)
            print(format_row(row), flush=True)
    return rows, {"queries": len(queries[0]), "query_seconds_with_model_loading": round(query_seconds[stock], 2),
                  "queries_per_s_with_model_loading": round(len(queries[0]) / query_seconds[stock], 2)}


def terms_per_doc(folder: Path) -> float:
    """Mean number of terms per document of a JsonVectorCollection folder."""
    documents = terms = 0
    for path in folder.glob("*.jsonl"):
        for line in path.open(encoding="utf-8"):
            documents, terms = documents + 1, terms + len(json.loads(line)["vector"])
    return round(terms / max(1, documents), 1)


def bm25_row(pool: Pool, part: Searched, queries: tuple[list[str], list[str]], qrels: Qrels,
             args: argparse.Namespace) -> dict[str, Any]:
    """BM25 (Anserini's English analyzer) on the searched documents; its search is end to end."""
    from pyserini.search.lucene import LuceneSearcher

    from pyserini_milco.integration.lucene import build_index

    corpus = linked(sorted(pool.corpus.glob("part-*.jsonl"))[:part.parts], part.folder / "inputs" / "bm25")
    index = index_once(lambda out: build_index(corpus, out, language="en"), part.folder / "indexes" / "bm25",
                       args.reuse_indexes)
    searcher = LuceneSearcher(str(index))
    row = {"row": "bm25", "method": "bm25", "level": "bm25", "index": str(index), "index_bytes": folder_bytes(index),
           "terms_per_doc": None,
           **measured(searcher, queries, qrels, args, impact=False)}
    row["end_to_end"] = {"qps": row["qps"], "latency_ms": row["latency_ms"], "note": "text in: the same search"}
    print(format_row(row), flush=True)
    return row


def dense_rows(pool: Pool, work: Path, part: Searched, queries: tuple[list[str], list[str]], qrels: Qrels,
               args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """FAISS flat and HNSW rows of ``--dense-encoder``: queries embedded up front (timed), and end to
    end through ``FaissSearcher`` with the encoder that ``pyserini.search.faiss --encoder`` gets."""
    from pyserini.search.faiss import FaissSearcher

    from pyserini_milco.baselines.registration import query_encoder

    from .dense_search import build_indexes, load_embedder

    qids, texts = queries
    embedder = load_embedder(args.dense_encoder)
    query_seconds, vectors = timed(lambda: embedder.embed(texts, "query", batch_size=64,
                                                          max_length=args.max_length).numpy())
    folder = part.folder / "indexes"
    if not (args.reuse_indexes and all((folder / f"dense-{kind}" / "index").is_file() for kind in ("flat", "hnsw"))):
        build_indexes(dense_input(pool, work, part, args), vectors.shape[1], folder, args)
    encoder = query_encoder(args.dense_encoder)

    def searcher(kind: str, with_encoder: bool):
        made = FaissSearcher(str(folder / f"dense-{kind}"), encoder if with_encoder else None)
        if kind == "hnsw":
            made.set_hnsw_ef_search(args.ef_search)
        return made

    rows = []
    for kind in ("flat", "hnsw"):
        row = {"row": f"{args.dense_encoder} {kind}", "method": f"dense-{kind}", "level": f"dense-{kind}",
               "index": str(folder / f"dense-{kind}"), "index_bytes": folder_bytes(folder / f"dense-{kind}"),
               "terms_per_doc": None,
               **measured(searcher(kind, False), (qids, vectors), qrels, args, impact=False)}
        row["end_to_end"] = end_to_end(lambda: searcher(kind, True), *sample(qids, texts, args.e2e_queries),
                                       args.threads, args.hits)
        rows.append(row)
        print(format_row(row), flush=True)
    return rows, {"encoder": args.dense_encoder, "query_seconds": round(query_seconds, 2),
                  "queries_per_s": round(len(qids) / query_seconds, 2)}


def format_row(row: dict[str, Any]) -> str:
    """One printed line of results."""
    def speeds(what: dict) -> str:
        return " ".join(f"{t}t {q:.0f} q/s" for t, q in what.items())

    e2e = row.get("end_to_end")
    java = (f" | Anserini alone {speeds(row['java_qps'])} | Lucene alone {speeds(row['lucene_qps'])}"
            if row.get("java_qps") else "")
    ends = (f" | end to end {speeds(e2e['qps'])}, p50 {e2e['latency_ms']['p50']:.2f} ms, p99 "
            f"{e2e['latency_ms']['p99']:.2f} ms" if e2e else "")
    return (f"{row['row']:>16}: index {row['index_bytes'] / 2 ** 20:.1f} MiB, nDCG@10 {row['ndcg@10']['mean']:.4f} | "
            f"pre-encoded {speeds(row['qps'])}, p50 {row['latency_ms']['p50']:.2f} ms, p99 "
            f"{row['latency_ms']['p99']:.2f} ms{java}{ends}")


def ratios(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each MILCO row's queries/s over BM25's and the dense rows' (pre-encoded against pre-encoded, end to
    end against end to end), and its p99 over theirs, per thread count: all measured in this run."""
    references = [r for r in rows if r["method"] != "milco"]
    lines = []
    for row in (r for r in rows if r["method"] == "milco" and "end_to_end" in r):
        row["ratios"] = {}
        for reference in references:
            ratio = {"pre-encoded": {t: row["qps"][t] / reference["qps"][t] for t in row["qps"]},
                     "end to end": {t: row["end_to_end"]["qps"][t] / reference["end_to_end"]["qps"][t]
                                    for t in row["end_to_end"]["qps"]},
                     "p99": row["latency_ms"]["p99"] / reference["latency_ms"]["p99"]}
            row["ratios"][reference["row"]] = ratio
            lines.append(f"{row['row']} ÷ {reference['row']}: q/s pre-encoded "
                         + " ".join(f"{t}t {v:.2f}x" for t, v in ratio["pre-encoded"].items())
                         + ", end to end " + " ".join(f"{t}t {v:.2f}x" for t, v in ratio["end to end"].items())
                         + f"; p99 latency (pre-encoded) {ratio['p99']:.2f}x")
    return lines


def stock_cli_rows(rows: Sequence[dict[str, Any]], names: Sequence[str] | None, topics: Path, work: Path,
                   args: argparse.Namespace) -> dict[str, Any]:
    """The stock search commands of the named rows (default: the first MILCO row, BM25 and the dense
    rows) on every query, timed from outside (:func:`benchmarks.stock_cli.time_stock_commands`)."""
    milco = [r for r in rows if r["method"] == "milco" and "end_to_end" in r]
    chosen = names if names is not None else [milco[0]["row"], *(r["row"] for r in rows if r["method"] != "milco")]
    by_name = {r["row"]: r for r in rows}
    unknown = [name for name in chosen if name not in by_name]
    if unknown:
        raise SystemExit(f"--stock-cli: no row named {', '.join(map(repr, unknown))}; rows: {', '.join(by_name)}")
    return time_stock_commands({name: (by_name[name]["method"], by_name[name]["index"]) for name in chosen},
                               topics, work, args)


def markdown(results: dict[str, Any]) -> str:
    """The rows as one markdown table."""
    threads = [str(t) for t in results["threads"]]  # the saved form's keys
    head = (["method", "terms/doc", "index MiB", "nDCG@10", "Δ vs queries none"] + [f"pre-enc q/s {t}t" for t in threads]
            + ["p50 ms", "p99 ms"] + [f"e2e q/s {t}t" for t in threads] + ["e2e p50 ms", "e2e p99 ms"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["rows"]:
        e2e = row.get("end_to_end")
        ends = ([f"{e2e['qps'][t]:.1f}" for t in threads] + [f"{e2e['latency_ms']['p50']:.1f}",
                                                               f"{e2e['latency_ms']['p99']:.1f}"]
                if e2e else [""] * (len(threads) + 2))
        cells = ([row["row"], "" if row["terms_per_doc"] is None else f"{row['terms_per_doc']:.1f}",
                  f"{row['index_bytes'] / 2 ** 20:.1f}", f"{row['ndcg@10']['mean']:.3f}", pruning_cost(row)]
                 + [f"{row['qps'][t]:.0f}" for t in threads]
                 + [f"{row['latency_ms']['p50']:.2f}", f"{row['latency_ms']['p99']:.2f}"] + ends)
        lines.append("| " + " | ".join(cells) + " |")
    stock = results.get("stock_cli") or {}
    if stock:
        lines += ["", "| stock command | flags | q/s beyond start-up | s for all | s for one |", "|---|---|---|---|---|"]
    for name, speed in stock.items():
        for measure in speed["flag_sets"].values():
            qps = "n/a" if measure["qps"] is None else f"{measure['qps']:.1f}"
            lines.append(f"| {name} | {measure['flags']} | {qps} | {measure['seconds_all']:.1f} | "
                         f"{measure['seconds_one']:.1f} |")
    return "\n".join(lines)


def pruning_cost(row: dict[str, Any]) -> str:
    """``−0.027 [−0.035, −0.019]``: a row's nDCG@10 against unpruned queries (empty for other rows)."""
    cost = row.get("vs_queries_none")
    return "" if cost is None else f"{cost['delta']:+.3f} [{cost['low']:+.3f}, {cost['high']:+.3f}]"


def plot(results: dict[str, Any], path: Path) -> Path:
    """nDCG@10 against 1-thread queries/s, pre-encoded and end to end: the MILCO document levels as a
    line per query pruning level (end to end: the stock one), BM25 and the dense indexes as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = str(results["threads"][0])
    figure, axes = plt.subplots(1, 2, figsize=(12, 5), squeeze=False)
    for axis, (title, speed) in zip(axes[0], (("pre-encoded queries", lambda r: r["qps"][first]),
                                              ("end to end (query encoding included)",
                                               lambda r: r["end_to_end"]["qps"][first]))):
        drawn = [r for r in results["rows"] if r["method"] != "milco" or "end_to_end" in r or "pre" in title]
        for query_level in dict.fromkeys(r["query_level"] for r in drawn if r["method"] == "milco"):
            milco = [r for r in drawn if r["method"] == "milco" and r["query_level"] == query_level]
            axis.plot([speed(r) for r in milco], [r["ndcg@10"]["mean"] for r in milco], "o-",
                      label=f"milco, queries {query_level} (documents: levels)")
        for row in drawn:
            if row["method"] != "milco":
                axis.plot(speed(row), row["ndcg@10"]["mean"], "s", label=row["row"])
            axis.annotate(row["level"], (speed(row), row["ndcg@10"]["mean"]), fontsize=7)
        axis.set(xscale="log", xlabel=f"queries/s, {first} thread", ylabel="nDCG@10", title=title)
        axis.legend(fontsize=8)
    figure.suptitle(f"{results['documents']:,} NTREX-128 sentences, {results['queries']} queries asking for their "
                    f"translations; {results['encoder']}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for the pool, its cached encodings, the indexes and the results")
    parser.add_argument("--data-dir", type=Path, default=None, help="NTREX folder (default: ../shared/data/ntrex)")
    parser.add_argument("--lines", type=int, default=None,
                        help="first N lines of every NTREX file (default: all 1,997)")
    parser.add_argument("--documents", type=int, default=None,
                        help=f"search the first N documents of the pool, rounded up to {PART:,} (default: all)")
    parser.add_argument("--query-languages", default=",".join(DEFAULT_QUERY_LANGUAGES),
                        help="NTREX languages whose sentences ask for their translations")
    parser.add_argument("--query-every", type=int, default=40, help="ask with every N-th line (default: 50 lines)")
    parser.add_argument("--encoder", default="milco-mini", help="MILCO model (name or folder; default milco-mini)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="precision of the pool's encodings, both models (bf16 needs a CPU with AVX512-BF16 or "
                             "AMX to be fast; auto: fp32 on the CPU)")
    parser.add_argument("--batch-size", type=int, default=64, help="documents per forward pass when encoding the pool")
    parser.add_argument("--max-length", type=int, default=512,
                        help="tokens per document and per pre-encoded query (NTREX sentences are shorter)")
    parser.add_argument("--levels", nargs="+", type=parse_level, default=[parse_level(t) for t in DEFAULT_LEVELS],
                        help="document pruning levels: none, topk:K, mass:P, quantile:P")
    parser.add_argument("--query-prune", type=parse_level, default=DEFAULT_QUERY_PRUNE,
                        help="query pruning of the rows measured in full, pre-encoded and end to end (default: the "
                             "stock search's)")
    parser.add_argument("--query-levels", nargs="*", type=parse_level,
                        default=[parse_level(t) for t in DEFAULT_QUERY_LEVELS],
                        help="further query pruning levels searched pre-encoded against every document level "
                             f"(nDCG@10, q/s and latency, for the pruning plot; default: {' '.join(DEFAULT_QUERY_LEVELS)})")
    parser.add_argument("--stock-cli", nargs="*", default=None, metavar="ROW",
                        help="rows whose stock search command (pyserini.search.lucene/faiss) is timed from outside "
                             "on every query, with Pyserini's default flags and with --batch-size 64 --threads 2 "
                             "(default: the first MILCO row, BM25 and the dense rows; no ROW: none)")
    parser.add_argument("--dense-encoder", default="e5-small", help="dense baseline searched through FAISS")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW graph degree (pyserini.index.faiss --M)")
    parser.add_argument("--ef-construction", type=int, default=200, help="HNSW build beam (--efC)")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW search beam (efSearch)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="search threads to time")
    parser.add_argument("--hits", type=int, default=100, help="results per query")
    add_warm_up_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="timed pre-encoded searches per measure (median)")
    parser.add_argument("--speed-queries", type=int, default=600, help="queries that pre-encoded speed is measured on")
    parser.add_argument("--e2e-queries", type=int, default=300,
                        help="queries that end-to-end speed is measured on (one timed call each)")
    parser.add_argument("--reuse-indexes", action="store_true",
                        help="search the indexes of an earlier run of the same documents instead of rebuilding them")
    parser.add_argument("--json", type=Path, default=None, help="results file (default: WORK/search-scale.json)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG to draw (default: WORK/search-scale.png)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prints the rows, the ratios and a markdown table; writes the JSON and the plot."""
    from pyserini_milco.evaluation.datasets import require_data_dir

    args = build_parser().parse_args(argv)
    set_threads(1)
    started = time.perf_counter()
    query_languages = [lang.strip() for lang in args.query_languages.split(",") if lang.strip()]
    data = require_data_dir("ntrex", args.data_dir) / "NTREX-128"
    pool = write_pool(data, args.work / "pool", query_languages, args.query_every, args.lines)
    part = searched(pool, args.work, args.documents)
    queries = read_topics(pool.topics)
    qrels = read_qrels(pool.qrels)
    results: dict[str, Any] = {"machine": machine("cpu"), "encoder": args.encoder, "documents": part.documents,
                               "queries": len(queries[0]), "threads": args.threads, "hits": args.hits,
                               "milco_encoding": None, "dense_encoding": None}
    rows, results["milco_queries"] = impact_rows(pool, args.work, part, queries, qrels, args)
    rows.append(bm25_row(pool, part, queries, qrels, args))
    dense, results["dense_queries"] = dense_rows(pool, args.work, part, queries, qrels, args)
    results["rows"] = rows + dense
    results["stock_cli"] = stock_cli_rows(results["rows"], args.stock_cli, pool.topics, part.folder, args)
    for name, record in (("milco_encoding", args.work / "vectors" / "none.json"), ("dense_encoding",
                                                                                   args.work / "dense.json")):
        results[name] = json.loads(record.read_text()) if record.is_file() else "partial pool: encoding still running"
    for line in pruning_costs(results["rows"]) + ratios(results["rows"]) + stock_ratios(results["stock_cli"]):
        print(line, flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.json or args.work / "search-scale.json", results)
    results = json.loads(json.dumps(results))  # as saved: thread counts become the keys "1", "2"
    print(markdown(results))
    print(f"plot: {plot(results, args.plot or args.work / 'search-scale.png')}; results: "
          f"{args.json or args.work / 'search-scale.json'}; {results['seconds']} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
