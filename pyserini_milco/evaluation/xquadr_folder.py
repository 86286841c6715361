"""The Pyserini folder of XQuAD-R: what ``python -m pyserini_milco.xquadr prepare --out DIR`` writes.

``corpus/<pool>/docs.jsonl`` (Pyserini JsonCollection, one folder per pool), ``topics/<lang>.tsv``,
``qrels/<setting>.txt`` and ``manifest.json``; :class:`Prepared` says where each file lives. Every run
(:mod:`.xquadr_bm25`, :mod:`.xquadr_milco`, :mod:`.xquadr_dense`) searches a pool once with the queries
of all its settings, from the files :func:`pool_topics` and :func:`pool_qrels` merge.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..errors import MissingInput
from .metrics import Qrels, read_qrels, write_qrels
from .xquadr import (FULL_POOL, Candidate, LanguageData, Question, Setting, pool_candidates, relevant_per_language,
                     setting_qrels, standard_settings)


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
