"""BGE-M3's lexical weights as a Lucene impact index, exactly the way MILCO's vectors get there.

Documents: ``PYSERINI_MILCO_BGE_M3_OUTPUT=sparse python -m pyserini.encode ... encoder --encoder bge-m3``
writes JsonVectorCollection lines; ``pyserini.index.lucene --impact --pretokenized`` indexes them;
``pyserini.search.lucene --impact --encoder bge-m3 --min-idf -1`` searches with
:class:`ImpactQueryEncoder`. (Without the variable, or with ``dense``, ``pyserini.encode`` gives
BGE-M3's dense vectors: one ``--encoder`` name cannot say which of the two a run wants, and a
regression step sets the variable.)

Terms are the package's (:mod:`pyserini_milco.encoding.terms`, through
:func:`pyserini_milco.encoding.index_terms.index_terms`): the XLM-R piece of each token id as
``m_<piece>`` (the name MILCO's source view gives the same pieces), escaped for Lucene, weight
``round(w * 100)`` for documents and queries alike, so that a Lucene score is 10^4 times BGE-M3's
lexical score up to rounding (FlagEmbedding's own MKQA scripts use ``ceil(w * 100)`` and token ids;
rounding moves each weight by at most 0.005 instead of 0.01).
"""
from __future__ import annotations

import os
from typing import Sequence

from ..encoding.index_terms import index_terms, join_title
from ..encoding.terms import DEFAULT_QUANTIZATION_SCALE, TermVocabulary
from .bge_m3 import BgeM3Encoder

OUTPUT_ENV = "PYSERINI_MILCO_BGE_M3_OUTPUT"
OUTPUTS = ("dense", "sparse")


def output_from_env(environ: dict[str, str] | None = None) -> str:
    """``dense`` (the default) or ``sparse``: what ``pyserini.encode --encoder bge-m3`` writes."""
    value = (os.environ if environ is None else environ).get(OUTPUT_ENV, OUTPUTS[0])
    if value not in OUTPUTS:
        raise ValueError(f"{OUTPUT_ENV}={value!r}: use one of {', '.join(OUTPUTS)}")
    return value


class LexicalTerms:
    """BGE-M3's lexical weights of texts as ``{term: int}``; ``vocab`` and ``pivot_size`` are what
    :func:`index_terms` reads (no pivot view here: every term is a source piece)."""

    pivot_size = 0

    def __init__(self, encoder: BgeM3Encoder, scale: float = DEFAULT_QUANTIZATION_SCALE, batch_size: int = 32):
        self.encoder, self.scale, self.batch_size = encoder, scale, batch_size
        tokenizer = encoder.tokenizer
        self.vocab = TermVocabulary([], tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))

    def terms(self, texts: Sequence[str], max_length: int | None = None) -> list[dict[str, int]]:
        vectors = self.encoder.encode(texts, self.batch_size, max_length, dense=False, lexical=True).lexical
        return index_terms(self, vectors, None, self.scale)


class SparseDocumentEncoder:
    """Pyserini's ``DocumentEncoder`` contract: ``encode(texts, titles=None, max_length=...)`` →
    one ``{term: int}`` per text."""

    def __init__(self, terms: LexicalTerms):
        self.lexical = terms

    def encode(self, texts: Sequence[str], titles: Sequence[str] | None = None, max_length: int = 512,
               **kwargs) -> list[dict[str, int]]:
        return self.lexical.terms(join_title(titles, texts), max_length)


class ImpactQueryEncoder:
    """What ``LuceneImpactSearcher`` calls: ``encode(text)`` → ``{term: int}``; ``prefetch(texts)``
    encodes a search batch in one pass first (the hook calls it from ``batch_search``)."""

    def __init__(self, terms: LexicalTerms, max_length: int = 512):
        self.lexical, self.max_length = terms, max_length
        self._ready: dict[str, dict[str, int]] = {}

    def prefetch(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._ready))
        self._ready.update(zip(missing, self.lexical.terms(missing, self.max_length)))

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        self.prefetch([text])
        return self._ready.pop(text)


def document_encoder(name: str, device: str = "cpu") -> SparseDocumentEncoder:
    return SparseDocumentEncoder(LexicalTerms(BgeM3Encoder.from_pretrained(name, device=device)))


def impact_query_encoder(name: str, device: str = "cpu") -> ImpactQueryEncoder:
    """BGE-M3's query side for ``--impact`` search; on the CPU torch gets one thread (the JVM shares the cores)."""
    import torch

    if device == "cpu":
        torch.set_num_threads(1)
    return ImpactQueryEncoder(LexicalTerms(BgeM3Encoder.from_pretrained(name, device=device)))
