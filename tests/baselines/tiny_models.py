"""Tiny random models in the layouts the baselines load: BGE-M3's release folder and e5's transformers folder."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

from tiny import source_tokenizer

HIDDEN = 32


def write_bge_m3_release(folder: Path, seed: int = 0) -> Path:
    """BAAI/bge-m3's layout with tiny random weights: config.json + pytorch_model.bin of an XLM-R model
    (its pooler included, as released), sparse_linear.pt, colbert_linear.pt and the tokenizer.

    Weights are drawn wider than BERT's 0.02 (0.1): at 0.02 every [CLS] vector is the same up to float32
    noise (cosines 1 - 1e-5 apart), so the dense ranking, and min-max normalisation in the hybrid,
    would rest on rounding, which differs between CPUs."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = source_tokenizer()
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=140, pad_token_id=1,
                              architectures=["XLMRobertaModel"], initializer_range=0.1)
    model = XLMRobertaModel(config).eval()
    config.save_pretrained(str(folder))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    sparse = torch.nn.Linear(HIDDEN, 1)
    with torch.no_grad():
        sparse.bias.fill_(0.5)  # a quarter to a half of each text's tokens get a positive weight
    torch.save(sparse.state_dict(), folder / "sparse_linear.pt")
    torch.save(torch.nn.Linear(HIDDEN, HIDDEN).state_dict(), folder / "colbert_linear.pt")
    tokenizer.save_pretrained(str(folder))
    return folder


def write_e5_like(folder: Path, seed: int = 0) -> Path:
    """A tiny random BERT with an XLM-R-style tokenizer, saved as e5's transformers folder is."""
    tokenizer = source_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=140, pad_token_id=1)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
