import numpy as np
import pytest

from pyserini_milco.encoding.terms import (MAX_TERM_CHARS, SparseVector, TermVocabulary, escape_term, quantize,
                                           quantized_terms)


@pytest.mark.parametrize("raw", ["a b", "a\tb", "a\u3000b", "a\u00a0b", "a\nb", "x\u2028y", "100%"])
def test_escaped_terms_have_no_whitespace(raw):
    escaped = escape_term(raw)
    assert not any(c.isspace() for c in escaped)
    assert escaped != raw


def test_escape_is_deterministic_injective_and_keeps_plain_names():
    assert escape_term("e_##ing") == "e_##ing"
    assert escape_term("m_▁美国") == "m_▁美国"
    assert escape_term("a b") == "a%20b"
    assert escape_term("a%20b") == "a%2520b"  # '%' itself is escaped, so the two stay distinct
    assert escape_term("a\u3000b") == "a%E3%80%80b"


def test_long_names_are_cut_with_a_digest():
    long_a, long_b = "m_" + "x" * 300, "m_" + "x" * 299 + "y"
    assert len(escape_term(long_a)) < MAX_TERM_CHARS
    assert escape_term(long_a) != escape_term(long_b)
    assert escape_term(long_a) == escape_term(long_a)


def test_quantization_drops_zeros_and_rounds():
    vector = SparseVector(np.array([0, 3, 5, 9]), np.array([0.004, 0.006, 1.234, 2.5], dtype=np.float32))
    q = quantize(vector, 100)
    assert q.indices.tolist() == [3, 5, 9] and q.values.tolist() == [1, 123, 250]


def test_vocabulary_names_and_round_trip():
    vocab = TermVocabulary(["the", "a b"], ["<s>", "▁Paris"])
    vector = SparseVector(np.array([1, 3]), np.array([0.5, 2.0], dtype=np.float32))
    terms = vocab.to_terms(vector)
    assert list(terms) == ["m_▁Paris", "e_a%20b"]  # heaviest first
    back = vocab.from_terms(terms)
    assert back.indices.tolist() == [1, 3]
    assert quantized_terms(vocab, vector, 10) == {"m_▁Paris": 20, "e_a%20b": 5}
    assert all(type(w) is int for w in quantized_terms(vocab, vector, 10).values())


def test_dot_product_over_shared_indices():
    a = SparseVector(np.array([1, 4, 7]), np.array([1.0, 2.0, 3.0]))
    b = SparseVector(np.array([4, 7, 9]), np.array([10.0, 1.0, 5.0]))
    assert a.dot(b) == 23.0


def test_escaped_characters_are_exactly_whitespace_and_percent():
    """The escape's pattern picks every code point that ``str.isspace`` calls whitespace, and ``%``, and no other."""
    import sys

    from pyserini_milco.encoding.terms import _needs_escape

    assert [c for c in map(chr, range(sys.maxunicode + 1)) if _needs_escape(c) != (c.isspace() or c == "%")] == []
