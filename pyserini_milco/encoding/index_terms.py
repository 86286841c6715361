"""From float vectors and document fields to what an index gets: the one place where documents and
queries of every sparse model (MILCO, BGE-M3's lexical weights) become ``{term: int}``."""
from __future__ import annotations

from collections.abc import Sequence

from .pruning import PruneSpec
from .pruning import prune as apply_prune
from .terms import quantized_terms


def index_terms(encoder, vectors: Sequence, prune: PruneSpec | None, scale: float) -> list[dict[str, int]]:
    """What the index gets for ``encoder``'s float vectors: each pruned (when ``prune`` is given),
    then quantized to ``{term: int}``. The one place documents and queries become index terms."""
    if prune is not None:
        vectors = [apply_prune(v, prune, encoder.pivot_size) for v in vectors]
    return [quantized_terms(encoder.vocab, v, scale) for v in vectors]


def join_title(titles: Sequence[str | None] | None, texts: Sequence[str | None]) -> list[str]:
    """``"title text"`` as Pyserini's SPLADE encoder and the authors' evaluation build a document."""
    if titles is None:
        return [t or "" for t in texts]
    return [" ".join(part for part in (title, text) if part) for title, text in zip(titles, texts)]
