"""MILCO configuration: the sizes and source checkpoints that define a model.

The official release writes these fields into ``config.json`` with ``model_type: "milco"``;
``save_pretrained`` adds ``backbone_config`` so our own folders are self-contained.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

MODEL_TYPE = "milco"


@dataclasses.dataclass
class MilcoConfig:
    """Hyper-parameters of a MILCO model (names follow the release's ``config.json``)."""

    multilingual_encoder_checkpoint: str = "BAAI/bge-m3-unsupervised"
    lsr_encoder_checkpoint: str = "naver/splade-v3"
    m_hidden_size: int = 1024
    en_hidden_size: int = 768
    en_vocab_size: int = 30522
    m_vocab_size: int = 250002
    echo: bool = True
    head_hidden_act: str = "gelu"
    head_layer_norm_eps: float = 1e-12
    backbone_config: dict[str, Any] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> "MilcoConfig":
        """Build from a ``config.json`` dict; unknown keys are kept in ``extra``."""
        if raw.get("model_type") != MODEL_TYPE:
            raise ValueError(
                f"{source}: model_type is {raw.get('model_type')!r}, expected {MODEL_TYPE!r}. "
                "Point to a MILCO checkpoint folder (its config.json says model_type: milco)."
            )
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in raw.items() if k in known}
        extra = {k: v for k, v in raw.items() if k not in known and k != "model_type"}
        return cls(**values, extra=extra)

    @classmethod
    def from_file(cls, path: str | Path) -> "MilcoConfig":
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from err
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        out = {"model_type": MODEL_TYPE, **self.extra}
        out.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"})
        return out
