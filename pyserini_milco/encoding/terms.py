"""Sparse vectors, term names and integer quantization.

A MILCO vector lives in one index space: ids ``0 .. Ve-1`` are English wordpieces (pivot view,
named ``e_<wordpiece>``) and ids ``Ve + i`` are backbone pieces (source view, named ``m_<piece>``),
as in the released model (dimension 30,522 + 250,002 = 280,524).

Term-name escape (deterministic, documented in the README): Lucene's whitespace analyzer splits a
term at any whitespace and cuts it at 255 characters, so every whitespace character and ``%`` itself
is written as ``%XX`` (its UTF-8 bytes in upper-case hex); a name that is still 255 characters or
longer is cut to 240 characters plus ``~`` and 8 hex digits of the full name's SHA-1.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Sequence

import numpy as np

PIVOT_PREFIX = "e_"
SOURCE_PREFIX = "m_"
MAX_TERM_CHARS = 255
_CUT_CHARS = 240

#: Default integer scale for document and query weights (weight 1.23 → 123).
DEFAULT_QUANTIZATION_SCALE = 100.0


@dataclasses.dataclass(frozen=True)
class SparseVector:
    """Non-zero entries of one text's vector: sorted unique ``indices`` and their ``values``."""

    indices: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def split(self, pivot_size: int) -> tuple["SparseVector", "SparseVector"]:
        """(pivot part, source part) of this vector."""
        is_pivot = self.indices < pivot_size
        return (
            SparseVector(self.indices[is_pivot], self.values[is_pivot]),
            SparseVector(self.indices[~is_pivot], self.values[~is_pivot]),
        )

    @staticmethod
    def concat(parts: Sequence["SparseVector"]) -> "SparseVector":
        return SparseVector(
            np.concatenate([p.indices for p in parts]), np.concatenate([p.values for p in parts])
        )

    def dot(self, other: "SparseVector") -> float:
        common, mine, theirs = np.intersect1d(self.indices, other.indices, return_indices=True)
        return float(np.dot(self.values[mine].astype(np.float64), other.values[theirs].astype(np.float64)))


#: A character to escape: whitespace (``\s`` on ``str`` is exactly ``str.isspace``) or ``%``.
_NEEDS_ESCAPE = re.compile(r"[\s%]")


def _needs_escape(char: str) -> bool:
    return _NEEDS_ESCAPE.match(char) is not None


def escape_term(name: str) -> str:
    """Make ``name`` one Lucene whitespace token under 255 characters (see module docstring)."""
    if _NEEDS_ESCAPE.search(name):
        name = "".join(
            "".join(f"%{b:02X}" for b in c.encode("utf-8")) if _needs_escape(c) else c for c in name
        )
    if len(name) >= MAX_TERM_CHARS:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        name = f"{name[:_CUT_CHARS]}~{digest}"
    return name


class TermVocabulary:
    """Maps vector indices to term names for both views."""

    def __init__(self, pivot_tokens: Sequence[str], source_tokens: Sequence[str]):
        self.pivot_size = len(pivot_tokens)
        names = [escape_term(PIVOT_PREFIX + t) for t in pivot_tokens]
        names += [escape_term(SOURCE_PREFIX + t) for t in source_tokens]
        self.names = np.array(names, dtype=object)
        self._index = {name: i for i, name in enumerate(names)}

    def __len__(self) -> int:
        return len(self.names)

    def to_terms(self, vector: SparseVector) -> dict[str, float]:
        """``{term: weight}`` with float weights, heaviest first."""
        order = np.argsort(-vector.values, kind="stable")
        return dict(zip(self.names[vector.indices[order]].tolist(), vector.values[order].tolist()))

    def from_terms(self, terms: dict[str, float]) -> SparseVector:
        """The inverse of :meth:`to_terms` (unknown names raise ``KeyError``)."""
        pairs = sorted((self._index[t], w) for t, w in terms.items())
        return SparseVector(
            np.array([i for i, _ in pairs], dtype=np.int64), np.array([w for _, w in pairs], dtype=np.float32)
        )


def quantize(vector: SparseVector, scale: float = DEFAULT_QUANTIZATION_SCALE) -> SparseVector:
    """Integer weights ``round(w * scale)``; entries that round to 0 or below are dropped."""
    rounded = np.rint(vector.values.astype(np.float64) * scale).astype(np.int64)
    keep = rounded > 0
    return SparseVector(vector.indices[keep], rounded[keep])


def quantized_terms(vocab: TermVocabulary, vector: SparseVector, scale: float) -> dict[str, int]:
    """The JsonVectorCollection ``vector`` field: ``{term: int}`` after quantization."""
    return {t: int(w) for t, w in vocab.to_terms(quantize(vector, scale)).items()}
