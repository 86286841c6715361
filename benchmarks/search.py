"""Search speed and pruning: MILCO impact search against BM25 and dense FAISS search on one XQuAD-R pool,
same machine, same run.

Steps (outputs under ``--work``):

1. XQuAD-R is prepared for ``--languages`` (``pyserini_milco.evaluation.xquadr_folder.prepare``); searched is the
   English pool (about 1,180 sentences) with the questions of every language (X→en, and en→en);
2. the pool is encoded once with ``--encoder`` (in this process, timed) and every query is
   pre-encoded with ``python -m pyserini_milco.encode_queries`` (timed, model loading included), so
   that search time is search only;
   once per query pruning level (``--query-levels``; default: the stock search's, ``DEFAULT_QUERY_PRUNE``);
3. for every pruning level (``none``, ``topk:K``, ``mass:P``) the documents are pruned and quantized
   exactly as ``python -m pyserini_milco.encode --prune LEVEL`` does, written as a
   JsonVectorCollection and indexed with ``pyserini.index.lucene --impact --pretokenized``; the
   pool is also indexed for BM25 (Anserini's English analyzer) and, with ``--dense-encoder`` (default
   multilingual-e5-small), embedded into FAISS flat and HNSW indexes (:mod:`benchmarks.dense_search`);
4. every index is searched with all queries in this process through Pyserini's
   ``LuceneImpactSearcher`` / ``LuceneSearcher`` ``batch_search`` (``--hits`` per query), then
   queries/s is measured on ``--speed-queries`` of them (spread over the languages) with each of
   ``--threads``: the median of ``--repeats`` timed calls after ``--warm-up`` seconds of untimed
   ones, for each query pruning level, with its ratio to the same index searched with unpruned queries and, with
   ``--baseline-encoder``, to a second MILCO model searched unpruned in the same run (e.g. the
   model a change is meant to speed up: its rows are named ``baseline-none``). For
   impact search ``lucene_qps`` also times Lucene's top-k alone (the queries built up front) and
   ``java_qps`` Anserini's search alone (the queries handed over as Java maps, what Pyserini's own
   path builds in Python first), and the printed target lines give the pre-encoded q/s over BM25's
   and the time the Pyserini path adds over each (issue 25);
5. nDCG@10 per setting (the Python metrics, which reproduce ``trec_eval``), averaged over settings;
   index size on disk, terms per document; a JSON file and a PNG plot (index size, terms per
   document and nDCG@10 against the pruning level);
6. with ``--stock-cli``, end to end: the stock search commands (``pyserini.search.lucene --impact
   --encoder``, ``--bm25``, ``pyserini.search.faiss --encoder``) timed from outside on every query,
   query encoding included, with Pyserini's default flags and with ``--batch-size 64 --threads 2``
   (:mod:`benchmarks.stock_cli`), MILCO's q/s printed over each other command's.

Example (from the repository root; about 4 minutes with milco-mini-base on 2 shared cores)::

    python -m benchmarks.search --work /tmp/milco-search --languages en,de,zh,ar
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from pyserini_milco.atomic import atomic_output
from pyserini_milco.collection.corpus import CorpusReader, Document
from pyserini_milco.collection.writer import ChunkedVectorWriter
from pyserini_milco.encoding.pruning import PruneSpec
from pyserini_milco.encoding.terms import DEFAULT_QUANTIZATION_SCALE, SparseVector
from pyserini_milco.evaluation.metrics import read_topics
from pyserini_milco.evaluation.xquadr import PIVOT, Setting, load_xquadr
from pyserini_milco.evaluation.xquadr_folder import Prepared, prepare
from pyserini_milco.integration.lucene import build_index
from pyserini_milco.encoding.options import DEFAULT_QUERY_PRUNE
from pyserini_milco.encoding.index_terms import index_terms

from .common import (add_warm_up_argument, default_encoder, encode_queries, folder_bytes, level_name, machine,
                     ndcg_by_setting, parse_level, search_speed, set_threads, timed, write_json)
from .dense_search import dense_rows
from .stock_cli import stock_ratios, time_stock_commands

DEFAULT_LEVELS = ("none", "topk:10", "topk:20", "topk:50", "topk:100", "mass:0.5", "mass:0.7", "mass:0.9")
BASELINE = "baseline"


def prepare_pool(languages: Sequence[str], work: Path, data_dir: Path | None) -> tuple[Prepared, list[Setting]]:
    """XQuAD-R prepared for ``languages``, and the settings that search the English pool."""
    prepared = prepare(load_xquadr(data_dir, list(dict.fromkeys([PIVOT, *languages]))), work / "xquadr")
    return prepared, [Setting(lang, PIVOT) for lang in languages]


def encode_documents(encoder_name: str, docs: Sequence[Document], batch_size: int,
                     max_length: int) -> tuple[Any, list[SparseVector], float]:
    """(encoder, float vectors, seconds of encoding): the model is loaded before the clock starts."""
    from pyserini_milco.encoding.encoder import MilcoEncoder

    encoder = MilcoEncoder.from_pretrained(encoder_name, device="cpu")
    seconds, vectors = timed(lambda: encoder.encode_vectors([d.text for d in docs], batch_size=batch_size,
                                                            max_length=max_length, show_progress_bar=True))
    return encoder, vectors, seconds


def write_level(encoder, docs: Sequence[Document], vectors: Sequence[SparseVector], spec: PruneSpec | None,
                out: Path, scale: float) -> float:
    """Write one pruning level as a JsonVectorCollection (pruned, then quantized, by the encode CLI's
    own :func:`index_terms`); returns the mean number of terms per document."""
    shutil.rmtree(out, ignore_errors=True)
    terms = index_terms(encoder, vectors, spec, scale)
    writer = ChunkedVectorWriter(out, docs_per_file=max(1, len(docs)))
    with writer:
        writer.write_batch(list(writer.pending(docs)), terms)
    return sum(len(t) for t in terms) / max(1, len(terms))


def search_topics(prepared: Prepared, settings: Sequence[Setting], path: Path, max_questions: int | None) -> Path:
    """One ``qid<TAB>text`` file with the first ``max_questions`` questions (all: None) of every
    setting's query language."""
    with atomic_output(path) as handle:
        for setting in settings:
            lines = prepared.topics(setting.query_lang).read_text(encoding="utf-8").splitlines(keepends=True)
            handle.writelines(lines[:max_questions])
    return path


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for data, encodings, indexes and results")
    parser.add_argument("--encoder", default=None,
                        help="MILCO checkpoint folder or name (default: milco-mini-base, built offline)")
    parser.add_argument("--languages", default="en,de,zh,ar",
                        help="query languages searching the English pool (en: en->en, others: X->en)")
    parser.add_argument("--levels", nargs="+", type=parse_level, default=[parse_level(t) for t in DEFAULT_LEVELS],
                        help="pruning levels: none, topk:K, mass:P, quantile:P")
    parser.add_argument("--query-levels", nargs="+", type=parse_level, default=[DEFAULT_QUERY_PRUNE],
                        help="query pruning levels (none, topk:K, ...), each searched against every document level; "
                             f"default: the stock search's {level_name(DEFAULT_QUERY_PRUNE)} per view")
    parser.add_argument("--baseline-encoder", default=None,
                        help="a second MILCO model (folder or name) searched in the same run, documents and queries "
                             "unpruned; every impact row's q/s is also printed as a ratio to its q/s")
    parser.add_argument("--max-questions", type=int, default=None,
                        help="first N questions of each language (default: all 1190)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="search threads to time")
    parser.add_argument("--hits", type=int, default=100, help="results per query")
    add_warm_up_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="timed searches per measure (median reported)")
    parser.add_argument("--speed-queries", type=int, default=500,
                        help="queries (spread over the languages) that the speed is measured on; nDCG uses all")
    parser.add_argument("--batch-size", type=int, default=32, help="documents per forward pass when encoding")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per document and per query")
    parser.add_argument("--quantization-scale", type=float, default=DEFAULT_QUANTIZATION_SCALE,
                        help="integer weight = round(weight x scale), as the encode CLIs")
    parser.add_argument("--dense-encoder", default="e5-small",
                        help="dense baseline searched through FAISS beside MILCO: e5-small (default, offline), bge-m3, "
                             "a hub id or folder of one of them, or none")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW graph degree (pyserini.index.faiss --M; default 32)")
    parser.add_argument("--ef-construction", type=int, default=200,
                        help="HNSW build beam (pyserini.index.faiss --efC; default 200)")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW search beam (efSearch; default 128)")
    parser.add_argument("--stock-cli", action="store_true",
                        help="also time the stock search commands from outside on every query (text in, run file "
                             "out, query encoding included), with Pyserini's default flags and with --batch-size 64 "
                             "--threads 2: MILCO (--encoder) on the first document level, BM25 and the dense indexes")
    parser.add_argument("--data-dir", type=Path, default=None, help="XQuAD-R folder (default: ../shared/data/xquad-r)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG to draw (default: WORK/search.png)")
    return parser


def impact_rows(args: argparse.Namespace, prepared: Prepared, settings: list[Setting], encoder_name: str,
                topics: Path, queries: tuple[list[str], list[str]], docs: Sequence[Document],
                levels: Sequence[PruneSpec | None], query_levels: Sequence[PruneSpec | None],
                label: str = "") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Encode ``topics`` (``queries``: their ids and texts) and ``docs`` with ``encoder_name``, then index and
    search every document level with every query level; the rows and the encoding times. A ``label``
    (the baseline model's) prefixes level names and folders and is the rows' method."""
    from pyserini.search.lucene import LuceneImpactSearcher

    qids, texts = queries
    prefix = f"{label}-" if label else ""
    query_files, query_seconds = {}, {}
    for query_spec in query_levels:
        query_name = level_name(query_spec)
        query_files[query_name] = args.work / f"{prefix}queries-{query_name.replace(':', '-')}.jsonl"
        query_seconds[query_name] = round(encode_queries(encoder_name, topics, query_files[query_name],
                                                         args.max_length, query_spec), 2)
    encoder, vectors, doc_seconds = encode_documents(encoder_name, docs, args.batch_size, args.max_length)
    rows = []
    for spec in levels:
        name = prefix + level_name(spec)
        folder = args.work / "vectors" / name.replace(":", "-")
        terms = write_level(encoder, docs, vectors, spec, folder, args.quantization_scale)
        index = build_index(folder, args.work / "indexes" / name.replace(":", "-"), impact=True)
        for query_name, query_file in query_files.items():
            searcher = LuceneImpactSearcher(str(index), str(query_file), min_idf=-1)
            run, speed = search_speed(searcher, qids, texts, args, impact=True)
            rows.append({"level": name, "query_level": query_name,
                         "method": label or (spec.method if spec else "none"),
                         "value": spec.value if spec else None, "terms_per_doc": round(terms, 1),
                         "index": str(index), "index_bytes": folder_bytes(index), **speed,
                         "ndcg@10": ndcg_by_setting(run, prepared, settings, set(qids))})
            print(format_row(rows[-1]), flush=True)
    encoding = {"documents": len(docs), "document_seconds": round(doc_seconds, 2),
                "documents_per_s": round(len(docs) / doc_seconds, 2), "queries": len(qids),
                "query_seconds_with_model_loading": query_seconds}
    return rows, encoding


def run_levels(args: argparse.Namespace, prepared: Prepared, settings: list[Setting], encoder_name: str,
               topics: Path) -> dict[str, Any]:
    """Encode, then index and search every pruning level, the baseline model (if any) and BM25; the results."""
    from pyserini.search.lucene import LuceneSearcher

    qids, texts = read_topics(topics)
    docs = list(CorpusReader(prepared.corpus_dir(PIVOT)).documents())
    rows, encoding = impact_rows(args, prepared, settings, encoder_name, topics, (qids, texts), docs, args.levels,
                                 args.query_levels)
    if args.baseline_encoder:
        baseline, encoding["baseline"] = impact_rows(args, prepared, settings, args.baseline_encoder, topics,
                                                     (qids, texts), docs, [None], [None], label=BASELINE)
        rows += baseline
    bm25 = build_index(prepared.corpus_dir(PIVOT), args.work / "indexes" / "bm25", language=PIVOT)
    run, speed = search_speed(LuceneSearcher(str(bm25)), qids, texts, args, impact=False)
    rows.append({"level": "bm25", "method": "bm25", "value": None, "terms_per_doc": None,
                 "index": str(bm25), "index_bytes": folder_bytes(bm25), **speed,
                 "ndcg@10": ndcg_by_setting(run, prepared, settings, set(qids))})
    print(format_row(rows[-1]), flush=True)
    if args.dense_encoder != "none":
        dense, encoding["dense"] = dense_rows(args, prepared, settings, docs, qids, texts)
        for row in dense:
            rows.append(row)
            print(format_row(row), flush=True)
    return {"encoding": encoding, "rows": rows}


def stock_cli(rows: Sequence[dict[str, Any]], encoder_name: str, topics: Path,
              args: argparse.Namespace) -> dict[str, Any]:
    """The stock search commands of MILCO (the first document level), BM25 and the dense indexes, timed
    from outside on every query of ``topics`` (:func:`benchmarks.stock_cli.time_stock_commands`)."""
    milco = next(r for r in rows if "query_level" in r and r["method"] != BASELINE)  # the command prunes its queries
    chosen = {f"milco {milco['level']}": ("milco", milco["index"]),
              **{r["method"]: (r["method"], r["index"]) for r in rows if r["method"].startswith(("bm25", "dense"))}}
    return time_stock_commands(chosen, topics, args.work, argparse.Namespace(**{**vars(args), "encoder": encoder_name}))


def format_row(row: dict[str, Any]) -> str:
    """One printed line of results."""
    speeds = " ".join(f"{t}t {q:.0f} q/s" for t, q in row["qps"].items())
    java = " ".join(f"{t}t {q:.0f} q/s" for t, q in row.get("java_qps", {}).items())
    lucene = " ".join(f"{t}t {q:.0f} q/s" for t, q in row.get("lucene_qps", {}).items())
    terms = f"{row['terms_per_doc']:.1f} terms/doc" if row["terms_per_doc"] is not None else row["method"].upper()
    level = f"{row['level']} (queries {row['query_level']})" if "query_level" in row else row["level"]
    return (f"{level:>9}: {terms}, index {row['index_bytes'] / 2 ** 20:.2f} MiB, nDCG@10 "
            f"{row['ndcg@10']['mean']:.4f} | Pyserini {speeds}"
            + (f" | Anserini alone {java} | Lucene alone {lucene}" if java else ""))


def ratio_line(row: dict[str, Any], reference: dict[str, Any], what: str) -> str:
    """``row``'s Pyserini q/s over ``reference``'s, per thread count, as one printed line."""
    ratios = " ".join(f"{t}t {q / reference['qps'][t]:.2f}x" for t, q in row["qps"].items())
    return f"{row['level']} (queries {row['query_level']}): {ratios} {what}"


def speed_ratios(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each pruned-query impact row's Pyserini q/s over that of the same index searched with
    unpruned queries, and every impact row's over the baseline model's (all measured in this run),
    per thread count."""
    unpruned = {r["level"]: r for r in rows if r.get("query_level") == "none"}
    lines = [ratio_line(r, unpruned[r["level"]], "the q/s with unpruned queries")
             for r in rows if r.get("query_level", "none") != "none" and r["level"] in unpruned]
    baseline = next((r for r in rows if r["method"] == BASELINE), None)
    if baseline:
        lines += [ratio_line(r, baseline, "the baseline model's q/s (documents and queries unpruned)")
                  for r in rows if "query_level" in r and r is not baseline]
    return lines


def per_threads(values: dict[int, str], what: str) -> str:
    """``1 thread{what}: v1; 2 threads: v2``: one figure per thread count, the first named in full."""
    def threads(count: int) -> str:
        return f"{count} thread{'s' * (count != 1)}"

    (first, value), *others = values.items()
    return f"{threads(first)}{what}: {value}" + "".join(f"; {threads(t)}: {v}" for t, v in others)


def target_lines(rows: Sequence[dict[str, Any]], model: str) -> list[str]:
    """The figures that issue 25's targets name, for every impact row searched with the stock query
    pruning: its pre-encoded q/s over BM25's, and the time the Pyserini path adds over Lucene's top-k
    alone and over Anserini's search alone, per thread count, all measured in this run."""
    bm25 = next(r for r in rows if r["method"] == "bm25")
    stock = [r for r in rows if r.get("query_level") == level_name(DEFAULT_QUERY_PRUNE) and r["method"] != BASELINE]
    lines = []
    for row in stock:
        where = f" (documents {row['level']}, queries {row['query_level']}; this run)"
        over_bm25 = {t: f"{q / bm25['qps'][t]:.2f}x" for t, q in row["qps"].items()}
        over_java = {t: f"{row['java_qps'][t] / q - 1:+.0%}" for t, q in row["qps"].items()}
        over_lucene = {t: f"{row['lucene_qps'][t] / q - 1:+.0%}" for t, q in row["qps"].items()}
        lines += [f"{model} pre-encoded {per_threads(over_bm25, ' q/s ÷ BM25 q/s')}{where}",
                  f"{model} Pyserini path over Lucene alone (time per query; Lucene's top-k of the queries built "
                  f"up front), {per_threads(over_lucene, '')}{where}",
                  f"{model} Pyserini path over Anserini's search alone (time per query; queries handed over as "
                  f"Java maps), {per_threads(over_java, '')}{where}"]
    return lines


def plot(results: dict[str, Any], path: Path) -> Path:
    """Index size, terms per document and nDCG@10 against the pruning level, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first_queries = results["rows"][0].get("query_level")
    rows = [r for r in results["rows"] if r.get("query_level", first_queries) == first_queries]
    unpruned = next((r for r in rows if r["method"] == "none"), None)
    bm25 = next(r for r in rows if r["method"] == "bm25")
    dense = next((r for r in rows if r["method"] == "dense-flat"), None)
    measures = [("index size (MiB)", lambda r: r["index_bytes"] / 2 ** 20), ("terms per document",
                lambda r: r["terms_per_doc"]), ("nDCG@10 (mean over settings)", lambda r: r["ndcg@10"]["mean"])]
    figure, axes = plt.subplots(2, 3, figsize=(13, 7), squeeze=False)
    for row_axes, method, label in zip(axes, ("topk", "mass"), ("top-k: terms kept per view", "mass: weight kept")):
        chosen = sorted((r for r in rows if r["method"] == method), key=lambda r: r["value"])
        if not chosen:  # no level of this method was run: nothing to draw on a log axis
            for axis in row_axes:
                axis.set_visible(False)
            continue
        for axis, (title, value) in zip(row_axes, measures):
            axis.plot([r["value"] for r in chosen], [value(r) for r in chosen], "o-", label=method)
            if unpruned:
                axis.axhline(value(unpruned), color="grey", linestyle=":", label="unpruned")
            if title.startswith(("index", "nDCG")):
                axis.axhline(value(bm25), color="tab:red", linestyle="--", label="BM25")
                if dense:
                    axis.axhline(value(dense), color="tab:green", linestyle="-.", label="dense (FAISS flat)")
            axis.set(xlabel=label, title=title)
            axis.set_xscale("log" if method == "topk" else "linear")
            axis.legend(fontsize=8)
    figure.suptitle(f"MILCO pruning on XQuAD-R (English pool): {Path(results['encoder']).name}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: writes ``WORK/search.json`` and the plot."""
    args = build_parser().parse_args(argv)
    set_threads(1)
    started = time.perf_counter()
    encoder_name = args.encoder or default_encoder()
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    prepared, settings = prepare_pool(languages, args.work, args.data_dir)
    topics = search_topics(prepared, settings, args.work / "topics.tsv", args.max_questions)
    results = {"machine": machine("cpu"), "encoder": encoder_name, "settings": [s.name for s in settings],
               "hits": args.hits, **run_levels(args, prepared, settings, encoder_name, topics)}
    results["stock_cli"] = stock_cli(results["rows"], encoder_name, topics, args) if args.stock_cli else {}
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.work / "search.json", results)
    for line in (speed_ratios(results["rows"]) + target_lines(results["rows"], Path(encoder_name).name)
                 + stock_ratios(results["stock_cli"])):
        print(line, flush=True)
    print(f"plot: {plot(results, args.plot or args.work / 'search.png')}; results: {args.work / 'search.json'}; "
          f"{results['seconds']} s in all; encoding: {json.dumps(results['encoding'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
