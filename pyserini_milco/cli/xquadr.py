"""``python -m pyserini_milco.xquadr prepare|bm25|milco|dense``: XQuAD-R for Pyserini, and its BM25,
MILCO and dense (multilingual-e5-small) runs.

The data and its settings are :mod:`pyserini_milco.evaluation.xquadr`, the folder ``prepare`` writes
:mod:`~pyserini_milco.evaluation.xquadr_folder`, the scores every run reports
:mod:`~pyserini_milco.evaluation.xquadr_scores`; the runs are :mod:`~pyserini_milco.evaluation.xquadr_bm25`,
:mod:`~pyserini_milco.evaluation.xquadr_milco` (MILCO) and :mod:`~pyserini_milco.evaluation.xquadr_dense` (e5).
This module parses the command line, calls them and prints the results as Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_output
from ..evaluation import xquadr
from ..evaluation.xquadr import LANGUAGES, SETTING_KINDS, first_paragraphs, first_questions, load_xquadr
from ..evaluation.xquadr_bm25 import run_bm25
from ..evaluation.xquadr_dense import run_dense
from ..evaluation.xquadr_folder import Prepared, prepare
from ..evaluation.xquadr_milco import run_milco
from ..evaluation.xquadr_scores import METRIC_LABELS

# The --help text: the data (the module doc of evaluation.xquadr), then what the first two commands do.
COMMANDS = """``python -m pyserini_milco.xquadr prepare --out DIR`` writes ``corpus/<pool>/docs.jsonl``
(Pyserini JsonCollection, one folder per pool), ``topics/<lang>.tsv`` and
``qrels/<setting>.txt``, plus ``manifest.json``. ``python -m pyserini_milco.xquadr bm25`` runs
the BM25 baseline on such a folder: one Lucene index per pool with that language's Anserini
analyzer (see :func:`bm25_language` for the mixed pool), one search per pool with the queries of
all its settings, ``trec_eval`` per setting, cross-checked by the Python metrics.
"""


def format_table(results: dict) -> str:
    """Markdown table: a row per language (the non-English side of the setting), then the averages."""
    rows: dict[str, dict[str, dict]] = {}
    for r in results["settings"].values():
        rows.setdefault(r["pool"] if r["kind"] == "en->X" else r["query_lang"], {})[r["kind"]] = r
    rows["avg"] = results["averages"]
    columns = [(kind, m) for kind in SETTING_KINDS[:3] for m in ("ndcg_cut_10", "recall_100")]
    columns += [("X->all", "map"), ("X->all", "ndcg_cut_10")]
    header = ["lang", *(f"{kind.replace('->', '→')} {METRIC_LABELS[m]}" for kind, m in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for lang, kinds in rows.items():
        cells = [kinds.get(kind, {}).get(m) for kind, m in columns]
        lines.append("| " + " | ".join([lang, *("" if c is None else f"{c:.4f}" for c in cells)]) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command line: ``prepare`` and ``bm25``."""
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.xquadr",
                                     description=f"{xquadr.__doc__}\n{COMMANDS}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="write corpora, topics and qrels for Pyserini")
    prep.add_argument("--out", required=True, type=Path, help="output folder (corpus/, topics/, qrels/, manifest.json)")
    prep.add_argument("--languages", default=",".join(LANGUAGES),
                      help=f"comma-separated languages to include (default: all 11, {','.join(LANGUAGES)}); "
                           "the X->en and en->X settings need en among them")
    prep.add_argument("--max-questions", type=int, default=None,
                      help="keep only the first N questions of each language (the pools stay whole); default: all 1190")
    prep.add_argument("--max-paragraphs", type=int, default=None,
                      help="keep only the first N of the 240 paragraphs: their sentences and their questions "
                           "(a small complete benchmark); default: all")
    prep.add_argument("--data-dir", type=Path, default=None,
                      help="folder with <lang>.json of XQuAD-R (default: ../shared/data/xquad-r next to the "
                           "repository; fetch it with `python -m pyserini_milco.datasets fetch xquad-r`)")
    bm25 = commands.add_parser("bm25", help="BM25 baseline (Lucene, one index per pool) on a prepared folder")
    bm25.add_argument("--prepared", required=True, type=Path, help="folder written by `prepare`")
    bm25.add_argument("--out", required=True, type=Path, help="results JSON to write (scores per setting, averages)")
    bm25.add_argument("--work", type=Path, default=None,
                      help="folder for indexes, runs and logs (default: PREPARED/bm25)")
    bm25.add_argument("--threads", type=int, default=2, help="indexing and search threads (default: 2)")
    bm25.add_argument("--hits", type=int, default=100,
                      help="ranking depth per query (default: 100; mAP counts relevant sentences below it as 0)")
    milco = commands.add_parser("milco", help="a MILCO model (dual view and pivot only) through Lucene impact indexes")
    milco.add_argument("--prepared", required=True, type=Path, help="folder written by `prepare`")
    milco.add_argument("--encoder", required=True, help="milco-mini, milco, a checkpoint folder or a hub id")
    milco.add_argument("--out", required=True, type=Path, help="results JSON to write (scores per view and setting)")
    milco.add_argument("--work", type=Path, default=None, help="folder for encodings, indexes, runs (default: PREPARED/<encoder name>)")
    milco.add_argument("--threads", type=int, default=2, help="torch, indexing and search threads (default: 2)")
    milco.add_argument("--hits", type=int, default=100, help="ranking depth per query (default: 100)")
    milco.add_argument("--max-length", type=int, default=128, help="tokens per sentence and question (default: 128)")
    dense = commands.add_parser("dense", help="multilingual-e5-small, dense (milco-mini's backbone and teacher), exhaustive search")
    dense.add_argument("--prepared", required=True, type=Path, help="folder written by `prepare`")
    dense.add_argument("--out", required=True, type=Path, help="results JSON to write (scores per setting, averages)")
    dense.add_argument("--work", type=Path, default=None, help="folder for runs and qrels (default: PREPARED/e5-small)")
    dense.add_argument("--hits", type=int, default=100, help="ranking depth per query (default: 100)")
    dense.add_argument("--max-length", type=int, default=128, help="tokens per sentence and question (default: 128)")
    return parser


def _run_milco(args: argparse.Namespace, prepared: Prepared) -> None:
    work = args.work or prepared.root / Path(args.encoder).name
    results = run_milco(prepared, work, args.encoder, threads=args.threads, hits=args.hits, max_length=args.max_length)
    with atomic_output(args.out) as handle:
        json.dump(results, handle, indent=1)
    for view, table in results["views"].items():
        print(f"\n{args.encoder} ({view} view), {results['terms_per_document']} terms per document")
        print(format_table(table))
    print(f"total {results['seconds']['total']} s (encoding {results['seconds']['encoding']} s)")


def run_command(args: argparse.Namespace) -> None:
    """Do what the parsed command line asks."""
    if args.command == "prepare":
        languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
        data = first_paragraphs(load_xquadr(args.data_dir, languages), args.max_paragraphs)
        prepared = prepare(first_questions(data, args.max_questions), args.out)
        print(json.dumps(prepared.manifest(), indent=1))
        return
    prepared = Prepared(args.prepared)
    if args.command == "milco":
        _run_milco(args, prepared)
        return
    if args.command == "dense":
        results = run_dense(prepared, args.work or prepared.root / "e5-small", hits=args.hits, max_length=args.max_length)
    else:
        results = run_bm25(prepared, args.work or prepared.root / "bm25", threads=args.threads, hits=args.hits)
    with atomic_output(args.out) as handle:
        json.dump(results, handle, indent=1)
    print(format_table(results))
    print(f"total {results['seconds']['total']} s" + (f"; largest trec_eval/Python gap {results['max_python_gap']}"
                                                     if "max_python_gap" in results else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pyserini_milco.xquadr``: 0 on success, 2 on missing or bad input."""
    try:
        run_command(build_parser().parse_args(argv))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
