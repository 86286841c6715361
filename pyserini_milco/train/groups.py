"""Stage-2 training groups: one query, its positive passage, k negatives, and the teacher's scores.

The file format (JSON Lines, one group per line; what ``--train FILE`` reads and what
``python -m pyserini_milco.train groups`` writes)::

    {"query": "Wer gewann?", "positive": "The Panthers won ...", "negatives": ["...", "..."],
     "scores": [9.1, 2.3, 4.0]}

``scores`` (optional) are the teacher's logits for ``[positive, *negatives]``, in that order: a user
with the paper's cross-encoder writes them once and trains without a teacher model. Without them,
a teacher given to the trainer scores each group. Groups with fewer negatives than asked for are
refused with their line number (a softmax over different group sizes would not be comparable).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import InputError


class GroupFileError(InputError):
    """A training-group file is malformed; the message names the file and the line."""


@dataclasses.dataclass(frozen=True)
class TrainingGroup:
    """A query, its passages ``[positive, *negatives]`` and, if known, the teacher's scores for them."""

    query: str
    passages: tuple[str, ...]
    scores: tuple[float, ...] | None = None

    @property
    def positive(self) -> str:
        return self.passages[0]

    @property
    def negatives(self) -> tuple[str, ...]:
        return self.passages[1:]

    def to_json(self) -> str:
        record = {"query": self.query, "positive": self.positive, "negatives": list(self.negatives)}
        if self.scores is not None:
            record["scores"] = [round(s, 4) for s in self.scores]
        return json.dumps(record, ensure_ascii=False)


def parse_group(line: str, where: str, negatives: int) -> TrainingGroup:
    """One JSONL line as a :class:`TrainingGroup` with its first ``negatives`` negatives."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise GroupFileError(f"{where}: not JSON ({err.msg} at column {err.colno})") from err
    if not isinstance(record, dict):
        raise GroupFileError(f"{where}: expected an object with query, positive, negatives[, scores]")
    for key, kind in (("query", str), ("positive", str), ("negatives", list)):
        if not isinstance(record.get(key), kind):
            raise GroupFileError(f"{where}: '{key}' missing or not a {kind.__name__}")
    if len(record["negatives"]) < negatives or not all(isinstance(n, str) for n in record["negatives"]):
        raise GroupFileError(f"{where}: needs at least {negatives} negatives (strings), has {len(record['negatives'])}")
    passages = (record["positive"], *record["negatives"][:negatives])
    scores = record.get("scores")
    if scores is not None:
        if not isinstance(scores, list) or len(scores) < len(record["negatives"]) + 1:
            raise GroupFileError(f"{where}: 'scores' must list one number for the positive and one per negative")
        scores = tuple(float(s) for s in scores[: len(passages)])
    return TrainingGroup(record["query"], passages, scores)


def read_groups(path: str | Path, negatives: int) -> list[TrainingGroup]:
    """Every group of a JSONL file (blank lines skipped), each cut to ``negatives`` negatives."""
    path = Path(path)
    if not path.is_file():
        raise GroupFileError(f"{path}: no such training-group file")
    with open(path, encoding="utf-8") as handle:
        return [parse_group(line, f"{path}:{number}", negatives)
                for number, line in enumerate(handle, start=1) if line.strip()]


def iter_lines(groups: Sequence[TrainingGroup]) -> Iterator[str]:
    for group in groups:
        yield group.to_json() + "\n"
