"""Impact search straight into Lucene, without Pyserini's per-term and per-hit plumbing.

Pyserini's ``LuceneImpactSearcher`` hands Anserini one Java map per query built by one pyjnius
``put`` per term; Anserini then also rebuilds and analyses a string repeating every term as many
times as its weight (only rerankers read it), and loads the stored document of every hit (a MILCO
document's stored vector is large), and Python reads every hit back as a Java object. Here a whole
batch of queries crosses into Java as one JSON string and its hits come back as one byte array
(``milco.ImpactBatchSearch``, a small class compiled from ``jvm/milco/ImpactBatchSearch.java`` and
put on the JVM's classpath by :func:`pyserini_milco.integration.java.configure_java`): one call per
batch, the queries searched on a pool of ``threads`` Java threads. The docid is the sort value
Lucene already holds, so no stored document is read unless a caller asks for ``hit.lucene_document``.

The query and the ranking are Anserini's ``SimpleImpactSearcher.search(Map<String,Integer>, k)``:
``BagOfWordsQueryGenerator.buildQuery("contents", weights)`` (a disjunction of term queries boosted
by the integer weights), scored by the searcher's ``ImpactSimilarity`` (score = Σ query weight ×
document weight), sorted by score, then by docid (Anserini's ``BREAK_SCORE_TIES_BY_DOCID``), then
its scores adjusted as its ``ScoreTiesAdjusterReranker`` does (``ImpactBatchSearch.adjustScoreTies``).
Anserini sorts every matching document by that sort, which keeps Lucene from skipping documents
that cannot reach the top k (and MILCO's ``m_<s>``/``m_</s>`` match every document). The Java
class lets Lucene find the k + 1 best by score alone, skipping what it can, and orders tied scores
among those by docid (read from the ``id`` field's doc values); only where the (k + 1)-th ties with
the k-th, so that Anserini's sort would choose among tied documents beyond them, does the query run
Anserini's way. A batch's hits come back flat (hits per query, then the Lucene docids, the float32
scores and the docids, one per line, of every query in turn), so Python makes its hits with a few
bulk conversions. Weights cross as they are encoded and are truncated to integers in Java.
"""
from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections.abc import Mapping
from typing import Callable, Iterator, Sequence

import numpy as np
from pyserini.pyclass import autoclass

from ..errors import MilcoError
from .java import JVM_CLASSES

#: The field Anserini's impact indexes hold the terms in, and the one holding the docid.
CONTENTS_FIELD = "contents"
ID_FIELD = "id"


class ImpactHit:
    """One hit, standing in for Anserini's ``ScoredDoc``: ``docid``, ``lucene_docid``, ``score``;
    ``lucene_document`` is read from the index only when asked for, by ``_load``, which each
    searcher's subclass (:func:`hit_class`) sets once instead of every hit holding it."""

    __slots__ = ("docid", "lucene_docid", "score")
    _load: Callable[[int], object]

    def __init__(self, docid: str, lucene_docid: int, score: float):
        self.docid = docid
        self.lucene_docid = lucene_docid
        self.score = score

    @property
    def lucene_document(self):
        """The stored Lucene document (a Java object), loaded now."""
        return self._load(self.lucene_docid)

    def __repr__(self) -> str:
        return f"ImpactHit(docid={self.docid!r}, lucene_docid={self.lucene_docid}, score={self.score})"


def hit_class(load: Callable[[int], object]) -> type[ImpactHit]:
    """The :class:`ImpactHit` of one index: its stored documents are read by ``load(lucene_docid)``."""
    return type(ImpactHit.__name__, (ImpactHit,), {"__slots__": (), "_load": staticmethod(load)})


class FastImpactSearcher:
    """Searches the index of an Anserini ``SimpleImpactSearcher`` (``java_searcher``, the
    ``object`` of Pyserini's ``LuceneImpactSearcher``) with ``{term: weight}`` query vectors."""

    def __init__(self, java_searcher):
        index_searcher = autoclass("org.apache.lucene.search.IndexSearcher")(java_searcher.reader)
        index_searcher.setSimilarity(java_searcher.get_similarity())
        sort_field = autoclass("org.apache.lucene.search.SortField")
        sort_type = autoclass("org.apache.lucene.search.SortField$Type")
        sort = autoclass("org.apache.lucene.search.Sort")(sort_field.FIELD_SCORE, sort_field(ID_FIELD, sort_type.STRING_VAL))
        generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self._batch = batch_search_class()(index_searcher, generator, CONTENTS_FIELD, sort)
        # not ``java_searcher.doc`` itself: pyjnius binds a method object to the instance it was
        # last read from, shared by every instance of the class
        self._hit = hit_class(lambda lucene_docid: java_searcher.doc(lucene_docid))

    def batch_search(self, vectors: Sequence[Mapping[str, float]], k: int, threads: int = 1) -> list[list[ImpactHit]]:
        """The ``k`` best hits of every query vector (terms Pyserini would drop already dropped; weights
        as encoded, truncated to integers in Java as Pyserini truncates them), in input order,
        searched on up to ``threads`` Java threads. Scores are the float32 values Java computed (read
        back exactly), as Python floats."""
        if not vectors:
            return []
        counts, lucene_docids, scores, docids = unpack_hits(
            self._batch.search(json.dumps(vectors, default=float), k, threads).tostring())
        hit, hits, start = self._hit, [], 0
        with paused_gc():  # a batch makes ~k objects per query, all kept: nothing for the collector
            for count in counts:
                end = start + count
                hits.append(list(map(hit, docids[start:end], lucene_docids[start:end], scores[start:end])))
                start = end
        return hits

    def search(self, vector: Mapping[str, float], k: int) -> list[ImpactHit]:
        """The ``k`` best hits of one query vector."""
        return self.batch_search([vector], k)[0]


def unpack_hits(packed: bytes) -> tuple[list[int], list[int], list[float], list[str]]:
    """``ImpactBatchSearch.search``'s bytes as lists: hits per query, then every hit's Lucene docid,
    score (the float32 Java computed, exactly) and docid."""
    queries = int.from_bytes(packed[:4], "little")
    counts = np.frombuffer(packed, "<i4", queries, 4).tolist()
    total, at = sum(counts), 4 + 4 * queries
    lucene_docids = np.frombuffer(packed, "<i4", total, at).tolist()
    scores = np.frombuffer(packed, "<f4", total, at + 4 * total).tolist()
    docids = packed[at + 8 * total:].decode("utf-8").split("\n")
    if len(docids) != total + 1:
        raise MilcoError(f"a docid of this index holds a line break ({len(docids) - 1 - total} more lines than hits); "
                         "such docids cannot be written to a TREC run: search with Pyserini's own path "
                         "(PYSERINI_MILCO_DISABLE=1)")
    return counts, lucene_docids, scores, docids


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """CPython's cyclic collector off for the block (back on after, if it was): making many objects
    that all stay alive otherwise sets off collections that scan every one of them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def batch_search_class():
    """``milco.ImpactBatchSearch``, or a :class:`MilcoError` saying why the JVM lacks it."""
    from jnius import JavaException

    try:
        return autoclass("milco.ImpactBatchSearch")
    except JavaException as error:
        raise MilcoError(
            f"Java cannot find milco.ImpactBatchSearch ({error}): the JVM was started before pyserini_milco "
            f"put {JVM_CLASSES} on its classpath; import pyserini_milco (or pyserini) before starting Java") from error


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


def query_vector(searcher, text: str) -> Mapping[str, float]:
    """What Pyserini's ``LuceneImpactSearcher`` hands Anserini for ``text``, as far as scores go:
    the encoded terms with an idf above ``min_idf`` (every term, when ``min_idf`` is below 0: the
    terms the index lacks, which Pyserini drops, match nothing). Weights stay as encoded: Pyserini
    truncates them to Java ``int``, and :class:`FastImpactSearcher` truncates them the same way in Java."""
    encoded, min_idf = searcher.encode(text), searcher.min_idf
    if min_idf < 0:
        return encoded
    idf = searcher.idf
    return {term: weight for term, weight in encoded.items() if term in idf and idf[term] > min_idf}


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
