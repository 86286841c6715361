"""The fast impact search path against Pyserini's own, on a real Lucene impact index.

The collection is made of tied documents on purpose: equal vectors under docids whose order is not
Lucene's, so that every cut ``k`` of the ranking falls among ties somewhere, where Anserini's sort
by docid decides (and the fast path has to fall back to it).
"""
import json
import random

import pytest

from pyserini_milco.integration.impact_search import ImpactHit
from pyserini_milco.integration.lucene import build_index

TERMS = ["e_paris", "e_city", "e_##ing", "m_▁Paris", "m_▁美国", "m_x:y", "e_a\"b", "m_<s>"]
# "Ａ" (U+FF21) sorts after "😀" (U+1F600) in Java's UTF-16 string order but before it in UTF-8 bytes,
# the order of Lucene's string-value sort (and of Python's code points)
DOCIDS = ["z9", "a1", "é2", "b-3", "A4", "ä5", "m6", "c7", "美8", "d9", "e10", "a10", "a2",
          "Ａ11", "😀12", "Ａ13"]


def collection(seed=0):
    """Documents drawn from a few distinct vectors (so many tie), every one holding ``m_<s>``."""
    rng = random.Random(seed)
    shapes = [{t: rng.randint(1, 5) for t in rng.sample(TERMS[:-1], rng.randint(1, 4))} for _ in range(4)]
    return {docid: {**rng.choice(shapes), "m_<s>": 1} for docid in DOCIDS}


QUERIES = {
    "q1": {"e_paris": 3, "m_▁Paris": 2, "m_<s>": 1},
    "q2": {"m_▁美国": 7, "e_city": 1, "m_x:y": 2},
    "q3": {"e_##ing": 1, "e_a\"b": 4, "m_<s>": 5, "e_unknown": 9},  # a term the index does not hold
    "q4": {"m_<s>": 2},  # every document ties
    "q5": {"e_paris": 2.9, "m_▁Paris": 1.5, "e_city": -0.5, "m_<s>": 1.0},  # truncated to int, as Pyserini's JInt
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    from pyserini.search.lucene import LuceneImpactSearcher

    work = tmp_path_factory.mktemp("impact")
    docs = collection()
    (work / "vectors").mkdir()
    (work / "vectors" / "docs.jsonl").write_text(
        "".join(json.dumps({"id": d, "contents": "", "vector": v}, ensure_ascii=False) + "\n" for d, v in docs.items()),
        encoding="utf-8")
    (work / "queries.jsonl").write_text(
        "".join(json.dumps({"id": q, "contents": q, "vector": v}) + "\n" for q, v in QUERIES.items()), encoding="utf-8")
    index = build_index(work / "vectors", work / "index", impact=True, threads=1)
    impact = LuceneImpactSearcher(str(index), str(work / "queries.jsonl"))
    yield impact, docs
    impact.close()


def ranked(hits):
    return [(hit.docid, hit.score) for hit in hits]


def test_every_cut_equals_pyserini_search(searcher):
    impact, docs = searcher
    original = type(impact)._milco_originals["search"]
    for qid in QUERIES:
        for k in range(1, len(docs) + 2):
            hits = impact.search(qid, k=k)
            assert all(isinstance(hit, ImpactHit) for hit in hits)
            assert ranked(hits) == ranked(original(impact, qid, k, {})), (qid, k)


def test_ranking_is_brute_force_and_scores_the_dot_products(searcher):
    """Ranked by dot product, ties by docid; scores are the dot products after Anserini's tie
    adjustment (tied scores lowered by 1e-6 per tie in a row), and exact where nothing ties."""
    import numpy as np

    impact, docs = searcher
    for qid, query in QUERIES.items():
        hits = impact.search(qid, k=len(docs))
        dots = {d: sum(int(w) * v.get(t, 0) for t, w in query.items()) for d, v in docs.items()}
        brute_force = sorted((d for d, s in dots.items() if s > 0), key=lambda d: (-dots[d], d))
        assert [hit.docid for hit in hits] == brute_force, qid
        exact = np.array([dots[d] for d in brute_force], dtype=np.float32)
        assert [hit.score for hit in hits] == anserini_adjusted(exact)
        untied = [i for i, d in enumerate(brute_force) if list(dots.values()).count(dots[d]) == 1]
        assert all(hits[i].score == dots[brute_force[i]] for i in untied)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batch_search_equals_pyserini_batch_search(searcher, threads):
    impact, _ = searcher
    original = type(impact)._milco_originals["batch_search"]
    qids = list(QUERIES)
    for k in (1, 4, 100):
        fast = impact.batch_search(qids, qids, k=k, threads=threads)
        stock = original(impact, qids, qids, k, threads, {})
        assert list(fast) == qids
        assert {q: ranked(h) for q, h in fast.items()} == {q: ranked(h) for q, h in stock.items()}


def test_docid_with_a_line_break_is_refused(tmp_path):
    """Hits come back one docid per line: a docid holding a line break (which no TREC run can hold
    either) stops the search with a MilcoError instead of shifting every docid after it."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from pyserini_milco.errors import MilcoError

    (tmp_path / "vectors").mkdir()
    (tmp_path / "vectors" / "docs.jsonl").write_text(
        "".join(json.dumps({"id": d, "contents": "", "vector": {"m_<s>": 1}}) + "\n" for d in ["a", "b\nc"]))
    (tmp_path / "queries.jsonl").write_text(json.dumps({"id": "q", "contents": "q", "vector": {"m_<s>": 1}}) + "\n")
    index = build_index(tmp_path / "vectors", tmp_path / "index", impact=True, threads=1)
    impact = LuceneImpactSearcher(str(index), str(tmp_path / "queries.jsonl"))
    assert [hit.docid for hit in impact.search("q", k=1)] == ["a"]
    with pytest.raises(MilcoError, match="line break"):
        impact.search("q", k=2)
    impact.close()


def test_stored_document_only_on_request(searcher):
    from pyserini.search.lucene import LuceneImpactSearcher

    impact, _ = searcher
    hit = impact.search("q1", k=1)[0]
    assert {slot for cls in type(hit).__mro__ for slot in getattr(cls, "__slots__", ())} == {
        "docid", "lucene_docid", "score"}  # nothing loaded with the hit
    assert not hasattr(hit, "__dict__")
    other = LuceneImpactSearcher(impact.index_dir, impact.query_encoder)  # pyjnius shares bound methods
    other.search("q2", k=1)                                               # among instances: this must not
    other.close()                                                         # become the hit's searcher
    assert hit.lucene_document.get("id") == hit.docid


def test_other_encoders_keep_pyserini_path(searcher):
    from pyserini.search.lucene import LuceneImpactSearcher

    impact, _ = searcher
    plain = LuceneImpactSearcher(impact.index_dir, None, min_idf=-1)  # whitespace tokens, not MILCO's encoder
    hits = plain.search("e_paris m_▁Paris", k=3)
    assert hits and not isinstance(hits[0], ImpactHit)  # Anserini's own ScoredDoc
    plain.close()


def anserini_adjusted(scores) -> list[float]:
    """Anserini's own ScoreTiesAdjusterReranker on float32 ``scores`` (best first)."""
    from pyserini.pyclass import autoclass

    scored = autoclass("com.fasterxml.jackson.databind.ObjectMapper")().readValue(  # pyjnius cannot set arrays
        json.dumps({"scores": scores.tolist(), "lucene_documents": [None] * len(scores)}),
        autoclass("java.lang.Class").forName("io.anserini.search.ScoredDocs"))
    assert list(scored.scores) == scores.tolist()
    return list(autoclass("io.anserini.rerank.lib.ScoreTiesAdjusterReranker")().rerank(scored, None).scores)


def test_score_ties_are_adjusted_as_anserini_does():
    """The Java class's adjustment against Anserini's own reranker, on scores with ties, near ties and decimals."""
    import numpy as np

    from pyserini_milco.integration.impact_search import batch_search_class

    rng = np.random.default_rng(0)
    base = [5.0, 5.0, 5.0, 4.99995, 4.9999, 3.00004, 3.0, 2.5, 2.5, 1e-5, 0.0, 0.0]
    cases = [base, [7.0], [], sorted(rng.choice([3.0, 2.0, 1.00005, 1.0], 40).tolist(), reverse=True),
             sorted((rng.integers(0, 50, 200) / rng.choice([1, 3, 7, 1000], 200)).tolist(), reverse=True)]
    for case in cases:
        scores = np.array(case, dtype=np.float32)
        assert list(batch_search_class().adjustScoreTies(scores.tolist())) == anserini_adjusted(scores), case


def test_idf_table_is_built_only_when_read(searcher):
    from pyserini.search.lucene import LuceneImpactSearcher

    impact, _ = searcher
    fresh = LuceneImpactSearcher(impact.index_dir, impact.query_encoder)
    assert ranked(fresh.search("q3", k=5)) == ranked(impact.search("q3", k=5))
    assert fresh.idf._idf is None  # MILCO's search never needed it
    assert "e_paris" in fresh.idf and "e_unknown" not in fresh.idf and fresh.idf["m_<s>"] == 0.0
    fresh.close()
