"""The MILCO network: multilingual backbone → connector → English MLM head (pivot view),
plus the LexEcho head on the backbone states (source view).

Shapes: ``B`` texts, ``L`` tokens, ``Hm`` backbone width, ``He`` English head width,
``Ve`` English vocabulary (30,522 for BERT-uncased).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import torch
from torch import nn
from transformers import AutoConfig, AutoModel
from transformers.activations import ACT2FN

from . import unpadded
from .config import MilcoConfig

#: Rows of the ``[tokens, Ve]`` logits computed at once on a GPU: bounds memory to ``chunk × Ve`` floats.
DEFAULT_HEAD_CHUNK_TOKENS = 2048
#: CPU head tiles: texts grouped to at least this many tokens × this many vocabulary rows
#: (logits of a few MiB, reduced while in cache; 512 to 4,096 rows measured equal on a 2-core AMD EPYC).
TILE_GROUP_TOKENS = 256
TILE_VOCAB = 2048


class MlmHeadTransform(nn.Module):
    """BERT's ``cls.predictions.transform``: dense → activation → LayerNorm."""

    def __init__(self, hidden: int, act: str, eps: float):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.transform_act_fn = ACT2FN[act]
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(x)))


class MlmPredictions(nn.Module):
    """BERT's ``cls.predictions``: transform, then decoder to the vocabulary plus a bias."""

    def __init__(self, hidden: int, vocab: int, act: str, eps: float):
        super().__init__()
        self.transform = MlmHeadTransform(hidden, act, eps)
        self.decoder = nn.Linear(hidden, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits; the bias is added inside the matrix product (one pass over the ``[N, vocab]``
        output instead of two, as transformers' head does by tying ``decoder.bias``)."""
        return nn.functional.linear(self.transform(x), self.decoder.weight, self.bias)


class MlmHead(nn.Module):
    """Holds ``predictions`` so state-dict keys read ``mlm_head.predictions.*`` as in the release."""

    def __init__(self, hidden: int, vocab: int, act: str = "gelu", eps: float = 1e-12):
        super().__init__()
        self.predictions = MlmPredictions(hidden, vocab, act, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictions(x)


@dataclasses.dataclass
class MilcoOutput:
    """One batch's sparse weights before they are named.

    ``pivot``: ``[B, Ve]`` float32, ``log1p(relu(max_t logits))``.
    ``source``: ``[B, L]`` float32 per-token LexEcho weights (0 on padding), or ``None``.
    """

    pivot: torch.Tensor
    source: torch.Tensor | None


def build_backbone(backbone_config: dict) -> nn.Module:
    """An untrained transformers encoder from a config dict (``model_type`` selects the class)."""
    cfg_dict = dict(backbone_config)
    model_type = cfg_dict.pop("model_type")
    cfg = AutoConfig.for_model(model_type, **cfg_dict)
    return AutoModel.from_config(cfg, add_pooling_layer=False)


class MilcoModel(nn.Module):
    """MILCO: ``m_model`` (backbone), ``projector`` (connector), ``mlm_head``, ``echo``, ``scale``."""

    def __init__(self, config: MilcoConfig, backbone: nn.Module | None = None):
        super().__init__()
        if backbone is None:
            if config.backbone_config is None:
                raise ValueError("MilcoConfig.backbone_config is needed to build the backbone")
            backbone = build_backbone(config.backbone_config)
        self.config = config
        self.m_model = backbone
        self.projector = nn.Linear(config.m_hidden_size, config.en_hidden_size)
        self.mlm_head = MlmHead(
            config.en_hidden_size, config.en_vocab_size, config.head_hidden_act, config.head_layer_norm_eps
        )
        if config.echo:
            self.echo = nn.Linear(config.m_hidden_size, 1)
            self.scale = nn.Parameter(torch.tensor(1.0))
        self.head_chunk_tokens = DEFAULT_HEAD_CHUNK_TOKENS
        self.unpadded_inference = True

    @property
    def has_echo(self) -> bool:
        return self.config.echo

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Backbone's last hidden states ``[B, L, Hm]`` (padded; what training uses)."""
        return self.m_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Backbone states of the real tokens only, text after text, ``[N, Hm]``.

        Without gradients on the CPU, BERT-family backbones run without padding
        (:mod:`.unpadded`); elsewhere the padded batch runs and its padding rows are dropped.
        ``unpadded_inference = False`` forces the padded path.
        """
        if (self.unpadded_inference and input_ids.device.type == "cpu" and not torch.is_grad_enabled()
                and unpadded.unsupported_reason(self.m_model) is None):
            return unpadded.token_states(self.m_model, input_ids, attention_mask)
        return self.hidden_states(input_ids, attention_mask)[attention_mask.bool()]

    def pivot_max_logits(self, hidden: torch.Tensor, attention_mask: torch.Tensor, relu: bool = True) -> torch.Tensor:
        """``relu(max over real tokens of head(gelu(projector(h))))`` as ``[B, Ve]`` float32, from
        padded states ``[B, L, Hm]``. ``relu=False`` keeps the raw max, whose negative entries still
        get gradients (stage-1 training needs them). Differentiable."""
        return self.token_max_logits(hidden[attention_mask.bool()], attention_mask.sum(dim=1).tolist(), relu)

    def token_max_logits(self, states: torch.Tensor, lengths: Sequence[int], relu: bool = True) -> torch.Tensor:
        """:meth:`pivot_max_logits` from token states ``[N, Hm]`` (``lengths[i]`` rows per text).

        The ``[N, Ve]`` logits are never held whole: on the CPU the decoder runs text group by
        vocabulary tile and each tile's logits are max-reduced while still in cache (about 2x
        faster than whole rows); on a GPU it runs ``head_chunk_tokens`` rows at a time into a
        running max per text. The max is kept in the head's dtype (a max of bf16 values is exact
        in bf16) and cast to float32 once at the end.
        """
        tokens = nn.functional.gelu(self.projector(states))
        if tokens.device.type == "cpu":
            best = self._tiled_max_logits(tokens, lengths, relu)
        else:
            best = self._chunked_max_logits(tokens, lengths, relu)
        return best.float()

    def _chunked_max_logits(self, tokens: torch.Tensor, lengths: Sequence[int], relu: bool) -> torch.Tensor:
        """Whole-vocabulary logits ``head_chunk_tokens`` rows at a time, folded into a running max
        per text by ``scatter_reduce``; starting the max at 0 applies the ReLU for free."""
        owner = torch.repeat_interleave(torch.arange(len(lengths), device=tokens.device),
                                        torch.as_tensor(lengths, device=tokens.device))
        floor = 0.0 if relu else float("-inf")
        best = torch.full((len(lengths), self.config.en_vocab_size), floor, device=tokens.device, dtype=tokens.dtype)
        for start in range(0, tokens.shape[0], self.head_chunk_tokens):
            stop = start + self.head_chunk_tokens
            logits = self.mlm_head(tokens[start:stop]).to(best.dtype)
            rows = owner[start:stop, None].expand_as(logits)
            best = best.scatter_reduce(0, rows, logits, "amax", include_self=True)
        return best

    def _tiled_max_logits(self, tokens: torch.Tensor, lengths: Sequence[int], relu: bool) -> torch.Tensor:
        """Texts in groups of at least ``TILE_GROUP_TOKENS`` tokens × ``TILE_VOCAB`` decoder rows:
        each tile's logits (a few MiB) are max-reduced per text right after the matrix product."""
        predictions = self.mlm_head.predictions
        states = predictions.transform(tokens)
        weight, bias = predictions.decoder.weight, predictions.bias
        floor = 0.0 if relu else float("-inf")
        rows, start = [], 0
        for group in token_groups(lengths, TILE_GROUP_TOKENS):
            block = states[start:start + sum(group)]
            offsets = [0, *itertools.accumulate(group)][:-1]
            tiles = []
            for first in range(0, weight.shape[0], TILE_VOCAB):
                logits = nn.functional.linear(block, weight[first:first + TILE_VOCAB], bias[first:first + TILE_VOCAB])
                tiles.append(torch.stack([logits[a:a + n].amax(dim=0) if n else logits.new_full(logits.shape[1:], floor)
                                          for a, n in zip(offsets, group)]))
            rows.append(torch.cat(tiles, dim=1))
            start += sum(group)
        best = torch.cat(rows)
        return best.clamp(min=0.0) if relu else best

    def pivot_view(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pivot view ``log1p(relu(max_t logits))`` of token states, ``[B, Ve]`` float32."""
        return torch.log1p(self.token_max_logits(states, attention_mask.sum(dim=1).tolist()))

    def source_view(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """LexEcho: ``relu(echo(h_t)) * scale`` per token state, laid out as the batch ``[B, L]``
        float32 (0 on padding)."""
        source = torch.zeros(attention_mask.shape, dtype=torch.float32, device=states.device)
        source[attention_mask.bool()] = (torch.relu(self.echo(states).squeeze(-1)) * self.scale).float()
        return source

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, source_view: bool = True
    ) -> MilcoOutput:
        """Both views of a right-padded batch: pivot ``[B, Ve]``, source ``[B, L]`` (0 on padding)."""
        states = self.token_states(input_ids, attention_mask)
        pivot = self.pivot_view(states, attention_mask)
        source = self.source_view(states, attention_mask) if source_view and self.has_echo else None
        return MilcoOutput(pivot=pivot, source=source)


def token_groups(lengths: Sequence[int], min_tokens: int) -> list[list[int]]:
    """Consecutive ``lengths`` cut into groups of at least ``min_tokens`` tokens (the last may have
    fewer), so short texts share one matrix product and long ones get their own."""
    groups: list[list[int]] = [[]]
    for length in lengths:
        if sum(groups[-1]) >= min_tokens:
            groups.append([])
        groups[-1].append(length)
    return [group for group in groups if group]
