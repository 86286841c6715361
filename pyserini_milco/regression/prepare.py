"""Benchmark data from the Hugging Face hub, written as the files the regression configs read.

::

    python -m pyserini_milco.regression.prepare miracl-corpus --language L --out DIR
        DIR/docs.jsonl          MIRACL v1.0 corpus of L (miracl/miracl-corpus)
    python -m pyserini_milco.regression.prepare miracl-hardneg --language L --out DIR [--revision R]
        DIR/corpus/docs.jsonl, DIR/topics.tsv, DIR/qrels.tsv
                                MTEB's MIRACL hard-negatives subset of L (mteb/MIRACLRetrievalHardNegatives)
    python -m pyserini_milco.regression.prepare mkqa --out DIR [--languages ...]
        DIR/corpus/docs.jsonl   BEIR's NQ corpus (English Wikipedia passages, BeIR/nq), as BGE-M3 uses it
        DIR/topics/<lang>.tsv, DIR/answers/<lang>.jsonl
                                MKQA queries and answers as BGE-M3 set them up (Shitao/bge-m3-data)

Documents are written one ``{"id", "title", "text"}`` per line (what ``python -m pyserini.encode
input --fields title text`` reads), topics as ``qid TAB query``, qrels in TREC format. Text is kept
as published: the lowercasing of the authors' MIRACL evaluation is the encoder's job
(``PYSERINI_MILCO_LOWERCASE=on``). Each ``DIR`` is written atomically (a temporary folder renamed
at the end), so an existing ``DIR`` is complete; users can also put their own copy there.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..atomic import atomic_directory
from ..evaluation.metrics import Qrels, write_qrels

MIRACL_CORPUS_REPO = "miracl/miracl-corpus"
HARDNEG_REPO = "mteb/MIRACLRetrievalHardNegatives"
NQ_CORPUS_REPO = "BeIR/nq"
MKQA_REPO, MKQA_ZIP = "Shitao/bge-m3-data", "MKQA_test-data.zip"
MKQA_LANGUAGES = ("ar", "da", "de", "es", "fi", "fr", "he", "hu", "it", "ja", "km", "ko", "ms", "nl", "no", "pl",
                  "pt", "ru", "sv", "th", "tr", "vi", "zh_cn", "zh_hk", "zh_tw")


def row_id(row: dict, where: str) -> str:
    """A row's identifier, whichever of the usual names it uses (``id``, ``_id``, ``docid``)."""
    for key in ("id", "_id", "docid"):
        if row.get(key) is not None:
            return str(row[key])
    raise ValueError(f"{where}: a row has none of id, _id, docid (keys: {', '.join(row)})")


def one_line(text: str | None) -> str:
    """Whitespace collapsed, so that a query stays one TSV field."""
    return " ".join((text or "").split())


def write_docs(rows: Iterable[dict], path: Path, where: str) -> int:
    """Write documents as ``{"id", "title", "text"}`` lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            record = {"id": row_id(row, where), "title": row.get("title") or "", "text": row.get("text") or ""}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_topics(rows: Iterable[tuple[str, str]], path: Path) -> int:
    """Write ``qid TAB query`` lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for qid, query in rows:
            out.write(f"{qid}\t{one_line(query)}\n")
            count += 1
    return count


def qrels_from_rows(rows: Iterable[dict]) -> Qrels:
    """MTEB qrels rows (``query-id``, ``corpus-id``, ``score``) as ``{qid: {docid: grade}}``."""
    qrels: Qrels = {}
    for row in rows:
        qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    return qrels


def gzip_lines(paths: Iterable[Path]) -> Iterator[dict]:
    """JSON objects from gzipped JSONL files, in the given order."""
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield from (json.loads(line) for line in handle if line.strip())


def _hub_dataset(repo: str, name: str, split: str, revision: str | None = None):
    """``datasets.load_dataset`` imported lazily (only the online preparation needs it)."""
    import datasets

    return datasets.load_dataset(repo, name, split=split, revision=revision)


def prepare_miracl_corpus(lang: str, out: Path, revision: str | None = None) -> None:
    """``out/docs.jsonl``: the MIRACL v1.0 corpus of ``lang`` (gzipped JSONL shards on the hub)."""
    from huggingface_hub import snapshot_download

    folder = f"miracl-corpus-v1.0-{lang}"
    local = Path(snapshot_download(MIRACL_CORPUS_REPO, repo_type="dataset", revision=revision,
                                   allow_patterns=[f"{folder}/*"]))
    shards = sorted((local / folder).glob("docs-*.jsonl.gz"))
    if not shards:
        raise FileNotFoundError(f"{MIRACL_CORPUS_REPO} has no {folder}/docs-*.jsonl.gz; is {lang!r} a MIRACL language?")
    with atomic_directory(out) as tmp:
        write_docs(gzip_lines(shards), tmp / "docs.jsonl", f"{MIRACL_CORPUS_REPO}/{folder}")


def prepare_miracl_hardneg(lang: str, out: Path, revision: str | None = None) -> None:
    """``out/corpus/docs.jsonl``, ``out/topics.tsv``, ``out/qrels.tsv``: MTEB's hard-negatives subset of ``lang``."""
    corpus, queries, qrels = (_hub_dataset(HARDNEG_REPO, f"{lang}-{part}", "dev", revision)
                              for part in ("corpus", "queries", "qrels"))
    with atomic_directory(out) as tmp:
        write_docs(corpus, tmp / "corpus" / "docs.jsonl", f"{HARDNEG_REPO} {lang}-corpus")
        write_topics(((row_id(q, f"{HARDNEG_REPO} {lang}-queries"), q["text"]) for q in queries), tmp / "topics.tsv")
        write_qrels(qrels_from_rows(qrels), tmp / "qrels.tsv")


def mkqa_members(archive: zipfile.ZipFile, languages: Sequence[str]) -> dict[str, str]:
    """The archive member holding each language (``<lang>.jsonl``, in whatever folder)."""
    by_name = {Path(name).name: name for name in archive.namelist()}
    missing = [lang for lang in languages if f"{lang}.jsonl" not in by_name]
    if missing:
        raise FileNotFoundError(f"{MKQA_ZIP} has no {', '.join(f'{m}.jsonl' for m in missing)}")
    return {lang: by_name[f"{lang}.jsonl"] for lang in languages}


def write_mkqa_language(lines: Iterable[str], topics: Path, answers: Path) -> int:
    """One language's MKQA file (``{"id", "question", "answers"}`` lines) as topics and answers."""
    records = [json.loads(line) for line in lines if line.strip()]
    answers.parent.mkdir(parents=True, exist_ok=True)
    with open(answers, "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"id": str(r["id"]), "answers": r["answers"]}, ensure_ascii=False) + "\n"
                       for r in records)
    return write_topics(((str(r["id"]), r["question"]) for r in records), topics)


def prepare_mkqa(out: Path, languages: Sequence[str] = MKQA_LANGUAGES) -> None:
    """MKQA as BGE-M3 evaluates it: NQ passages, and queries with answers per language."""
    from huggingface_hub import hf_hub_download

    archive_path = hf_hub_download(MKQA_REPO, MKQA_ZIP, repo_type="dataset")
    corpus = _hub_dataset(NQ_CORPUS_REPO, "corpus", "corpus")
    with atomic_directory(out) as tmp, zipfile.ZipFile(archive_path) as archive:
        write_docs(corpus, tmp / "corpus" / "docs.jsonl", f"{NQ_CORPUS_REPO} corpus")
        for lang, member in mkqa_members(archive, languages).items():
            with archive.open(member) as handle:
                lines = (line.decode("utf-8") for line in handle)
                write_mkqa_language(lines, tmp / "topics" / f"{lang}.tsv", tmp / "answers" / f"{lang}.jsonl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.regression.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="data", required=True)
    for name in ("miracl-corpus", "miracl-hardneg"):
        sub = commands.add_parser(name)
        sub.add_argument("--language", required=True, help="MIRACL language code, e.g. sw")
        sub.add_argument("--revision", default=None, help="hub revision (commit) to pin")
        sub.add_argument("--out", required=True, type=Path, help="folder to create")
    mkqa = commands.add_parser("mkqa")
    mkqa.add_argument("--languages", nargs="+", default=list(MKQA_LANGUAGES), help="MKQA query languages")
    mkqa.add_argument("--out", required=True, type=Path, help="folder to create")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data == "mkqa":
        prepare_mkqa(args.out, args.languages)
    elif args.data == "miracl-corpus":
        prepare_miracl_corpus(args.language, args.out, args.revision)
    else:
        prepare_miracl_hardneg(args.language, args.out, args.revision)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
