"""The user-facing encoder: text → token ids → model → sparse vectors → named terms.

The API follows sentence-transformers' ``SparseEncoder`` and the release's ``encode_text``:
``encode_queries``, ``encode_documents``, ``encode`` (``{term: weight}`` dicts), ``encode_sparse``
(a ``torch.sparse_coo_tensor`` over the 280,524-dimensional space) and ``decode`` for inspection.
Texts of one call are sorted by length so batches carry little padding; results come back in the
caller's order.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..modeling.checkpoint import save_checkpoint
from ..modeling.model import MilcoModel, MilcoOutput
from .names import load_checkpoint
from .terms import SparseVector, TermVocabulary

DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_LENGTH = 512
#: Backbones whose position ids start at ``pad_token_id + 1`` (the first positions are unusable).
_PADDING_OFFSET_MODELS = ("xlm-roberta", "roberta", "camembert")


def _no_init_weights():
    """Transformers' context that turns torch's (and transformers') weight initializers into no-ops."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of a batch, right-padded with ``pad_id`` to the longest length rounded up to
    a ``multiple`` (the release pads to a multiple of 32; the encoder needs no rounding)."""
    width = -(-max(len(s) for s in sequences) // multiple) * multiple
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def split_rows(coo: torch.Tensor) -> list[SparseVector]:
    """One :class:`SparseVector` per row of a coalesced 2-D sparse COO tensor."""
    (row_ids, col_ids), values = coo.indices().cpu().numpy(), coo.values().cpu().numpy()
    bounds = np.searchsorted(row_ids, np.arange(coo.shape[0] + 1))
    return [
        SparseVector(col_ids[a:b].astype(np.int64), values[a:b].astype(np.float32))
        for a, b in zip(bounds[:-1], bounds[1:])
    ]


def batch_to_vectors(
    output: MilcoOutput, input_ids: torch.Tensor, pivot_size: int, dimension: int
) -> list[SparseVector]:
    """Split a batch's views into one :class:`SparseVector` per text.

    The non-zero entries are picked and merged on the views' device, so that only they, not the
    dense ``[B, Ve]`` pivot view, cross to the CPU (on a GPU that copy and a CPU scan of the dense
    view cost as much as a short batch's forward pass). Source-view weights of a repeated token id
    are summed (``coalesce`` adds duplicates), as the release does; source ids are offset by
    ``pivot_size``.
    """
    pivot = output.pivot
    rows, cols = pivot.nonzero(as_tuple=True)
    all_rows, all_cols, all_vals = [rows], [cols], [pivot[rows, cols].float()]
    if output.source is not None:
        source = output.source
        s_rows, s_pos = source.nonzero(as_tuple=True)
        all_rows.append(s_rows)
        all_cols.append(input_ids.to(source.device)[s_rows, s_pos] + pivot_size)
        all_vals.append(source[s_rows, s_pos].float())
    coo = torch.sparse_coo_tensor(
        torch.stack([torch.cat(all_rows), torch.cat(all_cols)]), torch.cat(all_vals), size=(pivot.shape[0], dimension),
        check_invariants=False,
    ).coalesce()
    return split_rows(coo)


class MilcoEncoder:
    """Encodes texts in any language into MILCO sparse vectors.

    ``dtype`` None casts the weights to bf16 on CUDA (faster than autocast) and keeps fp32 on the
    CPU; ``torch.bfloat16`` on a CPU with AVX512-BF16 or AMX is 2-3x faster than fp32 (the vectors'
    weights move by 3-4% relative, measured by ``benchmarks/encode.py``), slower on CPUs without them.
    ``source_view=False`` gives pivot-only vectors (also forced for checkpoints without LexEcho).
    """

    def __init__(
        self,
        model: MilcoModel,
        tokenizer,
        en_tokens: Sequence[str],
        device: str | torch.device | None = None,
        source_view: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dtype: torch.dtype | None = None,
    ):
        self.device = resolve_device(device)
        if dtype is None:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.en_tokens = list(en_tokens)
        self.source_view = source_view and model.has_echo
        self.max_length = max_length
        self.batch_size = batch_size
        source_tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.vocab = TermVocabulary(self.en_tokens, source_tokens)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device: str | torch.device | None = None, **kwargs):
        """Load ``milco`` / ``milco-mini`` / a hub id / a checkpoint folder (see :mod:`.checkpoint`).

        The model is built without drawing random weights: the checkpoint then sets every one of
        them (its keys must match the model's exactly), and the draws cost seconds per process."""
        with _no_init_weights():
            model, tokenizer, en_tokens, _ = load_checkpoint(name_or_path)
        return cls(model, tokenizer, en_tokens, device=device, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike):
        """Write a self-contained checkpoint that :meth:`from_pretrained` loads offline."""
        model = self.model
        if next(model.parameters()).dtype != torch.float32:
            raise ValueError("save_pretrained needs fp32 weights: load the model on the CPU to save it")
        return save_checkpoint(model, self.tokenizer, self.en_tokens, folder)

    @property
    def pivot_size(self) -> int:
        return self.vocab.pivot_size

    @property
    def dimension(self) -> int:
        """Size of the joint space: English vocabulary + multilingual vocabulary (280,524 for the release)."""
        return self.model.config.en_vocab_size + self.model.config.m_vocab_size

    @property
    def model_max_length(self) -> int:
        """Longest input the backbone's position table allows (RoBERTa-style ids start after the pad id)."""
        backbone = self.model.m_model.config
        offset = backbone.pad_token_id + 1 if backbone.model_type in _PADDING_OFFSET_MODELS else 0
        return backbone.max_position_embeddings - offset

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids with the special tokens, truncated to ``max_length`` (at most :attr:`model_max_length`)."""
        length = min(max_length or self.max_length, self.model_max_length)
        return self.tokenizer(list(texts), truncation=True, max_length=length, add_special_tokens=True)["input_ids"]

    @torch.inference_mode()
    def encode_token_ids(
        self,
        sequences: Sequence[Sequence[int]],
        batch_size: int | None = None,
        show_progress_bar: bool = False,
        source_view: bool | None = None,
    ) -> list[SparseVector]:
        """Vectors for already tokenized texts, longest first in batches, returned in input order."""
        batch_size = batch_size or self.batch_size
        use_source = self.source_view if source_view is None else source_view and self.model.has_echo
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        vectors: list[SparseVector | None] = [None] * len(sequences)
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="Encoding", unit="batch", disable=not show_progress_bar):
            chosen = order[start : start + batch_size]
            ids, mask = pad_sequences([sequences[i] for i in chosen], self.tokenizer.pad_token_id)
            output = self.model(ids.to(self.device), mask.to(self.device), source_view=use_source)
            for i, vector in zip(chosen, batch_to_vectors(output, ids, self.pivot_size, self.dimension)):
                vectors[i] = vector
        return vectors  # type: ignore[return-value]

    def encode_vectors(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        max_length: int | None = None,
        show_progress_bar: bool = False,
        source_view: bool | None = None,
    ) -> list[SparseVector]:
        """One :class:`SparseVector` (float weights) per text."""
        return self.encode_token_ids(self.tokenize(texts, max_length), batch_size, show_progress_bar, source_view)

    def encode(self, texts: str | Sequence[str], **kwargs) -> list[dict[str, float]] | dict[str, float]:
        """``{term: weight}`` per text (heaviest first); a single string gives a single dict."""
        single = isinstance(texts, str)
        vectors = self.encode_vectors([texts] if single else texts, **kwargs)
        terms = [self.vocab.to_terms(v) for v in vectors]
        return terms[0] if single else terms

    def encode_queries(self, texts: str | Sequence[str], **kwargs):
        """Queries and documents share the encoder (no prefix or instruction), as in the release."""
        return self.encode(texts, **kwargs)

    def encode_documents(self, texts: str | Sequence[str], **kwargs):
        return self.encode(texts, **kwargs)

    def encode_sparse(self, texts: Sequence[str], **kwargs) -> torch.Tensor:
        """A ``[N, dimension]`` sparse COO tensor, like the release's ``encode_text``."""
        vectors = self.encode_vectors(texts, **kwargs)
        rows = np.concatenate([np.full(len(v), i) for i, v in enumerate(vectors)] or [np.zeros(0)])
        cols = np.concatenate([v.indices for v in vectors] or [np.zeros(0)])
        values = np.concatenate([v.values for v in vectors] or [np.zeros(0)])
        index = torch.as_tensor(np.stack([rows, cols]), dtype=torch.long)
        return torch.sparse_coo_tensor(
            index, torch.as_tensor(values, dtype=torch.float32), (len(vectors), self.dimension), check_invariants=False
        )

    def decode(self, vector: SparseVector | dict[str, float], top_k: int | None = 20) -> list[tuple[str, float]]:
        """The ``top_k`` heaviest ``(term, weight)`` pairs of a vector, for inspection."""
        terms = self.vocab.to_terms(vector) if isinstance(vector, SparseVector) else vector
        ranked = sorted(terms.items(), key=lambda kv: -kv[1])
        return ranked[:top_k] if top_k else ranked

    @staticmethod
    def similarity(queries: Iterable[SparseVector], documents: Sequence[SparseVector]) -> np.ndarray:
        """Dot products ``[len(queries), len(documents)]`` over both views."""
        return np.array([[q.dot(d) for d in documents] for q in queries], dtype=np.float64)
