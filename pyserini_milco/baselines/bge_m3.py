"""BGE-M3 from its release layout, without FlagEmbedding or remote code.

The release (``BAAI/bge-m3``) is an XLM-RoBERTa model folder (``config.json``, ``pytorch_model.bin``
or ``model.safetensors``, the tokenizer) plus two heads saved as ``torch.save(state_dict)``:
``sparse_linear.pt`` (``Linear(H, 1)``) and ``colbert_linear.pt`` (``Linear(H, H)``). One forward
pass gives its three representations, as FlagEmbedding defines them
(``FlagEmbedding/finetune/embedder/encoder_only/m3/modeling.py`` and
``FlagEmbedding/inference/embedder/encoder_only/m3.py``; the paper, arXiv 2402.03216, section 3.2):

* **dense**: the last hidden state of the first token (``<s>``, the "CLS"), L2-normalised;
  score = dot product;
* **lexical weights**: ``w = relu(sparse_linear(h))`` for every token; a token id that occurs
  several times keeps its largest weight; ``<s>``, ``</s>``, ``<pad>`` and ``<unk>`` are dropped and
  only ``w > 0`` is kept; score = sum over shared ids of ``w_q * w_p``;
* **multi-vector**: ``colbert_linear(h)`` of every token after ``<s>`` (``</s>`` included), each
  L2-normalised; score = mean over the query's vectors of their largest dot product with the
  passage's vectors (late interaction, ColBERT).

Names: ``bge-m3`` (= ``BAAI/bge-m3``), any hub id, or a folder. A hub id is read from the Hugging Face
cache, else fetched; offline, loading fails at once with :func:`pyserini_milco.encoding.names.offline_help`'s
message. Scoring functions live here too, so that every mode uses one definition.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoding.names import download_snapshot
from ..modeling.checkpoint import WEIGHT_FILES, CheckpointError, has_tokenizer
from ..encoding.terms import SparseVector

HUB_ID = "BAAI/bge-m3"
SHORT_NAMES = {"bge-m3": HUB_ID}
SPARSE_HEAD, COLBERT_HEAD = "sparse_linear.pt", "colbert_linear.pt"
HUB_PATTERNS = ["config.json", "pytorch_model.bin", "model.safetensors", SPARSE_HEAD, COLBERT_HEAD, "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"]
#: The dense baseline that runs offline, named in the offline error.
OFFLINE_ALTERNATIVE = "e5-small"


def is_release_folder(path: str | os.PathLike) -> bool:
    """A folder holding BGE-M3's two head files (what sets it apart from a plain XLM-R folder)."""
    folder = Path(path)
    return (folder / SPARSE_HEAD).is_file() and (folder / COLBERT_HEAD).is_file()


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The local folder of ``bge-m3``, a hub id (cache first, then the hub) or a folder."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name.startswith((".", "/", "~")):
        raise CheckpointError(f"{path}: not a BGE-M3 folder (expected a folder like {HUB_ID}'s)")
    return download_snapshot(SHORT_NAMES.get(name, name), name, HUB_PATTERNS, OFFLINE_ALTERNATIVE)


def check_layout(folder: Path) -> None:
    """Every file of the release layout is there, or one error listing what is missing."""
    missing = [name for name in ("config.json", SPARSE_HEAD, COLBERT_HEAD) if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not has_tokenizer(folder):
        missing.append("the tokenizer (tokenizer.json or sentencepiece.bpe.model)")
    if missing:
        raise CheckpointError(
            f"{folder}: not a complete BGE-M3 release folder; missing {', '.join(missing)}. It needs the files of "
            f"{HUB_ID} (`huggingface-cli download {HUB_ID} --local-dir DIR`, then pass DIR).")


def load_head(path: Path, hidden: int) -> nn.Linear:
    """A head saved as ``torch.save(Linear.state_dict())`` whose input is the backbone's width."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: cannot be read as a torch state dict ({err}); download it again") from err
    state = state if isinstance(state, dict) else {"(not a dict)": torch.empty(0)}
    weight, bias = state.get("weight"), state.get("bias")
    if weight is None or bias is None or weight.dim() != 2 or weight.shape[1] != hidden or bias.shape != weight.shape[:1]:
        found = {k: tuple(v.shape) for k, v in state.items()}
        raise CheckpointError(f"{path}: expected a Linear({hidden}, N) state dict with weight [N, {hidden}] and bias "
                              f"[N], found {found}; the head does not belong to this backbone")
    head = nn.Linear(hidden, weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": bias})
    return head


def load_backbone(folder: Path) -> nn.Module:
    """The XLM-RoBERTa encoder of the folder (its pooler, unused by BGE-M3, is not built)."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{folder}: the backbone does not load ({err}); check config.json and the weights "
                              f"against {HUB_ID}'s") from err


class BgeM3Model(nn.Module):
    """Backbone plus the two heads; ``forward`` gives the last hidden states."""

    def __init__(self, backbone: nn.Module, sparse_linear: nn.Linear, colbert_linear: nn.Linear):
        super().__init__()
        self.backbone, self.sparse_linear, self.colbert_linear = backbone, sparse_linear, colbert_linear

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


@dataclasses.dataclass
class M3Vectors:
    """What :meth:`BgeM3Encoder.encode` gives per text, in input order (None: not asked for)."""

    dense: torch.Tensor | None = None             # [N, H], unit vectors
    lexical: list[SparseVector] | None = None     # token id -> weight, ids sorted
    colbert: list[torch.Tensor] | None = None     # [tokens - 1, H'] per text, unit vectors


def dense_vectors(hidden: torch.Tensor) -> torch.Tensor:
    """CLS pooling, L2-normalised."""
    return F.normalize(hidden[:, 0], dim=-1)


def lexical_weights(token_weights: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor,
                    special_ids: torch.Tensor) -> list[SparseVector]:
    """Per text: the largest positive weight of each token id, special tokens dropped."""
    out = []
    for weights, ids, real in zip(token_weights, input_ids, mask.bool()):
        keep = real & ~torch.isin(ids, special_ids) & (weights > 0)
        unique, inverse = torch.unique(ids[keep], return_inverse=True)
        best = torch.zeros(len(unique), dtype=weights.dtype).scatter_reduce(0, inverse, weights[keep], "amax",
                                                                            include_self=False)
        out.append(SparseVector(unique.numpy().astype(np.int64), best.float().numpy()))
    return out


def colbert_vectors(projected: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """Per text: the normalised vectors of its real tokens after ``<s>`` (``projected`` starts at token 1)."""
    unit = F.normalize(projected * mask[:, 1:, None].to(projected.dtype), dim=-1)
    return [vectors[: int(n) - 1] for vectors, n in zip(unit, mask.sum(dim=1))]


def dense_score(query: torch.Tensor, passage: torch.Tensor) -> float:
    """Dot product of two unit vectors."""
    return float(query @ passage)


def lexical_score(query: SparseVector, passage: SparseVector) -> float:
    """Sum over shared token ids of the two weights' product."""
    return query.dot(passage)


def colbert_score(query: torch.Tensor, passage: torch.Tensor) -> float:
    """Mean over the query's vectors of their best dot product with the passage's vectors."""
    return float((query @ passage.T).max(dim=1).values.sum() / query.shape[0])


class BgeM3Encoder:
    """Texts in, BGE-M3's representations out; longest texts batched together, results in input order."""

    def __init__(self, model: BgeM3Model, tokenizer, device: str = "cpu", max_length: int = 512):
        self.model, self.tokenizer = model.to(device).eval(), tokenizer
        self.device = torch.device(device)
        self.max_length = max_length
        specials = (tokenizer.cls_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
        self.special_ids = torch.tensor(sorted({i for i in specials if i is not None}))

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device: str = "cpu") -> "BgeM3Encoder":
        """Load ``bge-m3``, a hub id or a folder (see the module docstring)."""
        from transformers import AutoTokenizer

        folder = resolve(name_or_path)
        check_layout(folder)
        backbone = load_backbone(folder)
        hidden = backbone.config.hidden_size
        model = BgeM3Model(backbone, load_head(folder / SPARSE_HEAD, hidden), load_head(folder / COLBERT_HEAD, hidden))
        return cls(model, AutoTokenizer.from_pretrained(str(folder)), device)

    @property
    def dimension(self) -> int:
        """Width of the dense vectors."""
        return self.model.backbone.config.hidden_size

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 32, max_length: int | None = None, dense: bool = True,
               lexical: bool = False, colbert: bool = False) -> M3Vectors:
        """The asked-for representations of ``texts`` (see the module docstring for their definitions)."""
        if not texts:
            return M3Vectors(torch.empty(0, self.dimension) if dense else None, [] if lexical else None,
                             [] if colbert else None)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        parts: dict[int, M3Vectors] = {}
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True, return_tensors="pt",
                                   max_length=max_length or self.max_length)
            vectors = self._batch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device),
                                  dense, lexical, colbert)
            parts.update((row, _row(vectors, k)) for k, row in enumerate(rows))
        return _gather([parts[i] for i in range(len(texts))], dense, lexical, colbert)

    def _batch(self, ids: torch.Tensor, mask: torch.Tensor, dense: bool, lexical: bool, colbert: bool) -> M3Vectors:
        hidden = self.model(ids, mask)
        return M3Vectors(
            dense=dense_vectors(hidden).float().cpu() if dense else None,
            lexical=lexical_weights(torch.relu(self.model.sparse_linear(hidden)).squeeze(-1).float().cpu(), ids.cpu(),
                                    mask.cpu(), self.special_ids) if lexical else None,
            colbert=[v.float().cpu() for v in colbert_vectors(self.model.colbert_linear(hidden[:, 1:]), mask)]
            if colbert else None)

    def embed(self, texts: Sequence[str], kind: str = "passage", batch_size: int = 32,
              max_length: int | None = None) -> torch.Tensor:
        """Dense vectors ``[N, H]`` (BGE-M3 uses no query or passage prefix, so ``kind`` changes nothing)."""
        return self.encode(texts, batch_size, max_length, dense=True).dense


def _row(vectors: M3Vectors, k: int) -> M3Vectors:
    """Text ``k`` of a batch's vectors."""
    return M3Vectors(dense=None if vectors.dense is None else vectors.dense[k],
                     lexical=None if vectors.lexical is None else [vectors.lexical[k]],
                     colbert=None if vectors.colbert is None else [vectors.colbert[k]])


def _gather(rows: list[M3Vectors], dense: bool, lexical: bool, colbert: bool) -> M3Vectors:
    """Per-text vectors, in order, joined into one :class:`M3Vectors`."""
    return M3Vectors(dense=torch.stack([r.dense for r in rows]) if dense else None,
                     lexical=[r.lexical[0] for r in rows] if lexical else None,
                     colbert=[r.colbert[0] for r in rows] if colbert else None)
