"""Stage-2 training groups and a development set built from NTREX-128, never from an evaluation set.

NTREX-128 is 1,997 English news sentences in 123 documents with translations into 128 languages.
Each document is cut into passages of ``chunk_sentences`` consecutive sentences. A group's query is
one sentence in language X; its positive passage is, at random,

* **inverse cloze** (ICT): the sentence's own passage *without* the sentence: finding it needs the
  topic, names and specific words the query shares with its neighbours, as a question does;
* **translation in context**: the whole passage, which holds the query's translation;

in English, in X, or in a third language (cross-lingual and monolingual alike). Negatives are the
passages the teacher ranks highest for the English query (other than the positive), of the same
kind as the positive (ICT negatives also lose one sentence, so length gives nothing away).

Teacher scores come from the *English* versions of query and passages (the parallel text makes
them available): the target is then the same whatever the languages of the pair, which is what a
cross-lingual student should learn, and the teacher is asked only what it does best.

Validation holds out whole documents (the same ones stage 1 held out: ``split(12, seed 0)``). The
development set asks, for one sentence of each held-out passage (by default its second), for that
passage without it, among the held-out passages and every training passage treated the same way (about
490 candidates), in English (X→en) and in X (X→X). Variants that ask with the first or third sentence
(``train devset --query-sentence``) pool into a set three times as large.
"""
from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..errors import OptionError
from .data import NtrexSettings, ParallelCorpus
from .groups import TrainingGroup, iter_lines
from .settings_cli import setting
from .teachers import DEFAULT_TEMPERATURE

ENGLISH = "en"
#: The teacher's unit embeddings of texts of a kind (``"query"`` or ``"passage"``), ``[N, dim]``.
EmbedFn = Callable[[Sequence[str], str], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Passage:
    """Consecutive sentence lines of one document; ``without`` drops one of them (ICT)."""

    pid: str
    lines: tuple[int, ...]

    def text(self, sentences: Sequence[str], without: int | None = None) -> str:
        return " ".join(sentences[i] for i in self.lines if i != without)


def cut_passages(documents: Sequence[str], chunk_sentences: int) -> list[Passage]:
    """Each document's lines in order, in passages of ``chunk_sentences`` (a last short one of a
    single sentence joins the one before it)."""
    by_document: dict[str, list[int]] = {}
    for line, document in enumerate(documents):
        by_document.setdefault(document, []).append(line)
    passages = []
    for document, lines in by_document.items():
        chunks = [lines[i:i + chunk_sentences] for i in range(0, len(lines), chunk_sentences)]
        if len(chunks) > 1 and len(chunks[-1]) == 1:
            last = chunks.pop()
            chunks[-1] = chunks[-1] + last
        passages += [Passage(f"{document}#{n}", tuple(chunk)) for n, chunk in enumerate(chunks)]
    return passages


@dataclasses.dataclass(kw_only=True)
class SplitSettings(NtrexSettings):
    """What decides the passages and the held-out documents (``train devset``'s flags)."""

    chunk_sentences: int = setting(4, help="consecutive sentences per passage")
    seed: int = setting(0, help="seed for the held-out documents (the same seed holds out the same ones as stage 1) "
                                "and, in `groups`, for the sampling")


@dataclasses.dataclass(kw_only=True)
class GroupSettings(SplitSettings):
    """How training groups are sampled and mined (``train groups``'s flags)."""

    groups: int = setting(20000, help="training groups to sample")
    negatives: int = setting(7, help="negatives per group, mined by the teacher")
    ict_share: float = setting(0.5, help="share of inverse-cloze groups (the positive passage lacks the query's "
                                         "sentence); the rest hold its translation")
    english_passage_share: float = setting(0.4, help="share of groups whose passages are English")
    same_language_share: float = setting(0.4, help="share of groups whose passages are in the query's language "
                                                   "(the rest: a third language)")
    mine_depth: int = setting(30, help="negatives are drawn from the teacher's top passages to this depth")
    temperature: float = setting(DEFAULT_TEMPERATURE, help="teacher logits are cosine / temperature")


class TeacherTable:
    """The teacher's English embeddings of every query sentence, passage and ICT passage."""

    def __init__(self, corpus: ParallelCorpus, passages: Sequence[Passage], embed: EmbedFn):
        english = corpus.english
        self.queries = embed(english, "query")
        self.full = embed([p.text(english) for p in passages], "passage")
        self.ict_keys = [(p.pid, line) for p in passages for line in p.lines if len(p.lines) > 1]
        self.ict_row = {key: row for row, key in enumerate(self.ict_keys)}
        by_pid = {p.pid: p for p in passages}
        self.ict = embed([by_pid[pid].text(english, without=line) for pid, line in self.ict_keys], "passage")

    def passage(self, index: int, pid: str, without: int | None) -> torch.Tensor:
        return self.full[index] if without is None else self.ict[self.ict_row[(pid, without)]]


class GroupBuilder:
    """Samples training groups (seeded) over the training documents' passages."""

    def __init__(self, corpus: ParallelCorpus, settings: GroupSettings, embed: EmbedFn):
        self.corpus, self.s = corpus, settings
        self.passages = cut_passages(corpus.documents, settings.chunk_sentences)
        train_lines, _ = corpus.split(settings.validation_documents, settings.seed)
        train = set(train_lines)
        self.train_passages = [i for i, p in enumerate(self.passages) if p.lines[0] in train]
        self.home = {line: i for i, p in enumerate(self.passages) for line in p.lines}
        self.query_lines = [line for i in self.train_passages for line in self.passages[i].lines]
        self.table = TeacherTable(corpus, self.passages, embed)
        self.mined: dict[int, list[int]] = {}
        self.rng = random.Random(settings.seed)

    def text(self, language: str, passage: int, without: int | None = None) -> str:
        sentences = self.corpus.english if language == ENGLISH else self.corpus.translations[language]
        return self.passages[passage].text(sentences, without)

    def sentence(self, language: str, line: int) -> str:
        return self.corpus.english[line] if language == ENGLISH else self.corpus.translations[language][line]

    def languages(self) -> tuple[str, str]:
        """(query language, passage language): English passages, same-language passages (X→X) or
        a third language, in the shares of the settings (an English query has no third case of its own)."""
        query = self.rng.choice([ENGLISH, *self.s.languages])
        draw = self.rng.random()
        if draw < self.s.english_passage_share:
            return query, ENGLISH
        if draw < self.s.english_passage_share + self.s.same_language_share:
            return query, query
        return query, self.rng.choice([lang for lang in (ENGLISH, *self.s.languages) if lang != query])

    def candidates(self, line: int) -> list[int]:
        """Training passages the teacher ranks highest for the English sentence, its own excluded
        (mined once per sentence)."""
        if line not in self.mined:
            scores = self.table.full[self.train_passages] @ self.table.queries[line]
            order = scores.argsort(descending=True).tolist()
            own = self.home[line]
            self.mined[line] = [self.train_passages[i] for i in order if self.train_passages[i] != own][: self.s.mine_depth]
        return self.mined[line]

    def removed_line(self, passage: int) -> int | None:
        lines = self.passages[passage].lines
        return self.rng.choice(lines) if len(lines) > 1 else None

    def group(self) -> TrainingGroup:
        line = self.rng.choice(self.query_lines)
        own = self.home[line]
        ict = self.rng.random() < self.s.ict_share and len(self.passages[own].lines) > 1
        negatives = self.rng.sample(self.candidates(line), self.s.negatives)
        chosen = [(own, line if ict else None)] + [(n, self.removed_line(n) if ict else None) for n in negatives]
        query_language, passage_language = self.languages()
        embeddings = torch.stack([self.table.passage(i, self.passages[i].pid, w) for i, w in chosen])
        scores = (embeddings @ self.table.queries[line]) / self.s.temperature
        return TrainingGroup(
            query=self.sentence(query_language, line),
            passages=tuple(self.text(passage_language, i, w) for i, w in chosen),
            scores=tuple(scores.tolist()),
        )

    def write(self, path: Path) -> int:
        groups = [self.group() for _ in tqdm(range(self.s.groups), desc="groups", unit="group")]
        with atomic_output(path) as handle:
            handle.writelines(iter_lines(groups))
        return len(groups)


def write_devset(corpus: ParallelCorpus, settings: SplitSettings, folder: Path, query_sentence: int = 2) -> dict:
    """The ICT development set: ``pool.<lang>.jsonl`` (Pyserini JsonCollection), ``topics.<lang>.tsv``
    and ``qrels.txt`` (the same ids in every language).

    The query is each held-out passage's ``query_sentence``-th sentence (1-based; the default, the
    second, is the set training validates on); every candidate passage lacks its sentence at that
    position (its last one where it is shorter), so that length gives nothing away. The variants ask
    different questions of the same held-out passages: pooled, they make a set three times as large
    without holding out more documents. Query ids are ``q<passage>``, with ``-s<N>`` for variants other
    than the second sentence, so that pooled runs do not collide."""
    position = query_sentence - 1
    passages = cut_passages(corpus.documents, settings.chunk_sentences)
    _, valid_lines = corpus.split(settings.validation_documents, settings.seed)
    held_out = set(valid_lines)
    candidates = [p for p in passages if len(p.lines) > 1]
    queries = [p for p in candidates if p.lines[0] in held_out and 0 <= position < len(p.lines)]
    if not queries:
        raise OptionError(f"query sentence {query_sentence}: no held-out passage has one (passages of "
                          f"{settings.chunk_sentences} sentences); choose 1 to {settings.chunk_sentences}")
    suffix = "" if query_sentence == 2 else f"-s{query_sentence}"

    def removed(passage: Passage) -> int:
        return passage.lines[min(position, len(passage.lines) - 1)]

    folder.mkdir(parents=True, exist_ok=True)
    for language in (ENGLISH, *settings.languages):
        sentences = corpus.english if language == ENGLISH else corpus.translations[language]
        with atomic_output(folder / f"pool.{language}.jsonl") as handle:
            for p in candidates:
                handle.write(json.dumps({"id": p.pid, "contents": p.text(sentences, without=removed(p))},
                                        ensure_ascii=False) + "\n")
        with atomic_output(folder / f"topics.{language}.tsv") as handle:
            handle.writelines(f"q{p.pid}{suffix}\t{sentences[removed(p)]}\n" for p in queries)
    with atomic_output(folder / "qrels.txt") as handle:
        handle.writelines(f"q{p.pid}{suffix} 0 {p.pid} 1\n" for p in queries)
    info = {"queries": len(queries), "pool": len(candidates), "languages": [ENGLISH, *settings.languages],
            "held_out_documents": settings.validation_documents, "seed": settings.seed,
            "chunk_sentences": settings.chunk_sentences, "query_sentence": query_sentence}
    (folder / "devset.json").write_text(json.dumps(info, indent=2))
    return info
