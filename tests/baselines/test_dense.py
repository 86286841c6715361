"""Dense encoders: the same vectors as Pyserini's own Auto encoders given the right flags, chosen by the
model (never by an accidental substring) in every Pyserini encoder map, and a user prefix refused."""
from __future__ import annotations

import numpy as np
import pytest

from pyserini_milco.baselines import dense
from pyserini_milco.baselines.registration import baseline_kind, document_encoder, query_encoder

from .conftest import DOCS, QUERIES

TEXTS = list(DOCS.values())


def test_e5_documents_and_queries_equal_pyserinis_auto_encoders_with_e5s_flags(e5_like_folder):
    """``--encoder-class auto --pooling mean --l2-norm --prefix passage:`` (documents) and ``--query-prefix
    query:`` (queries) compute e5's vectors too; ours must agree."""
    from pyserini.encode import AutoDocumentEncoder, AutoQueryEncoder

    ours = document_encoder(str(e5_like_folder))
    theirs = AutoDocumentEncoder.__wrapped__(str(e5_like_folder), device="cpu", pooling="mean", l2_norm=True,
                                             prefix="passage:")
    assert np.allclose(ours.encode(TEXTS, max_length=64), theirs.encode(TEXTS, max_length=64), atol=1e-5)
    ours_q = query_encoder(str(e5_like_folder))
    theirs_q = AutoQueryEncoder.__wrapped__(encoder_dir=str(e5_like_folder), pooling="mean", l2_norm=True,
                                            prefix="query:")
    batch = ours_q.encode_batch(list(QUERIES.values()))
    for row, query in zip(batch, QUERIES.values()):
        assert np.allclose(row, theirs_q.encode(query), atol=1e-5)
        assert np.allclose(row, ours_q.encode(query), atol=1e-5)


def test_bge_m3_dense_equals_pyserinis_auto_encoder_with_cls_pooling(bge_m3_folder):
    from pyserini.encode import AutoDocumentEncoder

    theirs = AutoDocumentEncoder.__wrapped__(str(bge_m3_folder), device="cpu", pooling="cls", l2_norm=True)
    ours = document_encoder(str(bge_m3_folder))
    assert isinstance(ours, dense.DenseDocumentEncoder)
    assert np.allclose(ours.encode(TEXTS, titles=[""] * len(TEXTS)), theirs.encode(TEXTS), atol=1e-5)


def test_titles_are_joined_as_the_sparse_encoders_join_them(e5_like_folder):
    encoder = document_encoder(str(e5_like_folder))
    joined = encoder.encode(["Paris is a city."], titles=["France"])
    assert np.allclose(joined, encoder.encode(["France Paris is a city."]), atol=1e-6)


def test_the_model_decides_not_a_substring(tmp_path, e5_like_folder, bge_m3_folder):
    assert baseline_kind(str(bge_m3_folder)) == "bge-m3"  # by its head files: the name says nothing
    assert baseline_kind("BAAI/bge-m3") == baseline_kind("bge-m3") == "bge-m3"
    assert baseline_kind("intfloat/multilingual-e5-small") == baseline_kind("e5-small") == "e5-small"
    assert baseline_kind("/root/.cache/pyserini-milco/multilingual-e5-small") == "e5-small"
    assert baseline_kind("milco-mini") is None and baseline_kind("naver/splade-v3") is None


def test_stock_encoder_maps_build_the_baselines(e5_like_folder, bge_m3_folder):
    import pyserini.encode as encode

    milco_entry = encode.document_encoder_class_map["milco"]  # our cache folder has "milco" in its path
    assert isinstance(milco_entry(model_name=str(e5_like_folder), device="cpu"), dense.DenseDocumentEncoder)
    assert isinstance(encode.AutoDocumentEncoder(model_name=str(bge_m3_folder), device="cpu"), dense.DenseDocumentEncoder)
    built = encode.query_encoder_class_map["auto"](encoder_dir=str(e5_like_folder), tokenizer_name=None, device="cpu",
                                                   prefix=None, fp16=False)
    assert isinstance(built, dense.DenseQueryEncoder)
    assert isinstance(encode.AutoQueryEncoder(str(bge_m3_folder), device="cpu"), dense.DenseQueryEncoder)


def test_a_user_prefix_is_refused(e5_like_folder):
    with pytest.raises(ValueError, match="defines its own inputs.*drop --prefix"):
        document_encoder(str(e5_like_folder), prefix="passage:")
