"""Answer-based judgments of a run (open-domain QA, e.g. MKQA as BGE-M3 scores it), as TREC qrels.

BGE-M3 scores MKQA by answer recall: a query is answered at k when one of its top k passages
contains one of its answers, matched as DPR does (Unicode NFD, DPR's ``SimpleTokenizer``, uncased
token sequences; Pyserini's :func:`pyserini.eval.evaluate_dpr_retrieval.has_answers`), in the
passage text. This judges a run's top ``--depth`` passages of every query (1: contains an answer,
0: does not) and lists every query of the answers file (a query that retrieved nothing gets a
placeholder line graded 0), so that with the judgments written here::

    python -m pyserini.eval.trec_eval -c -m success.100 QRELS RUN   # = answer recall@100, all queries
    python -m pyserini.eval.trec_eval -c -m ndcg_cut.10 QRELS RUN   # nDCG@10 with answer judgments

::

    python -m pyserini_milco.regression.answers --run RUN --corpus DIR --answers FILE --depth 100 --output QRELS
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..evaluation.metrics import Qrels, Run, ranking, read_run, write_qrels

PLACEHOLDER_DOCID = "no-passage-retrieved"


def load_answers(path: Path) -> dict[str, list[str]]:
    """``{qid: answers}`` from ``{"id", "answers"}`` lines."""
    answers = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                    answers[str(record["id"])] = [str(a) for a in record["answers"]]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise InputError(f"{path}:{number}: expected {{\"id\", \"answers\": [...]}} ({error})") from error
    return answers


def load_texts(corpus: Path, wanted: set[str]) -> dict[str, str]:
    """Texts of the ``wanted`` documents from the JSONL files of ``corpus`` (streamed: only those are kept)."""
    texts = {}
    for path in sorted(corpus.glob("*.jsonl")) if corpus.is_dir() else [corpus]:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                docid = str(record.get("id", record.get("_id", record.get("docid"))))
                if docid in wanted:
                    texts[docid] = record.get("text") or record.get("contents") or ""
    return texts


def top(run: Run, depth: int) -> dict[str, list[str]]:
    """The first ``depth`` docids of every query, in trec_eval's order."""
    return {qid: ranking(docs)[:depth] for qid, docs in run.items()}


def judge(ranked: dict[str, list[str]], texts: dict[str, str], answers: dict[str, list[str]]) -> Qrels:
    """1 for each ranked passage holding an answer, 0 otherwise; every answered query is listed."""
    from pyserini.eval.evaluate_dpr_retrieval import SimpleTokenizer, has_answers

    tokenizer = SimpleTokenizer()
    qrels: Qrels = {}
    for qid, expected in answers.items():
        docids = ranked.get(qid, [])
        qrels[qid] = {d: int(has_answers(texts.get(d, ""), expected, tokenizer)) for d in docids}
        qrels[qid] = qrels[qid] or {PLACEHOLDER_DOCID: 0}
    return qrels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.regression.answers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="TREC run to judge")
    parser.add_argument("--corpus", required=True, type=Path, help="folder (or file) of JSONL documents")
    parser.add_argument("--answers", required=True, type=Path, help='JSONL of {"id", "answers"}')
    parser.add_argument("--depth", type=int, default=100, help="passages judged per query (default 100)")
    parser.add_argument("--output", required=True, type=Path, help="qrels to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ranked = top(read_run(args.run), args.depth)
    texts = load_texts(args.corpus, {d for docids in ranked.values() for d in docids})
    qrels = judge(ranked, texts, load_answers(args.answers))
    write_qrels(qrels, args.output)
    answered = sum(any(qrels[q].values()) for q in qrels)
    print(f"judged {len(qrels)} queries, {answered} with an answer in the top {args.depth}: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
