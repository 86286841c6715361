"""Backbone inference without padding, for the CPU.

Transformers runs a batch as a padded ``[B, L, H]`` block: every layer's matrix products and
attention also work on the padding, and each large intermediate (``[B, L, 4H]`` after the first
feed-forward layer) is a fresh allocation that the C library maps from, and returns to, the
operating system, so the CPU spends much of its time on page faults. Here the texts' real tokens
are concatenated into one ``[N, H]`` block (N = the texts' own tokens): the query/key/value
projections run once over it, attention runs text by text on its own tokens (no mask, so PyTorch's
flash kernel for the CPU applies), and the rest of each layer runs in blocks of tokens small
enough to stay in the CPU's caches and the allocator's free lists.

The layers' own modules are called (``query``, ``attention.output``, ``feed_forward_chunk`` …),
so the arithmetic is transformers', only the grouping differs (results agree to float rounding,
tested). On a GPU the padded batch is the better shape (one kernel per operation), so the model
uses this path on the CPU only.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

#: Bytes of the largest per-block intermediate (the ``[tokens, intermediate_size]`` float32
#: activations): below glibc's 32 MiB mmap ceiling, so blocks reuse freed memory.
BLOCK_BYTES = 16 * 2 ** 20
#: Transformers model types whose layers have BERT's structure and absolute positions.
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")


def unsupported_reason(backbone: nn.Module) -> str | None:
    """Why ``backbone`` cannot run unpadded, or None when it can."""
    config = getattr(backbone, "config", None)
    if config is None or config.model_type not in SUPPORTED_MODEL_TYPES:
        return f"model type {getattr(config, 'model_type', None)!r} is not one of {', '.join(SUPPORTED_MODEL_TYPES)}"
    if config.is_decoder or getattr(config, "add_cross_attention", False):
        return "decoder and cross-attention layers are not supported"
    position = getattr(config, "position_embedding_type", "absolute")
    if position != "absolute":
        return f"position_embedding_type {position!r} needs the padded attention"
    return None


def block_tokens(backbone: nn.Module) -> int:
    """Tokens per feed-forward block, so that one block's intermediate stays within BLOCK_BYTES."""
    return max(64, BLOCK_BYTES // (4 * backbone.config.intermediate_size))


def attention_context(attention: nn.Module, states: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """Self-attention output (before the output projection) of every text, ``[N, H]``."""
    heads, head_size = attention.num_attention_heads, attention.attention_head_size
    query, key, value = attention.query(states), attention.key(states), attention.value(states)
    context = torch.empty_like(query)
    start = 0
    for length in lengths:
        rows = slice(start, start + length)
        q, k, v = (t[rows].view(1, length, heads, head_size).transpose(1, 2) for t in (query, key, value))
        context[rows] = nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(length, -1)
        start += length
    return context


def layer_forward(layer: nn.Module, states: torch.Tensor, lengths: Sequence[int], block: int) -> torch.Tensor:
    """One transformer layer over the concatenated tokens."""
    context = attention_context(layer.attention.self, states, lengths)
    output = torch.empty_like(states)
    for start in range(0, states.shape[0], block):
        rows = slice(start, start + block)
        attended = layer.attention.output(context[rows], states[rows])
        output[rows] = layer.feed_forward_chunk(attended)
    return output


def token_states(backbone: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states of the real tokens, text after text, ``[N, H]``: the rows of
    ``backbone(input_ids, attention_mask).last_hidden_state[attention_mask.bool()]``.

    The mask must be right padding (every text's tokens first), as the encoder builds it.
    """
    if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
        raise ValueError("unpadded.token_states needs right padding: a mask row has a token after padding")
    lengths = attention_mask.sum(dim=1).tolist()
    states = backbone.embeddings(input_ids=input_ids)[attention_mask.bool()]
    block = block_tokens(backbone)
    for layer in backbone.encoder.layer:
        states = layer_forward(layer, states, lengths, block)
    return states
