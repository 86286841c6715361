"""The MILCO network: multilingual backbone → connector → English MLM head (pivot view),
plus the LexEcho head on the backbone states (source view).

Shapes: ``B`` texts, ``L`` tokens, ``Hm`` backbone width, ``He`` English head width,
``Ve`` English vocabulary (30,522 for BERT-uncased).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
from transformers import AutoConfig, AutoModel
from transformers.activations import ACT2FN

from .config import MilcoConfig

#: Rows of the ``[tokens, Ve]`` logits computed at once: bounds memory to ``chunk × Ve`` floats.
DEFAULT_HEAD_CHUNK_TOKENS = 2048


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

    @property
    def has_echo(self) -> bool:
        return self.config.echo

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Backbone's last hidden states ``[B, L, Hm]``."""
        return self.m_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def pivot_max_logits(self, hidden: torch.Tensor, attention_mask: torch.Tensor, relu: bool = True) -> torch.Tensor:
        """``relu(max over real tokens of head(gelu(projector(h))))`` as ``[B, Ve]`` float32.

        Only non-padding tokens go through the head, ``head_chunk_tokens`` rows at a time, and a
        running max per text is kept, so the ``[B, L, Ve]`` logits are never held whole.
        Starting the max at 0 applies the ReLU for free; ``relu=False`` keeps the raw max, whose
        negative entries still get gradients (stage-1 training needs them). The max is kept in the
        head's dtype (a max of bf16 values is exact in bf16) and cast to float32 once at the end,
        which saves a float32 copy of every chunk of logits. Differentiable.
        """
        keep = attention_mask.bool()
        tokens = nn.functional.gelu(self.projector(hidden[keep]))
        owner = keep.nonzero()[:, 0]
        floor = 0.0 if relu else float("-inf")
        best = torch.full((hidden.shape[0], self.config.en_vocab_size), floor, device=hidden.device, dtype=tokens.dtype)
        for start in range(0, tokens.shape[0], self.head_chunk_tokens):
            stop = start + self.head_chunk_tokens
            logits = self.mlm_head(tokens[start:stop]).to(best.dtype)
            rows = owner[start:stop, None].expand_as(logits)
            best = best.scatter_reduce(0, rows, logits, "amax", include_self=True)
        return best.float()

    def pivot_view(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pivot view ``log1p(relu(max_t logits))``, ``[B, Ve]`` float32."""
        return torch.log1p(self.pivot_max_logits(hidden, attention_mask))

    def source_view(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """LexEcho: ``relu(echo(h_t)) * mask_t * scale`` per token, ``[B, L]`` float32."""
        weights = torch.relu(self.echo(hidden).squeeze(-1)) * attention_mask * self.scale
        return weights.float()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, source_view: bool = True
    ) -> MilcoOutput:
        hidden = self.hidden_states(input_ids, attention_mask)
        pivot = self.pivot_view(hidden, attention_mask)
        source = self.source_view(hidden, attention_mask) if source_view and self.has_echo else None
        return MilcoOutput(pivot=pivot, source=source)
