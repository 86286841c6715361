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
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, OptionError
from .datasets import XQUADR_LANGUAGES, require_data_dir
from .metrics import Qrels

LANGUAGES = XQUADR_LANGUAGES
PIVOT = "en"
FULL_POOL = "all"
SETTING_KINDS = ("X->X", "X->en", "en->X", "X->all")  # the values of Setting.kind, in the order tables show them


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
