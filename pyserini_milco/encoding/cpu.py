"""What this CPU can do natively, for choices that only pay off on some CPUs (bf16 weights).

A CPU without AVX512-BF16 or AMX still runs bf16 matrix products, but emulated and many times
slower than fp32: choosing bf16 there, or measuring a "bf16 peak" there, would be wrong. Nothing
here may decide what a result *is*, only how fast it comes: tests must hold on every x86-64 CPU.

``PYSERINI_MILCO_CPU_BF16=off`` makes :func:`native_bf16` answer False on any CPU, so the
behaviour of a CPU without bf16 (CI's may lack it) can be checked on one that has it.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..errors import OptionError

BF16_SWITCH = "PYSERINI_MILCO_CPU_BF16"
#: /proc/cpuinfo flags of instructions that compute bf16 products natively (x86-64).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return frozenset()
    for line in info.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16() -> bool:
    """True when the CPU computes bf16 products natively, unless ``PYSERINI_MILCO_CPU_BF16=off``."""
    switch = os.environ.get(BF16_SWITCH, "auto").lower()
    if switch not in ("auto", "off"):
        raise OptionError(f"{BF16_SWITCH}={switch!r}: use auto or off")
    return switch == "auto" and bool(cpu_flags() & BF16_FLAGS)
