"""MilcoEncoder loading: weights come from the checkpoint alone (no random initialization first)."""
import torch

from pyserini_milco.encoding.encoder import MilcoEncoder
from pyserini_milco.modeling.checkpoint import read_checkpoint


def test_loaded_weights_are_the_checkpoint_and_encode_the_same(official_checkpoint):
    folder, _ = official_checkpoint
    fast = MilcoEncoder.from_pretrained(folder, device="cpu")
    reference_model, tokenizer, en_tokens, _ = read_checkpoint(folder)  # built with random draws, then loaded
    expected = reference_model.state_dict()
    loaded = fast.model.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    reference = MilcoEncoder(reference_model, tokenizer, en_tokens, device="cpu")
    texts = ["The capital of France is Paris.", "法国的首都是巴黎。"]
    assert fast.encode(texts) == reference.encode(texts)
    assert torch.nn.Linear(3, 3).weight.abs().sum() > 0  # initializers work again after loading
