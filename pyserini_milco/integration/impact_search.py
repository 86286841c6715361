"""Impact search straight into Lucene, without Pyserini's per-term and per-hit plumbing.

Pyserini's ``LuceneImpactSearcher`` hands Anserini one Java map per query built by one pyjnius
``put`` per term; Anserini then also rebuilds and analyses a string repeating every term as many
times as its weight (only rerankers read it), and loads the stored document of every hit (a MILCO
document's stored vector is large), and Python reads every hit back as a Java object. Here a
query crosses into Java as one JSON string (Jackson parses it into the ``{term: weight}`` map that
Anserini's query generator takes), and its hits come back as one JSON string (Jackson writes the
``TopFieldDocs``); the docid is the sort value Lucene already holds, so no stored document is read
unless a caller asks for ``hit.lucene_document``. Batches run on ``threads`` Python threads whose
work is Java's: pyjnius releases the GIL during a Java call.

The query and the ranking are Anserini's ``SimpleImpactSearcher.search(Map<String,Integer>, k)``:
``BagOfWordsQueryGenerator.buildQuery("contents", weights)`` (a disjunction of term queries boosted
by the integer weights), scored by the searcher's ``ImpactSimilarity`` (score = Σ query weight ×
document weight), sorted by score, then by docid (Anserini's ``BREAK_SCORE_TIES_BY_DOCID``).
Anserini sorts every matching document by that sort, which keeps Lucene from skipping documents
that cannot reach the top k (and MILCO's ``m_<s>``/``m_</s>`` match every document). Here Lucene
finds the k + 1 best by score alone, skipping what it can, and those are re-sorted by Anserini's
sort (``SortRescorer``); only where the (k + 1)-th ties with the k-th, so that Anserini's sort
would choose among tied documents beyond them, does the query run Anserini's way.
"""
from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Mapping
from typing import Callable, Sequence

import numpy as np
from pyserini.pyclass import autoclass

#: The field Anserini's impact indexes hold the terms in, and the one holding the docid.
CONTENTS_FIELD = "contents"
ID_FIELD = "id"


class ImpactHit:
    """One hit, standing in for Anserini's ``ScoredDoc``: ``docid``, ``lucene_docid``, ``score``;
    ``lucene_document`` is read from the index only when asked for."""

    __slots__ = ("docid", "lucene_docid", "score", "_load")

    def __init__(self, docid: str, lucene_docid: int, score: float, load: Callable[[int], object]):
        self.docid = docid
        self.lucene_docid = lucene_docid
        self.score = score
        self._load = load

    @property
    def lucene_document(self):
        """The stored Lucene document (a Java object), loaded now."""
        return self._load(self.lucene_docid)

    def __repr__(self) -> str:
        return f"ImpactHit(docid={self.docid!r}, lucene_docid={self.lucene_docid}, score={self.score})"


def adjust_score_ties(scores: np.ndarray) -> np.ndarray:
    """Anserini's ``ScoreTiesAdjusterReranker``, which every ``SimpleImpactSearcher`` search runs:
    scores (float32, best first) rounded to 4 decimals, then each score within 1e-4 of the one
    before lowered by 1e-6 per tie in a row, so that tools sorting by score alone keep the order.
    Computed in float32 and double exactly as the Java code does."""
    scaled = scores.astype(np.float64) * 10000.0
    floor = np.floor(scaled)
    rounded = ((floor + (scaled - floor >= 0.5)) / 10000.0).astype(np.float32)  # Math.round: halves up
    if not np.any(rounded[:-1] - rounded[1:] <= np.float32(1e-4)):
        return rounded  # no ties: nothing is lowered
    ties = 0
    for i in range(1, len(rounded)):
        if rounded[i - 1] - rounded[i] > np.float32(1e-4):
            ties = 0
        else:
            ties += 1
            rounded[i] = rounded[i] - np.float32(1e-6) * np.float32(ties)
    return rounded


def _sort_docid(value) -> str:
    """The docid in a hit's sort values: Jackson writes a ``BytesRef`` as its (whole) backing
    array in base64, with the offset and length of the docid's UTF-8 bytes in it."""
    data = base64.b64decode(value["bytes"])
    return data[value["offset"]:value["offset"] + value["length"]].decode("utf-8")


class FastImpactSearcher:
    """Searches the index of an Anserini ``SimpleImpactSearcher`` (``java_searcher``, the
    ``object`` of Pyserini's ``LuceneImpactSearcher``) with ``{term: int}`` query vectors."""

    def __init__(self, java_searcher):
        index_searcher = autoclass("org.apache.lucene.search.IndexSearcher")(java_searcher.reader)
        index_searcher.setSimilarity(java_searcher.get_similarity())
        sort_field = autoclass("org.apache.lucene.search.SortField")
        sort_type = autoclass("org.apache.lucene.search.SortField$Type")
        mapper = autoclass("com.fasterxml.jackson.databind.ObjectMapper")
        features = autoclass("com.fasterxml.jackson.databind.SerializationFeature")
        float_class = autoclass("java.lang.Class").forName("java.lang.Float")
        self._java_searcher = java_searcher
        self._searcher = index_searcher
        self._sort = autoclass("org.apache.lucene.search.Sort")(sort_field.FIELD_SCORE,
                                                                sort_field(ID_FIELD, sort_type.STRING_VAL))
        self._rescorer = autoclass("org.apache.lucene.search.SortRescorer")(self._sort)
        self._generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self._reader = mapper().readerForMapOf(float_class)  # JSON object → Map<String, Float>
        self._writer = mapper().disable(features.FAIL_ON_EMPTY_BEANS).writer()

    def _document(self, lucene_docid: int):
        return self._java_searcher.doc(lucene_docid)

    def _ranked(self, top_field_docs) -> tuple[list[str], list[int], np.ndarray]:
        """Docids, Lucene docids and float32 scores of sorted hits, read from one JSON string (the
        scores as the decimals Java wrote, parsed straight to float32: each names one float32)."""
        found = json.loads(self._writer.writeValueAsString(top_field_docs), parse_float=str)["scoreDocs"]
        return ([_sort_docid(hit["fields"][1]) for hit in found], [hit["doc"] for hit in found],
                np.array([hit["score"] for hit in found], dtype=np.float32))

    def search(self, vector: Mapping[str, int], k: int) -> list[ImpactHit]:
        """The ``k`` best hits of one query vector (terms Pyserini would drop already dropped)."""
        query = self._generator.buildQuery(CONTENTS_FIELD, self._reader.readValue(json.dumps(vector)))
        docids, lucene_docids, scores = self._ranked(
            self._rescorer.rescore(self._searcher, self._searcher.search(query, k + 1), k + 1))
        if len(scores) > k and scores[k] == scores[k - 1]:
            docids, lucene_docids, scores = self._ranked(self._searcher.search(query, k, self._sort, True))
        scores = adjust_score_ties(scores[:k]).tolist()
        return [ImpactHit(*hit, self._document) for hit in zip(docids[:k], lucene_docids[:k], scores)]

    def batch_search(self, vectors: Sequence[Mapping[str, int]], k: int, threads: int = 1) -> list[list[ImpactHit]]:
        """:meth:`search` of every vector, on up to ``threads`` threads, in input order."""
        return parallel_map(lambda vector: self.search(vector, k), vectors, threads)


class LazyIdf(Mapping):
    """Pyserini's ``{term: idf}`` of an index, computed by ``compute`` on first use: every
    ``LuceneImpactSearcher`` builds it term by term through pyjnius when it opens (seconds on a
    large index), and MILCO searches (``min_idf`` below 0, where only a term's absence counts, and
    an absent term matches nothing anyway) never read it."""

    def __init__(self, compute: Callable[[], dict]):
        self._compute = compute
        self._idf: dict | None = None
        self._lock = threading.Lock()

    def _table(self) -> dict:
        with self._lock:
            if self._idf is None:
                self._idf = self._compute()
        return self._idf

    def __getitem__(self, term: str) -> float:
        return self._table()[term]

    def __contains__(self, term: object) -> bool:
        return term in self._table()

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


def query_vector(searcher, text: str) -> dict[str, int]:
    """What Pyserini's ``LuceneImpactSearcher`` hands Anserini for ``text``, as far as scores go:
    the encoded terms with an idf above ``min_idf`` (every term, when ``min_idf`` is below 0: the
    terms the index lacks, which Pyserini drops, match nothing), weights as Java ``int`` (truncated)."""
    encoded, min_idf = searcher.encode(text), searcher.min_idf
    if min_idf < 0:
        return {term: int(weight) for term, weight in encoded.items()}
    idf = searcher.idf
    return {term: int(weight) for term, weight in encoded.items() if term in idf and idf[term] > min_idf}


def attached(searcher) -> FastImpactSearcher | None:
    """The :class:`FastImpactSearcher` of a Pyserini ``LuceneImpactSearcher`` (made on first use),
    or None where Anserini's own search has to run: RM3 or Rocchio feedback (its rerankers read
    the query string and the stored documents) and Lucene 8 indexes (searched without the docid
    tie-break)."""
    java = searcher.object
    if java.use_rm3() or java.use_rocchio() or java.backwardsCompatibilityLucene8:
        return None
    fast = getattr(searcher, "_milco_fast", None)
    if fast is None:
        fast = searcher._milco_fast = FastImpactSearcher(java)
    return fast


def parallel_map(function: Callable, items: Sequence, threads: int) -> list:
    """``[function(item) for item in items]`` on up to ``threads`` threads (which leave the JVM when
    done, as pyjnius asks); the first error is raised in the caller."""
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    from jnius import detach

    results: list = [None] * len(items)
    errors: list[BaseException] = []
    counter = itertools.count()

    def work() -> None:
        try:
            for i in iter(lambda: next(counter), None):
                if i >= len(items) or errors:
                    break
                results[i] = function(items[i])
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            errors.append(error)
        finally:
            detach()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(min(threads, len(items)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results
