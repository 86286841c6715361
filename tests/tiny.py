"""Tiny, random MILCO checkpoints for tests, written in the release's layout.

The multilingual tokenizer is a real Unigram sentencepiece-style tokenizer trained on a few
sentences in several scripts (as XLM-R's is) and kept in ``data/``, the English vocabulary a short wordpiece list.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast, XLMRobertaConfig

from pyserini_milco.modeling.config import MilcoConfig
from pyserini_milco.modeling.model import MilcoModel

TEXTS = [
    "The capital of France is Paris.",
    "La capitale de la France est Paris.",
    "Die Hauptstadt von Frankreich ist Paris.",
    "法国的首都是巴黎。",
    "Столица Франции — Париж.",
    "عاصمة فرنسا هي باريس",
    "फ्रांस की राजधानी पेरिस है।",
    "เมืองหลวงของฝรั่งเศสคือปารีส",
    "Mji mkuu wa Ufaransa ni Paris.",
    "Photosynthesis converts light energy into chemical energy in plants.",
]
SOURCE_TOKENIZER = Path(__file__).parent / "data" / "source-unigram.json"
EN_TOKENS = ["[PAD]", "[unused0]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "the", "capital", "of", "france",
             "paris", "city", "french", "##s", "##ing", "energy", "light", "plant", "!", "a b"]


def source_tokenizer() -> PreTrainedTokenizerFast:
    """A real Unigram tokenizer with XLM-R's special tokens and ``<s> … </s>`` framing.

    It was trained once on ``TEXTS * 3`` (``UnigramTrainer(vocab_size=200)``, NFKC, Metaspace) and is
    read from ``data/source-unigram.json``: the trainer is not deterministic (its vocabulary follows
    Rust's randomly seeded hash order, even on one thread), and tests built on a tokenizer drawn anew
    in every run passed or failed by chance."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_file(str(SOURCE_TOKENIZER)), bos_token="<s>", eos_token="</s>",
        pad_token="<pad>", unk_token="<unk>", cls_token="<s>", sep_token="</s>",
    )


def backbone_config(vocab_size: int) -> dict:
    return XLMRobertaConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=140, pad_token_id=1,
    ).to_dict()


def tiny_model(vocab_size: int, echo: bool = True, seed: int = 0) -> MilcoModel:
    torch.manual_seed(seed)
    config = MilcoConfig(
        m_hidden_size=32, en_hidden_size=16, en_vocab_size=len(EN_TOKENS), m_vocab_size=vocab_size,
        echo=echo, backbone_config=backbone_config(vocab_size),
    )
    model = MilcoModel(config)
    with torch.no_grad():  # spread the head's weights so that many terms come out non-zero
        for name, param in model.named_parameters():
            if not name.startswith("m_model."):
                param.normal_(0, 0.5)
        if echo:
            model.scale.fill_(1.7)
    return model.eval()


def write_official_layout(folder: Path, echo: bool = True, weights: str = "pytorch_model.bin",
                          with_teacher: bool = True, uniform_echo: bool = False) -> MilcoModel:
    """The release's layout: config.json without backbone_config, ``m_model.*`` keys incl. the pooler,
    the stage-1 teacher under ``en_lsr.*``, the decoder bias as ``decoder.bias``, tokenizers in the folder,
    and the backbone's architecture available by id (here a local folder, as a hub cache would give)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = source_tokenizer()
    model = tiny_model(len(tokenizer), echo=echo)
    if uniform_echo:  # every token, <s> and </s> included, weighs `scale`: like the release's </s>
        with torch.no_grad():
            model.echo.weight.zero_()
            model.echo.bias.fill_(1.0)
    backbone_dir = folder.parent / f"{folder.name}-backbone-by-id"
    backbone_dir.mkdir(exist_ok=True)
    (backbone_dir / "config.json").write_text(json.dumps(model.config.backbone_config))
    config = model.config.to_dict()
    config.pop("backbone_config")
    config.update(multilingual_encoder_checkpoint=str(backbone_dir), lsr_encoder_checkpoint="naver/splade-v3",
                  lambda_q=1e-3, lambda_d=1e-5)
    (folder / "config.json").write_text(json.dumps(config))
    state = dict(model.state_dict())
    state["mlm_head.predictions.decoder.bias"] = state.pop("mlm_head.predictions.bias")
    state["m_model.pooler.dense.weight"] = torch.zeros(32, 32)
    state["m_model.pooler.dense.bias"] = torch.zeros(32)
    if with_teacher:
        state["en_lsr.bert.embeddings.word_embeddings.weight"] = torch.zeros(len(EN_TOKENS), 16)
    if weights == "pytorch_model.bin":
        torch.save(state, folder / weights)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / weights))
    tokenizer.save_pretrained(str(folder))
    (folder / "en_tokenizer").mkdir(exist_ok=True)
    (folder / "en_tokenizer" / "vocab.txt").write_text("\n".join(EN_TOKENS) + "\n")
    return model
