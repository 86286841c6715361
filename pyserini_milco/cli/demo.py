"""``make demo`` / ``python -m pyserini_milco.demo``: MILCO end to end, offline, on 2 CPU cores.

1. build (or load) ``milco-mini`` from the pinned PyPI parts and the shipped delta;
2. encode an XQuAD-R candidate pool in several languages with the stock
   ``python -m pyserini.encode ... --encoder milco-mini``;
3. build a Lucene impact index with the stock ``python -m pyserini.index.lucene``;
4. search a few questions in different languages, showing the top hits and the terms that matched;
5. search every question of the chosen languages against the pool and print nDCG@10 and R@100
   per language (``trec_eval``), next to BM25 on the same pool.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..collection.writer import read_vectors
from ..evaluation.metrics import trec_eval
from ..evaluation.xquadr import FULL_POOL, first_paragraphs, load_xquadr
from ..evaluation.xquadr_folder import Prepared, prepare
from ..integration import pyserini_cli
from ..integration.lucene import build_index, search

DEFAULT_LANGUAGES = ("en", "de", "zh", "ar")
EXAMPLES = {"de": 0, "zh": 0, "ar": 0, "en": 0}


def step(title: str) -> float:
    print(f"\n=== {title}", flush=True)
    return time.perf_counter()


def matched_terms(query: dict[str, int], document: dict[str, int], top: int = 6) -> str:
    """The shared terms that contribute most to the score, as ``term(q×d)``."""
    shared = sorted(set(query) & set(document), key=lambda t: -query[t] * document[t])
    return ", ".join(f"{t}({query[t]}×{document[t]})" for t in shared[:top])


def show_examples(index: Path, prepared: Prepared, languages: list[str], vectors: dict, texts: dict) -> None:
    from pyserini.search.lucene import LuceneImpactSearcher

    from ..integration.plugin import MilcoQueryEncoder

    encoder = MilcoQueryEncoder("milco-mini", device="cpu")
    searcher = LuceneImpactSearcher(str(index), encoder, min_idf=-1)
    for lang in languages:
        qid, question = prepared.topics(lang).read_text(encoding="utf-8").splitlines()[EXAMPLES.get(lang, 0)].split("\t")
        query = encoder.encode(question)
        print(f"\n[{lang}] {question}")
        print(f"   query terms: {', '.join(list(query)[:12])} ...")
        for rank, hit in enumerate(searcher.search(question, k=3), start=1):
            print(f"   {rank}. {hit.docid} ({hit.score:.0f}) {texts[hit.docid][:90]}")
            print(f"      matched: {matched_terms(query, vectors[hit.docid])}")
    searcher.close()


def evaluate(prepared: Prepared, runs: dict[str, Path], languages: list[str]) -> None:
    """nDCG@10 and R@100 per query language (a question's relevant sentences: its answer in every language)."""
    print(f"\n{'':4}" + "".join(f"{name + ' nDCG@10':>22}{name + ' R@100':>20}" for name in runs))
    for lang in languages:
        cells = []
        for run in runs.values():
            scores = trec_eval(prepared.root / "qrels" / f"{lang}-{FULL_POOL}.txt", run, ("ndcg_cut.10", "recall.100"))
            cells += [f"{scores['ndcg_cut_10']:>22.4f}", f"{scores['recall_100']:>20.4f}"]
        print(f"{lang:4}" + "".join(cells))


def encoding_folder(work: Path, model: Path, languages: list[str], max_paragraphs: int) -> Path:
    """Where the demo's encoded pool lives: one folder per model build (its digest is in ``model``'s
    name), languages and paragraph count, so a re-run reuses an encoding only if it is the same."""
    return work / "encoded" / f"{model.name}-{'-'.join(languages)}-{max_paragraphs}p"


def all_topics(prepared: Prepared, languages: list[str], path: Path) -> Path:
    path.write_text("".join(prepared.topics(lang).read_text(encoding="utf-8") for lang in languages), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/demo"), help="working folder (default: runs/demo)")
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES), help="XQuAD-R languages of the pool")
    parser.add_argument("--max-paragraphs", type=int, default=100,
                        help="use the first N of XQuAD-R's 240 paragraphs: their sentences and their questions")
    parser.add_argument("--threads", type=int, default=2, help="threads for encoding, indexing and search")
    args = parser.parse_args(argv)
    languages = args.languages.split(",")
    started = time.perf_counter()

    step("1. milco-mini (built offline from PyPI parts + the shipped delta; cached after the first run)")
    from ..mini.build import ensure_mini_model

    model = ensure_mini_model()
    print(model)

    step(f"2. XQuAD-R ({args.max_paragraphs} paragraphs) in {', '.join(languages)}, encoded with the stock pyserini.encode")
    prepared = prepare(first_paragraphs(load_xquadr(languages=languages), args.max_paragraphs), args.work / "xquad-r")
    encoded = encoding_folder(args.work, model, languages, args.max_paragraphs)
    if any(encoded.glob("*.jsonl")):
        print(f"reusing {encoded} (same model build, languages and paragraphs)")
    else:
        pyserini_cli.run_on_terminal("pyserini.encode", [
            "input", "--corpus", prepared.corpus_dir(FULL_POOL), "--fields", "text", "output", "--embeddings", encoded,
            "encoder", "--encoder", "milco-mini", "--device", "cpu", "--batch-size", "32", "--max-length", "128"])

    step("3. Lucene impact index (stock pyserini.index.lucene --impact --pretokenized)")
    index = build_index(encoded, args.work / "index", impact=True, threads=args.threads)
    print(index)

    step("4. questions in several languages: top hits and the terms that matched")
    texts = {json.loads(l)["id"]: json.loads(l)["contents"]
             for l in (prepared.corpus_dir(FULL_POOL) / "docs.jsonl").read_text(encoding="utf-8").splitlines()}
    show_examples(index, prepared, languages, read_vectors(encoded), texts)

    step(f"5. every question of those paragraphs against the {len(texts)}-sentence pool, MILCO beside BM25")
    topics = all_topics(prepared, languages, args.work / "topics.tsv")
    bm25_index = build_index(prepared.corpus_dir(FULL_POOL), args.work / "bm25-index", threads=args.threads)
    runs = {"milco-mini": search(index, topics, args.work / "runs" / "milco-mini.txt", hits=100, impact=True,
                                 encoder="milco-mini", threads=args.threads, batch_size=256),
            "BM25": search(bm25_index, topics, args.work / "runs" / "bm25.txt", hits=100, threads=args.threads)}
    evaluate(prepared, runs, languages)
    print(f"\ndone in {time.perf_counter() - started:.0f} s; files under {args.work}")
