"""multilingual-e5-small as a dense retriever (the stage-2 teacher and the dense baseline)."""
from __future__ import annotations

import pytest
import torch

from pyserini_milco.mini import e5, parts, wheels

_MISSING = parts.missing_parts()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"pinned wheels not in the cache {wheels.cache_root()}")


@pytest.fixture(scope="module")
def embedder():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield e5.E5Embedder()
    torch.set_num_threads(before)


def test_folder_is_a_complete_transformers_folder():
    folder = e5.e5_folder()
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert (folder / e5.COMPLETE_MARK).is_file()
    assert e5.e5_folder() == folder  # second call finds it


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.equal(e5.mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))


def test_embeddings_are_unit_vectors_in_input_order(embedder):
    texts = ["a", "a much longer text about the history of the city of Paris", "Berlin"]
    together = embedder.embed(texts, "passage", batch_size=2)
    one_by_one = torch.cat([embedder.embed([t], "passage") for t in texts])
    assert torch.allclose(together.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(together, one_by_one, atol=1e-4)


def test_cross_lingual_query_finds_its_passage(embedder):
    """Real pretrained weights: German and Chinese questions rank the English answer first."""
    passages = ["Paris is the capital and largest city of France.",
                "The Panthers defense gave up just 308 points, ranking sixth in the league.",
                "Photosynthesis converts light energy into chemical energy in plants."]
    queries = ["Was ist die Hauptstadt von Frankreich?", "植物如何把光变成能量？"]
    scores = embedder.embed(queries, "query") @ embedder.embed(passages, "passage").T
    assert scores.argmax(dim=1).tolist() == [0, 2]
