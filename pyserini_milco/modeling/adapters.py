"""Low-rank adapters (LoRA) on the backbone's linear layers, and their exact merge.

Training a small model's whole backbone would make the shipped result large; adapters keep the
trained part to a few MB (``W' = W + (alpha / r) · B A``). Merging is done element-wise in float64
with a fixed summation order, then rounded to float32, so a delta applied on any machine gives the
same weights bit for bit (a BLAS matmul would not promise that).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: Backbone ``nn.Linear`` names (BERT/XLM-R layout) that get adapters.
DEFAULT_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


class LoraLinear(nn.Module):
    """``base(x) + (alpha / r) · x Aᵀ Bᵀ`` with ``base`` frozen; B starts at zero (an exact no-op)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


def _layer_index(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[parts.index("layer") + 1]) if "layer" in parts else None


def adapter_targets(backbone: nn.Module, layers: list[int], targets=DEFAULT_TARGETS) -> list[str]:
    """Names of the linear layers in ``layers`` whose name ends with one of ``targets``."""
    names = []
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Linear) and _layer_index(name) in layers:
            if any(name.endswith(t) and not name.endswith("attention." + t) for t in targets):
                names.append(name)
    return names


def add_adapters(backbone: nn.Module, layers: list[int], rank: int, alpha: float) -> list[str]:
    """Wrap the chosen linear layers with :class:`LoraLinear`; returns their names."""
    names = adapter_targets(backbone, layers)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = backbone.get_submodule(parent_name)
        setattr(parent, child, LoraLinear(getattr(parent, child), rank, alpha))
    return names


def merged_weight(weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float) -> torch.Tensor:
    """``W + scaling · B A`` computed in float64 element-wise, one rank at a time, rounded to float32."""
    a = lora_a.detach().cpu().numpy().astype(np.float64)
    b = lora_b.detach().cpu().numpy().astype(np.float64)
    delta = np.zeros((b.shape[0], a.shape[1]), dtype=np.float64)
    for k in range(a.shape[0]):
        delta += np.multiply.outer(b[:, k], a[k, :])
    merged = weight.detach().cpu().numpy().astype(np.float64) + scaling * delta
    return torch.from_numpy(merged.astype(np.float32))


def merge_adapters(backbone: nn.Module) -> int:
    """Replace every :class:`LoraLinear` by a plain ``nn.Linear`` holding the merged weight."""
    wrapped = [(n, m) for n, m in backbone.named_modules() if isinstance(m, LoraLinear)]
    for name, module in wrapped:
        base = module.base
        with torch.no_grad():
            base.weight.copy_(merged_weight(base.weight, module.lora_A, module.lora_B, module.scaling))
        base.weight.requires_grad_(True)
        parent_name, _, child = name.rpartition(".")
        setattr(backbone.get_submodule(parent_name), child, base)
    return len(wrapped)
