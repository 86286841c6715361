"""Native bf16 is detected from the CPU's flags, and can be switched off to act as a CPU without it."""
import pytest

from pyserini_milco.encoding import cpu


def test_native_bf16_follows_the_flags(monkeypatch):
    monkeypatch.delenv(cpu.BF16_SWITCH, raising=False)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert cpu.native_bf16()
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not cpu.native_bf16()


def test_switch_off_hides_native_bf16(monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setenv(cpu.BF16_SWITCH, "off")
    assert not cpu.native_bf16()
    monkeypatch.setenv(cpu.BF16_SWITCH, "maybe")
    with pytest.raises(ValueError, match="PYSERINI_MILCO_CPU_BF16='maybe': use auto or off"):
        cpu.native_bf16()
