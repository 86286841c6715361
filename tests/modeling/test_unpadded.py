"""The unpadded CPU backbone gives transformers' padded forward's states, token for token."""
import pytest
import torch
from transformers import BertConfig, XLMRobertaConfig

from pyserini_milco.encoding.encoder import pad_sequences
from pyserini_milco.modeling import unpadded
from pyserini_milco.modeling.model import build_backbone

LENGTHS = [2, 37, 5, 64, 3, 11]  # a bare "<s> </s>", long and short texts in one batch


def random_batch(vocab: int, pad_id: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    sequences = [[0, *torch.randint(4, vocab, (n - 2,), generator=generator).tolist(), 2] for n in LENGTHS]
    return pad_sequences(sequences, pad_id)


def backbone(model_type: str):
    torch.manual_seed(0)
    shapes = dict(vocab_size=300, hidden_size=48, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96)
    if model_type == "bert":
        config = BertConfig(**shapes, max_position_embeddings=80, pad_token_id=1)
    else:
        config = XLMRobertaConfig(**shapes, max_position_embeddings=90, pad_token_id=1)
    return build_backbone(config.to_dict()).eval()


@pytest.mark.parametrize("model_type", ["bert", "xlm-roberta"])
def test_token_states_equal_padded_forward(model_type, monkeypatch):
    model = backbone(model_type)
    ids, mask = random_batch(300, pad_id=1)
    monkeypatch.setattr(unpadded, "block_tokens", lambda backbone: 16)  # feed-forward blocks cross texts
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask).last_hidden_state[mask.bool()]
        got = unpadded.token_states(model, ids, mask)
    assert got.shape == (sum(LENGTHS), 48)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_left_padding_is_refused():
    model = backbone("bert")
    ids, mask = random_batch(300, pad_id=1)
    with pytest.raises(ValueError, match="right padding"):
        unpadded.token_states(model, ids.flip(1), mask.flip(1))


def test_unsupported_backbones_are_named():
    assert unpadded.unsupported_reason(backbone("bert")) is None
    assert unpadded.unsupported_reason(backbone("xlm-roberta")) is None
    decoder = backbone("bert")
    decoder.config.is_decoder = True
    assert "decoder" in unpadded.unsupported_reason(decoder)
    other = torch.nn.Linear(2, 2)
    assert "model type None" in unpadded.unsupported_reason(other)
