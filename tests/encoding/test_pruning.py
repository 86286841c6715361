import numpy as np
import pytest

from pyserini_milco.encoding.pruning import PruneSpec, prune, prune_part
from pyserini_milco.encoding.terms import SparseVector

# pivot ids 0..9, source ids >= 10
VECTOR = SparseVector(np.array([1, 2, 3, 4, 11, 12, 13]), np.array([4.0, 3.0, 2.0, 1.0, 0.5, 0.3, 0.2], dtype=np.float32))


def test_topk_keeps_heaviest_per_view():
    pruned = prune(VECTOR, PruneSpec("topk", 2), pivot_size=10)
    assert pruned.indices.tolist() == [1, 2, 11, 12]


def test_mass_keeps_until_fraction_of_weight():
    part = prune_part(SparseVector(np.array([1, 2, 3, 4]), np.array([4.0, 3.0, 2.0, 1.0])), PruneSpec("mass", 0.7))
    assert part.indices.tolist() == [1, 2]  # 7 of 10
    part = prune_part(SparseVector(np.array([1, 2, 3, 4]), np.array([4.0, 3.0, 2.0, 1.0])), PruneSpec("mass", 0.71))
    assert part.indices.tolist() == [1, 2, 3]
    assert len(prune_part(VECTOR, PruneSpec("mass", 1.0))) == len(VECTOR)


def test_quantile_drops_lightest_fraction_by_count():
    part = prune_part(SparseVector(np.array([1, 2, 3, 4]), np.array([4.0, 3.0, 2.0, 1.0])), PruneSpec("quantile", 0.5))
    assert part.indices.tolist() == [1, 2]


def test_view_selection():
    pivot_only = prune(VECTOR, PruneSpec("topk", 1, "pivot"), pivot_size=10)
    assert pivot_only.indices.tolist() == [1, 11, 12, 13]
    source_only = prune(VECTOR, PruneSpec("topk", 1, "source"), pivot_size=10)
    assert source_only.indices.tolist() == [1, 2, 3, 4, 11]


def test_ties_broken_by_index_and_output_sorted():
    vec = SparseVector(np.array([3, 5, 9]), np.array([1.0, 2.0, 1.0]))
    assert prune_part(vec, PruneSpec("topk", 2)).indices.tolist() == [3, 5]  # 5 heaviest, then 3 before 9


@pytest.mark.parametrize("text,error", [("topk:0", "whole number"), ("mass:1.5", "kept fraction"),
                                        ("quantile:1", "dropped fraction"), ("best:3", "use one of"),
                                        ("topk", "METHOD:VALUE"), ("topk:x", "not a number"),
                                        ("topk:3:all", "prune view")])
def test_bad_specs(text, error):
    with pytest.raises(ValueError, match=error):
        PruneSpec.parse(text)


@pytest.mark.parametrize("text", ["topk:40", "mass:0.9:pivot", "quantile:0.25:source"])
def test_label_reads_back_as_the_same_spec(text):
    assert PruneSpec.parse(text).label == text
    assert PruneSpec.parse(PruneSpec("topk", 7, "both").label) == PruneSpec("topk", 7)
