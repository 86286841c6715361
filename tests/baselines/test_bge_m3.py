"""BGE-M3 from its release layout: the three representations and scores against an independent
re-implementation of the definitions, and the errors a broken or missing checkpoint gives."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from pyserini_milco.baselines import bge_m3
from pyserini_milco.baselines.bge_m3 import BgeM3Encoder, colbert_score, dense_score, lexical_score
from pyserini_milco.modeling.checkpoint import CheckpointError

from .conftest import DOCS, QUERIES

TEXTS = list(DOCS.values()) + list(QUERIES.values())


@pytest.fixture(scope="module")
def encoder(bge_m3_folder):
    return BgeM3Encoder.from_pretrained(str(bge_m3_folder))


def test_representations_follow_the_definitions(encoder, reference):
    """Batched, length-sorted and padded, the encoder gives each text what the definitions give it alone."""
    vectors = encoder.encode(TEXTS, batch_size=4, dense=True, lexical=True, colbert=True)
    for i, text in enumerate(TEXTS):
        assert torch.allclose(vectors.dense[i], reference.dense(text), atol=1e-5)
        expected = reference.lexical(text)
        lexical = vectors.lexical[i]
        assert lexical.indices.tolist() == sorted(expected)
        assert lexical.values.tolist() == pytest.approx([expected[t] for t in sorted(expected)], abs=1e-5)
        assert torch.allclose(vectors.colbert[i], torch.stack(reference.colbert_vectors(text)), atol=1e-5)


def test_special_tokens_are_dropped_and_some_weights_are_zero(encoder):
    vectors = encoder.encode(TEXTS, lexical=True, dense=False).lexical
    specials = set(encoder.special_ids.tolist())
    assert specials == {0, 1, 2, 3}
    assert all(not specials & set(v.indices.tolist()) for v in vectors)
    assert all(len(v) > 0 and (v.values > 0).all() for v in vectors)


def test_scores_follow_the_definitions(encoder, reference):
    queries = encoder.encode(list(QUERIES.values()), lexical=True, colbert=True)
    passages = encoder.encode(list(DOCS.values()), lexical=True, colbert=True)
    for q, query in enumerate(QUERIES.values()):
        for p, passage in enumerate(DOCS.values()):
            expected = reference.scores(query, passage)
            assert dense_score(queries.dense[q], passages.dense[p]) == pytest.approx(expected["dense"], abs=1e-5)
            assert lexical_score(queries.lexical[q], passages.lexical[p]) == pytest.approx(expected["sparse"], abs=1e-5)
            assert colbert_score(queries.colbert[q], passages.colbert[p]) == pytest.approx(expected["colbert"], abs=1e-5)


def test_embed_is_the_dense_view(encoder):
    assert torch.equal(encoder.embed(TEXTS[:3], "query"), encoder.encode(TEXTS[:3]).dense)
    assert encoder.encode([], lexical=True).dense.shape == (0, encoder.dimension)


def test_missing_files_are_named(bge_m3_folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bge_m3_folder, broken)
    (broken / "colbert_linear.pt").unlink()
    (broken / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match=r"missing colbert_linear.pt, model.safetensors or pytorch_model.bin.*"
                                              r"huggingface-cli download BAAI/bge-m3"):
        BgeM3Encoder.from_pretrained(str(broken))
    with pytest.raises(CheckpointError, match="not a BGE-M3 folder"):
        bge_m3.resolve(str(tmp_path / "nowhere"))


def test_a_head_of_the_wrong_width_is_refused(bge_m3_folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bge_m3_folder, broken)
    torch.save(torch.nn.Linear(7, 1).state_dict(), broken / "sparse_linear.pt")
    with pytest.raises(CheckpointError, match=r"sparse_linear.pt: expected a Linear\(32, N\)"):
        BgeM3Encoder.from_pretrained(str(broken))


LOAD = """
import sys
from pyserini_milco.baselines.bge_m3 import BgeM3Encoder
from pyserini_milco.modeling.checkpoint import CheckpointError
try:
    BgeM3Encoder.from_pretrained(sys.argv[1])
except CheckpointError as err:
    print("ERROR:", err)
else:
    print("LOADED")
"""


def _offline(cache) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache)}


def test_offline_hub_id_says_what_to_do(tmp_path):
    out = subprocess.run([sys.executable, "-c", LOAD, "bge-m3"], env=_offline(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert "ERROR:" in out.stdout and "huggingface-cli download BAAI/bge-m3 --local-dir DIR" in out.stdout
    assert "`e5-small`" in out.stdout


def test_hub_id_loads_from_the_cache(bge_m3_folder, tmp_path):
    snapshot = tmp_path / "models--BAAI--bge-m3" / "snapshots" / "0123abc"
    shutil.copytree(bge_m3_folder, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    out = subprocess.run([sys.executable, "-c", LOAD, "bge-m3"], env=_offline(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert "LOADED" in out.stdout, out.stdout + out.stderr


def test_stock_encode_fails_fast_offline(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"id": "a", "text": "x"}\n')
    done = subprocess.run([sys.executable, "-m", "pyserini.encode", "input", "--corpus", tmp_path / "c.jsonl", "output",
                           "--embeddings", tmp_path / "o", "encoder", "--encoder", "BAAI/bge-m3", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, env=_offline(tmp_path))
    assert done.returncode != 0
    assert "huggingface-cli download BAAI/bge-m3" in done.stderr and "e5-small" in done.stderr
