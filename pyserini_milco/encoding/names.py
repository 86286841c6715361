"""What a checkpoint name means: a folder, ``milco-mini`` (built on first use), a released short name
(``milco``) or a hub id (from the Hugging Face cache first, else the hub).

Reading the folder itself is :mod:`pyserini_milco.modeling.checkpoint`; this module sits above it and
above :mod:`pyserini_milco.mini`, which writes its checkpoint with that module.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..modeling.checkpoint import CheckpointError, read_checkpoint

#: Short names accepted wherever a checkpoint is asked for.
RELEASED_MODELS = {"milco": "omai-research/milco-650m", "milco-650m": "omai-research/milco-650m"}
MINI_MODEL_NAME = "milco-mini"

_HUB_PATTERNS = ["config.json", "*.safetensors", "pytorch_model.bin", "*.json", "*.model", "*.txt"]


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
        from ..mini.build import ensure_mini_model

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


def load_checkpoint(name_or_path: str | os.PathLike):
    """(model, multilingual tokenizer, English tokens, folder) of a checkpoint, on the CPU in fp32."""
    return read_checkpoint(resolve_checkpoint(name_or_path))
