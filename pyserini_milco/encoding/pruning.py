"""Post-hoc document pruning: the paper's knob between effectiveness and index size.

Methods (``value`` in brackets):
- ``topk`` (k): keep the k heaviest terms;
- ``mass`` (p in (0, 1]): keep the heaviest terms until a fraction p of the total weight is kept
  (the paper's text: drop the lightest terms whose cumulative weight is 1 - p of the total);
- ``quantile`` (p in [0, 1)): drop the lightest fraction p of the terms by count (what the
  paper's token counts suggest).
``view`` applies the pruning to the ``pivot`` view, the ``source`` view, or ``both`` (each view
pruned on its own, so one view cannot crowd out the other).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import OptionError

from .terms import SparseVector

METHODS = ("topk", "mass", "quantile")
VIEWS = ("pivot", "source", "both")


@dataclasses.dataclass(frozen=True)
class PruneSpec:
    method: str
    value: float
    view: str = "both"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise OptionError(f"prune method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.view not in VIEWS:
            raise OptionError(f"prune view {self.view!r}: use one of {', '.join(VIEWS)}")
        if self.method == "topk" and (self.value < 1 or self.value != int(self.value)):
            raise OptionError(f"topk needs a whole number of terms >= 1, got {self.value}")
        if self.method == "mass" and not 0 < self.value <= 1:
            raise OptionError(f"mass needs a kept fraction in (0, 1], got {self.value}")
        if self.method == "quantile" and not 0 <= self.value < 1:
            raise OptionError(f"quantile needs a dropped fraction in [0, 1), got {self.value}")

    @property
    def label(self) -> str:
        """``topk:20``, ``mass:0.9:pivot``: the spec as :meth:`parse` reads it (the view only when not ``both``)."""
        return f"{self.method}:{self.value:g}" + ("" if self.view == "both" else f":{self.view}")

    @classmethod
    def parse(cls, text: str) -> "PruneSpec":
        """``METHOD:VALUE[:VIEW]``, e.g. ``topk:200``, ``mass:0.9:pivot``, ``quantile:0.5``."""
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise OptionError(f"--prune {text!r}: expected METHOD:VALUE[:VIEW], e.g. topk:200 or mass:0.9:pivot")
        try:
            value = float(parts[1])
        except ValueError as err:
            raise OptionError(f"--prune {text!r}: {parts[1]!r} is not a number") from err
        return cls(parts[0], value, parts[2] if len(parts) == 3 else "both")


def _kept_count(values: np.ndarray, spec: PruneSpec) -> int:
    """How many of the heaviest entries (``values`` sorted descending) survive."""
    n = values.shape[0]
    if spec.method == "topk":
        return min(n, int(spec.value))
    if spec.method == "quantile":
        return n - int(math.floor(n * spec.value))
    total = float(values.sum())
    if total <= 0:
        return 0
    cumulative = np.cumsum(values, dtype=np.float64)
    return int(np.searchsorted(cumulative, spec.value * total * (1 - 1e-9)) + 1)


def prune_part(vector: SparseVector, spec: PruneSpec) -> SparseVector:
    """Apply ``spec.method`` to all entries of ``vector`` (ties broken by lower index)."""
    order = np.lexsort((vector.indices, -vector.values))
    kept = np.sort(order[: _kept_count(vector.values[order], spec)])
    return SparseVector(vector.indices[kept], vector.values[kept])


def prune(vector: SparseVector, spec: PruneSpec, pivot_size: int) -> SparseVector:
    """Prune the views that ``spec.view`` names, leaving the other view intact."""
    pivot, source = vector.split(pivot_size)
    if spec.view in ("pivot", "both"):
        pivot = prune_part(pivot, spec)
    if spec.view in ("source", "both"):
        source = prune_part(source, spec)
    return SparseVector.concat([pivot, source])
