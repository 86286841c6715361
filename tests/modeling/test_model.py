"""The package's encoder equals a straightforward implementation of MILCO's formulas."""
import math

import pytest
import torch

from pyserini_milco.encoding.encoder import MilcoEncoder
from pyserini_milco.encoding.terms import escape_term
from pyserini_milco.modeling import model as model_module
from tiny import EN_TOKENS, TEXTS, source_tokenizer, tiny_model

MIXED = TEXTS + ["x", "Paris " * 40, "", "日本語のテキスト、とても長い文章です。" * 3]


def reference_vectors(model, tokenizer, texts, source_view=True):
    """MILCO by the formulas: full [B, L, V] logits, masked max, no chunking, no sorting."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        hidden = model.m_model(input_ids=ids, attention_mask=mask).last_hidden_state
        p = model.mlm_head.predictions
        z = torch.nn.functional.gelu(hidden @ model.projector.weight.T + model.projector.bias)
        t = torch.nn.functional.gelu(z @ p.transform.dense.weight.T + p.transform.dense.bias)
        t = torch.nn.functional.layer_norm(t, (t.shape[-1],), p.transform.LayerNorm.weight,
                                           p.transform.LayerNorm.bias, eps=1e-12)
        logits = t @ p.decoder.weight.T + p.bias
        pivot = torch.log1p(torch.relu((logits * mask[..., None]).max(dim=1).values))
        echo = torch.relu(hidden @ model.echo.weight.T + model.echo.bias)[..., 0] * mask * model.scale
    pieces = [tokenizer.convert_ids_to_tokens(i) for i in range(len(tokenizer))]
    out = []
    for row in range(len(texts)):
        vec = {escape_term("e_" + EN_TOKENS[j]): float(pivot[row, j]) for j in range(len(EN_TOKENS)) if pivot[row, j] > 0}
        if source_view:
            for pos in range(ids.shape[1]):
                w = float(echo[row, pos])
                if w > 0:
                    name = escape_term("m_" + pieces[int(ids[row, pos])])
                    vec[name] = vec.get(name, 0.0) + w
        out.append(vec)
    return out


def assert_same(got, want, tol=1e-5):
    assert set(got) == set(want)
    for term, weight in want.items():
        assert math.isclose(got[term], weight, rel_tol=tol, abs_tol=tol), (term, got[term], weight)


@pytest.mark.parametrize("unpadded_inference", [True, False])
@pytest.mark.parametrize("source_view", [True, False])
def test_encoder_matches_reference(source_view, unpadded_inference):
    tokenizer = source_tokenizer()
    model = tiny_model(len(tokenizer))
    model.unpadded_inference = unpadded_inference  # False: the padded backbone, as on a GPU
    encoder = MilcoEncoder(model, tokenizer, EN_TOKENS, device="cpu", source_view=source_view, max_length=128)
    got = encoder.encode(MIXED, batch_size=3)
    want = reference_vectors(model, tokenizer, MIXED, source_view=source_view)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w)
    assert any(t.startswith("m_") for v in got for t in v) == source_view
    assert min(len(v) for v in got) > 3


def test_pivot_only_checkpoint_has_no_source_terms():
    tokenizer = source_tokenizer()
    model = tiny_model(len(tokenizer), echo=False)
    encoder = MilcoEncoder(model, tokenizer, EN_TOKENS, device="cpu", source_view=True)
    vectors = encoder.encode(TEXTS[:3])
    assert all(t.startswith("e_") for v in vectors for t in v)
    assert_same(vectors[1], reference_vectors_pivot_only(model, tokenizer, TEXTS[:3])[1])


def reference_vectors_pivot_only(model, tokenizer, texts):
    model.echo = torch.nn.Linear(32, 1)  # unused by the pivot view
    model.scale = torch.nn.Parameter(torch.tensor(1.0))
    return reference_vectors(model, tokenizer, texts, source_view=False)


def test_special_tokens_take_part_and_repeats_add_up():
    tokenizer = source_tokenizer()
    model = tiny_model(len(tokenizer))
    with torch.no_grad():  # every token gets echo weight 1 × scale
        model.echo.weight.zero_()
        model.echo.bias.fill_(1.0)
    encoder = MilcoEncoder(model, tokenizer, EN_TOKENS, device="cpu")
    ids = tokenizer("Paris Paris Paris")["input_ids"]
    vector = encoder.encode("Paris Paris Paris")
    assert vector["m_<s>"] == pytest.approx(1.7) and vector["m_</s>"] == pytest.approx(1.7)
    repeated = max(set(ids), key=ids.count)
    expected = ids.count(repeated) * 1.7
    assert vector["m_" + tokenizer.convert_ids_to_tokens(repeated)] == pytest.approx(expected)


def test_sparse_tensor_and_decode():
    tokenizer = source_tokenizer()
    model = tiny_model(len(tokenizer))
    encoder = MilcoEncoder(model, tokenizer, EN_TOKENS, device="cpu")
    sparse = encoder.encode_sparse(TEXTS[:4]).coalesce()
    assert sparse.shape == (4, len(EN_TOKENS) + len(tokenizer))
    dicts = encoder.encode(TEXTS[:4])
    dense = sparse.to_dense()
    for row, terms in enumerate(dicts):
        assert dense[row].count_nonzero() == len(terms)
        assert dense[row].sum().item() == pytest.approx(sum(terms.values()), rel=1e-5)
    top = encoder.decode(dicts[0], top_k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    vectors = encoder.encode_vectors(TEXTS[:2])
    scores = encoder.similarity(vectors, vectors)
    assert scores[0, 0] == pytest.approx(sum(w * w for w in dicts[0].values()), rel=1e-5)


def test_whitespace_in_vocabulary_is_escaped():
    tokenizer = source_tokenizer()
    encoder = MilcoEncoder(tiny_model(len(tokenizer)), tokenizer, EN_TOKENS, device="cpu")
    assert "e_a%20b" in encoder.vocab.names.tolist()


@pytest.mark.parametrize("relu", [True, False])
def test_cpu_tiles_and_gpu_chunks_give_the_same_max_and_gradients(relu, monkeypatch):
    """The CPU head (text groups × vocabulary tiles) against the GPU head (token chunks and a
    running max), both run here on the CPU: same values, same gradients (training uses relu=False)."""
    model = tiny_model(200)
    monkeypatch.setattr(model_module, "TILE_VOCAB", 6)  # several tiles, the last one short
    monkeypatch.setattr(model_module, "TILE_GROUP_TOKENS", 9)
    model.head_chunk_tokens = 7  # chunks cross text boundaries
    lengths = [2, 12, 3, 3, 1, 20]
    states = torch.randn(sum(lengths), 32)
    results = []
    for head in (model._tiled_max_logits, model._chunked_max_logits):
        model.zero_grad()
        tokens = torch.nn.functional.gelu(model.projector(states))
        best = head(tokens, lengths, relu)
        best.sum().backward()
        results.append((best.detach(), model.mlm_head.predictions.decoder.weight.grad.clone()))
    (tiled, tiled_grad), (chunked, chunked_grad) = results
    assert tiled.shape == (len(lengths), len(EN_TOKENS))
    torch.testing.assert_close(tiled, chunked)
    torch.testing.assert_close(tiled_grad, chunked_grad)
    assert (tiled >= 0).all() if relu else (tiled < 0).any()


def test_token_groups_keep_order_and_reach_the_minimum():
    assert model_module.token_groups([5, 300, 2, 2, 2, 1], 4) == [[5], [300], [2, 2], [2, 1]]
    assert model_module.token_groups([1] * 5, 256) == [[1] * 5]
    assert model_module.token_groups([], 256) == []
