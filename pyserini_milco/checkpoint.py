"""Finding and loading MILCO checkpoints without ``trust_remote_code``.

Two layouts load:

* the official release (``omai-research/milco-650m``): ``config.json`` with ``model_type: "milco"``
  and the two source checkpoint ids, weights in ``pytorch_model.bin`` or ``model.safetensors`` under
  ``m_model.*``, ``projector.*``, ``mlm_head.*``, ``echo.*``, ``scale`` (``en_lsr.*``, the stage-1
  teacher, is ignored). The backbone's architecture and the tokenizers come from the folder when
  present, else from the source checkpoint ids through the Hugging Face cache (or the network);
* our own :func:`save_pretrained` output, which is self-contained: ``config.json`` with
  ``backbone_config``, ``model.safetensors``, the multilingual tokenizer at the folder root and the
  English vocabulary in ``en_tokenizer/vocab.txt``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_output, atomic_path
from .config import MilcoConfig
from .model import MilcoModel

#: Short names accepted wherever a checkpoint is asked for.
RELEASED_MODELS = {"milco": "omai-research/milco-650m", "milco-650m": "omai-research/milco-650m"}
MINI_MODEL_NAME = "milco-mini"

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
EN_TOKENIZER_DIR = "en_tokenizer"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model")
_HUB_PATTERNS = ["config.json", "*.safetensors", "pytorch_model.bin", "*.json", "*.model", "*.txt"]
#: Keys of the release that are not part of the inference model.
_IGNORED_KEYS = re.compile(r"^(en_lsr\.|m_model\.pooler\.)|(^|\.)position_ids$")
_BIAS_ALIAS = ("mlm_head.predictions.decoder.bias", "mlm_head.predictions.bias")


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or does not fit the model; the message says what to do."""


def offline_help(name: str, repo_id: str | None = None, offline_model: str = MINI_MODEL_NAME) -> str:
    """What to do when ``name`` (hub id ``repo_id``, by default MILCO's) is neither cached nor reachable."""
    return (
        f"'{name}' is not in the Hugging Face cache and the hub cannot be reached. Download it on a machine "
        f"with network access (`huggingface-cli download {repo_id or RELEASED_MODELS.get(name, name)} --local-dir DIR`), "
        "copy DIR here and pass the folder instead (e.g. `--encoder DIR`), or use the offline model "
        f"`{offline_model}`."
    )


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """Local folder of a checkpoint: a path, ``milco-mini``, a short name or a hub id (cache first)."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name == MINI_MODEL_NAME:
        from .mini.build import ensure_mini_model

        return ensure_mini_model()
    if path.exists() or name.startswith((".", "/", "~")):
        raise CheckpointError(f"{path}: not a checkpoint folder (expected a folder with config.json)")
    return _download(RELEASED_MODELS.get(name, name), name)


def _download(repo_id: str, name: str) -> Path:
    return download_snapshot(repo_id, name, _HUB_PATTERNS)


def download_snapshot(repo_id: str, name: str, patterns: list[str], offline_model: str = MINI_MODEL_NAME) -> Path:
    """The folder of ``repo_id`` (files matching ``patterns``) from the Hugging Face cache, else the hub;
    unreachable, one :class:`CheckpointError` saying how to use a local folder or ``offline_model``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    help_text = offline_help(name, repo_id, offline_model)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except LocalEntryNotFoundError as err:
        raise CheckpointError(help_text) from err
    except HfHubHTTPError as err:
        raise CheckpointError(f"'{repo_id}' could not be fetched from the hub ({err}). {help_text}") from err


def load_config(folder: Path) -> MilcoConfig:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{config_file}: missing. A MILCO checkpoint folder holds config.json and the weights.")
    try:
        config = MilcoConfig.from_file(config_file)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    if config.backbone_config is None:
        config.backbone_config = _backbone_config_by_id(config.multilingual_encoder_checkpoint, config_file)
    return config


def _backbone_config_by_id(model_id: str, config_file: Path) -> dict:
    """Backbone architecture of a release folder, from its source checkpoint (cache or network)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_id).to_dict()
    except OSError as err:
        raise CheckpointError(
            f"{config_file}: has no backbone_config, and the architecture of multilingual_encoder_checkpoint "
            f"'{model_id}' is not in the Hugging Face cache and cannot be fetched. Put that model's config.json "
            "in the cache (or go online once), or add its contents under \"backbone_config\" in config.json."
        ) from err


def weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"{folder}: no weights file; expected one of {', '.join(WEIGHT_FILES)}.")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _normalise_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Drop teacher/pooler keys, accept ``decoder.bias`` for ``predictions.bias``, a 1-element ``scale``."""
    state = {k: v for k, v in state.items() if not _IGNORED_KEYS.search(k)}
    alias, canonical = _BIAS_ALIAS
    if alias in state:
        bias = state.pop(alias)
        state.setdefault(canonical, bias)
    if "scale" in state and state["scale"].numel() == 1 and hasattr(model, "scale"):
        state["scale"] = state["scale"].reshape(model.scale.shape)
    return state


def load_weights(model: MilcoModel, path: Path) -> None:
    """Load ``path`` into ``model``; any missing, unexpected or mis-shaped key is one clear error."""
    state = _normalise_keys(read_state_dict(path), model)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_preview(unexpected)}")
    if mismatched:
        problems.append(f"wrong shapes {_preview(mismatched)}")
    if problems:
        hint = ""
        if any(k.startswith(("echo.", "scale")) for k in missing):
            hint = ' If this checkpoint has no LexEcho head, set "echo": false in config.json.'
        raise CheckpointError(
            f"{path}: weights do not fit the model described by config.json: {'; '.join(problems)}.{hint} "
            "Check that config.json's sizes and backbone match the weights, or re-save the checkpoint."
        )
    model.load_state_dict(state, strict=True)


def _preview(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


def load_source_tokenizer(folder: Path, config: MilcoConfig):
    """The multilingual tokenizer: from the folder, else by the backbone's id (cache or network)."""
    from transformers import AutoTokenizer, PretrainedConfig

    in_folder = has_tokenizer(folder)
    source = folder if in_folder else config.multilingual_encoder_checkpoint
    # A MILCO config.json is not a transformers config: keep AutoTokenizer from parsing it.
    extra = {"config": PretrainedConfig()} if in_folder else {}
    try:
        return AutoTokenizer.from_pretrained(str(source), **extra)
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"{folder}: no multilingual tokenizer in the folder ({' / '.join(_TOKENIZER_FILES)}), and "
            f"'{source}' could not be loaded from the Hugging Face cache or the hub ({err}). Save the tokenizer "
            "of multilingual_encoder_checkpoint into the checkpoint folder."
        ) from err


def load_english_tokens(folder: Path, config: MilcoConfig) -> list[str]:
    """English wordpieces (term names of the pivot view), ids ``0 .. en_vocab_size-1``."""
    vocab_file = folder / EN_TOKENIZER_DIR / "vocab.txt"
    if vocab_file.is_file():
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        tokens = tokens[: config.en_vocab_size] if len(tokens) > config.en_vocab_size else tokens
    else:
        tokens = _english_tokens_by_id(folder, config)
    if len(tokens) != config.en_vocab_size:
        raise CheckpointError(
            f"{vocab_file}: {len(tokens)} English tokens, but config.json says en_vocab_size {config.en_vocab_size}."
        )
    return tokens


def _english_tokens_by_id(folder: Path, config: MilcoConfig) -> list[str]:
    from transformers import AutoTokenizer

    source = folder / EN_TOKENIZER_DIR if (folder / EN_TOKENIZER_DIR).is_dir() else config.lsr_encoder_checkpoint
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"{folder}: no English vocabulary ({EN_TOKENIZER_DIR}/vocab.txt), and the tokenizer of "
            f"lsr_encoder_checkpoint '{source}' could not be loaded from the cache or the hub ({err}). "
            f"Write the bert-base-uncased vocab.txt into {folder / EN_TOKENIZER_DIR}/."
        ) from err
    return tokenizer.convert_ids_to_tokens(list(range(config.en_vocab_size)))


def load_checkpoint(name_or_path: str | os.PathLike):
    """(model, multilingual tokenizer, English tokens, folder) of a checkpoint, on the CPU in fp32."""
    folder = resolve_checkpoint(name_or_path)
    config = load_config(folder)
    model = MilcoModel(config)
    load_weights(model, weights_file(folder))
    tokenizer = load_source_tokenizer(folder, config)
    return model.eval(), tokenizer, load_english_tokens(folder, config), folder


def save_checkpoint(model: MilcoModel, tokenizer, en_tokens: list[str], folder: str | os.PathLike) -> Path:
    """Write a self-contained checkpoint (config with backbone_config, safetensors, both vocabularies)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    (folder / EN_TOKENIZER_DIR).mkdir(parents=True, exist_ok=True)
    config = model.config
    config.backbone_config = model.m_model.config.to_dict()
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_output(folder / "config.json") as handle:
        json.dump(config.to_dict(), handle, indent=2)
    with atomic_output(folder / EN_TOKENIZER_DIR / "vocab.txt") as handle:
        handle.write("\n".join(en_tokens))
    tokenizer.save_pretrained(str(folder))
    return folder
