"""Fixtures for the baseline tests: a tiny random BGE-M3 in its release layout, a tiny random e5 folder,
a few documents and queries in several scripts, and an independent re-implementation of BGE-M3's outputs."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from tiny import TEXTS

from .tiny_models import write_bge_m3_release, write_e5_like

DOCS = {f"d{i}": text for i, text in enumerate(TEXTS)}
QUERIES = {"q1": "capital of France", "q2": "Hauptstadt Paris", "q3": "energy in plants", "q4": "首都 巴黎"}


@pytest.fixture(scope="session")
def bge_m3_folder(tmp_path_factory) -> Path:
    """A tiny BGE-M3 release folder; its name has no 'bge-m3' in it, so only its files say what it is."""
    return write_bge_m3_release(tmp_path_factory.mktemp("m3") / "tiny-release")


@pytest.fixture(scope="session")
def e5_like_folder(tmp_path_factory) -> Path:
    return write_e5_like(tmp_path_factory.mktemp("dense") / "tiny-e5-small")


class Reference:
    """BGE-M3's three outputs computed text by text, straight from the definitions (FlagEmbedding's
    modeling.py): no batching, no padding, plain loops, nothing shared with the package's code."""

    def __init__(self, folder: Path):
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.sparse = torch.load(folder / "sparse_linear.pt")
        self.colbert = torch.load(folder / "colbert_linear.pt")
        self.unused = {self.tokenizer.cls_token_id, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id,
                       self.tokenizer.unk_token_id}

    @functools.cache
    def _hidden(self, text: str) -> tuple[list[int], torch.Tensor]:
        ids = self.tokenizer(text, truncation=True, max_length=512)["input_ids"]
        with torch.no_grad():
            return ids, self.model(input_ids=torch.tensor([ids])).last_hidden_state[0]

    def dense(self, text: str) -> torch.Tensor:
        _, hidden = self._hidden(text)
        return hidden[0] / hidden[0].norm()

    def lexical(self, text: str) -> dict[int, float]:
        ids, hidden = self._hidden(text)
        weights: dict[int, float] = {}
        for token, state in zip(ids, hidden):
            w = max(0.0, float(state @ self.sparse["weight"][0] + self.sparse["bias"][0]))
            if token not in self.unused and w > 0 and w > weights.get(token, 0.0):
                weights[token] = w
        return weights

    def colbert_vectors(self, text: str) -> list[torch.Tensor]:
        _, hidden = self._hidden(text)
        vectors = [self.colbert["weight"] @ state + self.colbert["bias"] for state in hidden[1:]]
        return [v / v.norm() for v in vectors]

    def scores(self, query: str, passage: str) -> dict[str, float]:
        """The three scores of a pair, each from its definition."""
        q_lex, p_lex = self.lexical(query), self.lexical(passage)
        q_vecs, p_vecs = self.colbert_vectors(query), self.colbert_vectors(passage)
        return {
            "dense": float(self.dense(query) @ self.dense(passage)),
            "sparse": sum(w * p_lex[t] for t, w in q_lex.items() if t in p_lex),
            "colbert": sum(max(float(q @ p) for p in p_vecs) for q in q_vecs) / len(q_vecs),
        }


@pytest.fixture(scope="session")
def reference(bge_m3_folder) -> Reference:
    return Reference(bge_m3_folder)
