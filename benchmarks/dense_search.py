"""Dense FAISS search for ``benchmarks.search``: the same pool and queries as the MILCO impact and BM25 rows.

The pool is embedded in this process (timed, the model loaded first) and written as
``pyserini.encode ... --to-faiss`` writes it (``docid`` + a flat inner-product ``index``); the
searched indexes are built from it by the stock ``python -m pyserini.index.faiss``: flat (exact) and
HNSW (``--hnsw --M --efC``, searched with ``--ef-search``). Queries are embedded once up front, so
that, as for the impact rows' pre-encoded queries, queries/s measures search only: Pyserini's
``FaissSearcher.batch_search`` over the query vectors, ``--threads`` FAISS threads.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pyserini_milco.integration import pyserini_cli
from pyserini_milco.collection.corpus import Document
from pyserini_milco.evaluation.xquadr import Setting
from pyserini_milco.evaluation.xquadr_folder import Prepared

from .common import folder_bytes, ndcg_by_setting, search_speed, timed


def load_embedder(name: str):
    """A dense baseline (``e5-small``, ``bge-m3``, a hub id or a folder) by what it is."""
    from pyserini_milco.baselines import dense
    from pyserini_milco.baselines.registration import baseline_kind

    kind = baseline_kind(name)
    if kind is None:
        raise SystemExit(f"--dense-encoder {name}: not a dense baseline; give e5-small, bge-m3, a hub id or a folder "
                         "of one of them, or none")
    return dense.LOADERS[kind](name)


def write_flat(vectors: np.ndarray, docids: Sequence[str], folder: Path) -> Path:
    """``docid`` and a flat inner-product ``index``: what ``pyserini.encode ... --to-faiss`` writes."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docid").write_text("".join(f"{docid}\n" for docid in docids), encoding="utf-8")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(folder / "index"))
    return folder


def build_indexes(encoded: Path, dimension: int, work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Flat and HNSW indexes built from ``encoded`` by ``python -m pyserini.index.faiss``."""
    variants = {"flat": [], "hnsw": ["--hnsw", "--M", str(args.hnsw_m), "--efC", str(args.ef_construction)]}
    indexes = {}
    for kind, extra in variants.items():
        out = work / f"dense-{kind}"
        pyserini_cli.run("pyserini.index.faiss", ["--input", encoded, "--output", out, "--dim", str(dimension),
                                                  "--threads", "1", *extra], log=work / f"dense-{kind}.log")
        indexes[kind] = out
    return indexes


def dense_rows(args: argparse.Namespace, prepared: Prepared, settings: Sequence[Setting], docs: Sequence[Document],
               qids: list[str], texts: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One result row per FAISS index (flat, HNSW), and the dense encoding times."""
    from pyserini.search.faiss import FaissSearcher

    embedder = load_embedder(args.dense_encoder)
    doc_seconds, doc_vectors = timed(lambda: embedder.embed([d.text for d in docs], "passage",
                                                            batch_size=args.batch_size, max_length=args.max_length))
    query_seconds, query_vectors = timed(lambda: embedder.embed(texts, "query", batch_size=64,
                                                                max_length=args.max_length))
    work = args.work / "indexes"
    encoded = write_flat(doc_vectors.numpy(), [d.id for d in docs], args.work / "vectors" / "dense")
    rows = []
    for kind, index in build_indexes(encoded, doc_vectors.shape[1], work, args).items():
        searcher = FaissSearcher(str(index), None)
        if kind == "hnsw":
            searcher.set_hnsw_ef_search(args.ef_search)
        run, speed = search_speed(searcher, qids, query_vectors.numpy(), args, impact=False)
        rows.append({"level": f"dense-{kind}", "method": f"dense-{kind}", "value": None, "terms_per_doc": None,
                     "index": str(index), "index_bytes": folder_bytes(index), **speed,
                     "ndcg@10": ndcg_by_setting(run, prepared, settings, set(qids))})
    encoding = {"encoder": args.dense_encoder, "dimension": int(doc_vectors.shape[1]),
                "document_seconds": round(doc_seconds, 2), "documents_per_s": round(len(docs) / doc_seconds, 2),
                "query_seconds": round(query_seconds, 2), "queries_per_s": round(len(texts) / query_seconds, 2)}
    return rows, encoding
