"""Lucene helpers: BM25 and impact indexes built and searched through Pyserini's stock CLIs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyserini_milco.evaluation.datasets import default_data_dir
from pyserini_milco.evaluation.metrics import evaluate, read_run
from pyserini_milco.evaluation.xquadr import load_language
from pyserini_milco.evaluation.xquadr_folder import write_corpus, write_topics
from pyserini_milco.integration.lucene import analyzer_name, build_index, index_counters, search


@pytest.fixture(scope="module")
def english_sample(tmp_path_factory) -> tuple[Path, Path, dict]:
    """The first ~100 English XQuAD-R sentences, the questions answered in them, and their qrels."""
    path = default_data_dir("xquad-r") / "en.json"
    if not path.is_file():
        pytest.skip(f"XQuAD-R not found at {path}")
    english = load_language(path, "en")
    candidates = english.candidates[:100]
    kept = {c.docid for c in candidates}
    questions = [q for q in english.questions.values() if q.answer_docid in kept]
    folder = tmp_path_factory.mktemp("bm25")
    write_corpus(candidates, folder / "corpus" / "docs.jsonl")
    write_topics(questions, folder / "topics.tsv")
    return folder, folder / "topics.tsv", {q.qid: {q.answer_docid: 1} for q in questions}


def test_bm25_index_and_search_on_real_sentences(english_sample):
    folder, topics, qrels = english_sample
    index = build_index(folder / "corpus", folder / "index", language="en", threads=1)
    assert index_counters((folder / "index.log").read_text())["indexed"] == 100
    run_path = search(index, topics, folder / "run.txt", hits=10, language="en", threads=1)
    run = read_run(run_path)
    assert set(run) == set(qrels) and all(len(docs) <= 10 for docs in run.values())
    scores = evaluate(qrels, run, ["ndcg_cut.10", "recall.100"])
    assert scores["ndcg_cut_10"] > 0.7, scores  # BM25 on the full English pool gets about 0.85
    assert not list(folder.glob(".*.tmp")), "temporary outputs left behind"


def test_impact_index_keeps_terms_and_search_counts_them(tmp_path):
    vectors = [{"id": "d1", "vector": {"e_paris": 3, "m_▁Paris": 2, "e_city": 1}},
               {"id": "d2", "vector": {"e_rome": 4, "e_city": 1}}]
    (tmp_path / "vectors").mkdir()
    (tmp_path / "vectors" / "docs.jsonl").write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in vectors))
    (tmp_path / "topics.tsv").write_text("q1\te_city m_▁Paris m_▁Paris\n")
    index = build_index(tmp_path / "vectors", tmp_path / "index", impact=True, threads=1)
    run = read_run(search(index, tmp_path / "topics.tsv", tmp_path / "run.txt", impact=True, hits=5, threads=1))
    # score = sum over shared terms of query count x document weight; e_city is in every document (min-idf -1)
    assert run == {"q1": {"d1": 1 * 1 + 2 * 2, "d2": 1.0}}


def test_misuse_is_refused_early(tmp_path):
    with pytest.raises(ValueError, match="do not pass a language"):
        build_index(tmp_path, tmp_path / "index", impact=True, language="zh")
    with pytest.raises(FileNotFoundError, match="must be a folder holding"):
        build_index(tmp_path / "nothing", tmp_path / "index")
    with pytest.raises(FileNotFoundError, match="build it with build_index"):
        search(tmp_path / "nothing", tmp_path / "topics.tsv", tmp_path / "run.txt")
    with pytest.raises(ValueError, match="takes no language"):
        search(tmp_path, tmp_path / "topics.tsv", tmp_path / "run.txt", impact=True, language="en")


def test_analyzer_table_and_log_counters():
    assert [analyzer_name(code) for code in ("zh", "th", "el", "vi", None)] == [
        "CJKAnalyzer", "ThaiAnalyzer", "DefaultEnglishAnalyzer", "DefaultEnglishAnalyzer", "DefaultEnglishAnalyzer"]
    log = "x - indexed:            1,180\nx - empty:  2\nx - errors:  0\nTotal 1,180 documents indexed"
    assert index_counters(log) == {"indexed": 1180, "empty": 2, "errors": 0}
