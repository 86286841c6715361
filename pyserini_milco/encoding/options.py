"""How weights become index terms, for documents and queries: scale, pruning, views, case and precision.

One place for the retrieval policy that the encoders, the command-line wrappers, the Pyserini
adapter and the trainers share; :meth:`EncodingOptions.from_env` reads the ``PYSERINI_MILCO_*``
variables that carry these options through Pyserini's stock commands.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from ..errors import OptionError
from .pruning import PruneSpec
from .terms import DEFAULT_QUANTIZATION_SCALE

#: Query pruning when none is asked for: the 40 heaviest terms of each view. On the NTREX development set
#: (the shipped model, pooled over its three variants, 179 queries per setting, 9 settings, a paired bootstrap
#: over the 60 held-out passages, unpruned documents) every level from topk:15 to topk:40 scored within
#: 0.003 of topk:30 and only unpruned queries scored worse beyond noise (-0.010), so topk:20, the sparsest
#: level within 0.01, was the default. At 257,613 documents (``benchmarks.search_scale``, 600 NTREX queries
#: in 12 languages) topk:20 cost -0.026 [-0.040, -0.013] nDCG@10 against unpruned queries, the pivot view's
#: pruning in zh/ja/ko/ar queries being the cost, topk:30 -0.010 [-0.019, -0.000] and topk:40 -0.002
#: [-0.007, +0.004]: topk:40 is the sparsest level within noise at that scale and on the development set.
DEFAULT_QUERY_PRUNE: PruneSpec | None = PruneSpec("topk", 40)
PRECISIONS = ("auto", "fp32", "bf16")
_SWITCH = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}


@dataclasses.dataclass(frozen=True)
class EncodingOptions:
    """How weights become index terms; shared by documents and queries."""

    scale: float = DEFAULT_QUANTIZATION_SCALE
    prune: PruneSpec | None = None
    query_prune: PruneSpec | None = DEFAULT_QUERY_PRUNE
    source_view: bool = True
    lowercase: bool = False
    #: Weights' precision: ``auto`` (bf16 on CUDA, fp32 on the CPU), ``fp32`` or ``bf16``.
    precision: str = "auto"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise OptionError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "EncodingOptions":
        env = os.environ if environ is None else environ
        prune = env.get("PYSERINI_MILCO_PRUNE")
        return cls(
            scale=float(env.get("PYSERINI_MILCO_SCALE", DEFAULT_QUANTIZATION_SCALE)),
            prune=PruneSpec.parse(prune) if prune else None,
            query_prune=parse_optional_prune(env.get("PYSERINI_MILCO_QUERY_PRUNE"), DEFAULT_QUERY_PRUNE),
            source_view=_switch(env, "PYSERINI_MILCO_SOURCE_VIEW", True),
            lowercase=_switch(env, "PYSERINI_MILCO_LOWERCASE", False),
            precision=_choice(env, "PYSERINI_MILCO_PRECISION", PRECISIONS),
        )

    @property
    def dtype(self):
        """The torch dtype of :attr:`precision` (None for ``auto``: the encoder picks by device)."""
        import torch

        return {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16}[self.precision]


def optional_prune_label(spec: PruneSpec | None) -> str:
    """``none`` or the spec's :attr:`~PruneSpec.label`: what :func:`parse_optional_prune` reads back."""
    return "none" if spec is None else spec.label


def parse_optional_prune(text: str | None, default: PruneSpec | None) -> PruneSpec | None:
    """``METHOD:VALUE[:VIEW]``, ``none`` (no pruning) or unset (``default``)."""
    if text is None or text == "":
        return default
    return None if text.lower() == "none" else PruneSpec.parse(text)


def _choice(env, name: str, choices: Sequence[str]) -> str:
    """The variable's value, one of ``choices`` (the first when unset); a wrong one names the variable."""
    value = env.get(name, choices[0])
    if value not in choices:
        raise OptionError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _switch(env, name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None:
        return default
    if value.lower() not in _SWITCH:
        raise OptionError(f"{name}={value!r}: use on or off")
    return _SWITCH[value.lower()]
