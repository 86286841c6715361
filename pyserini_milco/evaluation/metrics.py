"""Retrieval evaluation: TREC run/qrels files, ``trec_eval`` through Pyserini, and the same metrics in Python.

``trec_eval`` (``python -m pyserini.eval.trec_eval -c ...``) gives the official numbers. The
pure-Python metrics reproduce its definitions so results can be cross-checked, computed without
Java, and grouped freely (e.g. by query language, or LAReQA's mAP over an 11-language pool, where
every relevant sentence in every language counts):

- ranking: by score, descending; ties by docid, descending (``trec_eval``'s order; the rank
  column of a run file is ignored);
- ``ndcg_cut.K``: DCG with gain = relevance grade and discount log2(rank + 1) over the top K,
  divided by the ideal DCG of the query's judgements cut at K;
- ``recall.K``: relevant documents in the top K / relevant documents judged;
- ``map``: average precision over the whole ranking (a relevant document never retrieved adds 0);
- averages as ``trec_eval -c``: over every query of the qrels; a query missing from the run, or
  without a relevant judgement, scores 0.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from ..errors import InputError, MissingInput, OptionError
from ..integration import pyserini_cli

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
Metric = Callable[[Sequence[str], dict[str, int]], float]
DEFAULT_METRICS = ("ndcg_cut.10", "recall.100")
_VALUE = re.compile(r"^(\S+)\s+(\S+)\s+(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")


def _fields(path: Path, expected: int) -> Iterable[tuple[int, list[str]]]:
    """Whitespace-separated fields of each non-empty line, with a clear error on a missing file or a
    malformed line."""
    if not path.is_file():
        raise MissingInput(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != expected:
                raise InputError(f"{path}:{number}: expected {expected} fields, found {len(fields)}: {line.rstrip()!r}")
            yield number, fields


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read TREC qrels (``qid iter docid grade``)."""
    qrels: Qrels = {}
    for number, (qid, _, docid, grade) in _fields(Path(path), 4):
        try:
            qrels.setdefault(qid, {})[docid] = int(grade)
        except ValueError:
            raise InputError(f"{path}:{number}: relevance grade {grade!r} is not an integer") from None
    return qrels


def write_qrels(qrels: Qrels, path: str | os.PathLike) -> None:
    """Write TREC qrels atomically, queries and documents in the given order."""
    with atomic_output(path) as handle:
        for qid, docs in qrels.items():
            handle.writelines(f"{qid} 0 {docid} {grade}\n" for docid, grade in docs.items())


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``) into ``{qid: {docid: score}}``."""
    run: Run = {}
    for number, (qid, _, docid, _, score, _) in _fields(Path(path), 6):
        try:
            run.setdefault(qid, {})[docid] = float(score)
        except ValueError:
            raise InputError(f"{path}:{number}: score {score!r} is not a number") from None
    return run


def ranking(docs: dict[str, float]) -> list[str]:
    """Docids in ``trec_eval`` order: score descending, ties by docid descending."""
    return [docid for docid, _ in sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def read_topics(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(query ids, texts) of a ``qid<TAB>text`` topics file."""
    pairs = [line.split("\t", 1) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    return [qid for qid, _ in pairs], [text for _, text in pairs]


def read_collection(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(document ids, contents) of a Pyserini JsonCollection file (``{"id", "contents"}`` lines)."""
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [r["id"] for r in records], [r["contents"] for r in records]


def top_hits(scores, qids: Sequence[str], docids: Sequence[str], depth: int = 100) -> Run:
    """An exhaustive search's run: each query's ``depth`` best documents of a ``[queries, documents]``
    score matrix, with their scores."""
    scores = np.asarray(scores, dtype=np.float64)
    run = {}
    for row, qid in enumerate(qids):
        best = np.argsort(-scores[row], kind="stable")[:depth]
        run[qid] = {docids[j]: float(scores[row, j]) for j in best}
    return run


def write_run(run: Run, path: str | os.PathLike, tag: str = "pyserini-milco", depth: int | None = None) -> None:
    """Write a TREC run atomically, each query ranked (at most ``depth`` lines per query)."""
    with atomic_output(path) as handle:
        for qid, docs in run.items():
            ranked = ranking(docs)[:depth]
            handle.writelines(f"{qid} Q0 {d} {r} {docs[d]:.6f} {tag}\n" for r, d in enumerate(ranked, 1))


def ndcg(ranked: Sequence[str], judged: dict[str, int], k: int) -> float:
    """nDCG@k with gain = grade (``trec_eval``'s ``ndcg_cut.k``)."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if judged.get(d, 0) > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def recall(ranked: Sequence[str], judged: dict[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def average_precision(ranked: Sequence[str], judged: dict[str, int]) -> float:
    """Mean over all relevant documents of the precision at their rank (0 if not retrieved)."""
    relevant = {d for d, g in judged.items() if g > 0}
    found, total = 0, 0.0
    for rank, docid in enumerate(ranked, 1):
        if docid in relevant:
            found += 1
            total += found / rank
    return total / len(relevant) if relevant else 0.0


def metric(name: str) -> tuple[str, Metric]:
    """``trec_eval`` measure ``name`` (``ndcg_cut.10``, ``recall.100``, ``map``) → (output name, function)."""
    family, _, cutoff = name.partition(".")
    if family == "map" and not cutoff:
        return "map", average_precision
    if family in ("ndcg_cut", "recall") and cutoff.isdigit():
        k = int(cutoff)
        function = ndcg if family == "ndcg_cut" else recall
        return f"{family}_{k}", lambda ranked, judged: function(ranked, judged, k)
    raise OptionError(f"unsupported measure {name!r}: use ndcg_cut.K, recall.K or map")


def per_query(qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, dict[str, float]]:
    """``{output name: {qid: value}}`` for every query of the qrels (``-c``)."""
    rankings = {qid: ranking(run.get(qid, {})) for qid in qrels}
    return {out: {qid: function(rankings[qid], docs) for qid, docs in qrels.items()}
            for out, function in map(metric, metrics)}


def mean(values: dict[str, float], qids: Iterable[str] | None = None) -> float:
    """Average of ``values`` over ``qids`` (default: all); a qid without a value counts 0."""
    chosen = list(values if qids is None else qids)
    return sum(values.get(qid, 0.0) for qid in chosen) / len(chosen) if chosen else 0.0


def evaluate(qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """The ``all`` rows of ``trec_eval -c``, computed in Python."""
    return {out: mean(values) for out, values in per_query(qrels, run, metrics).items()}


def parse_trec_eval(output: str, metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{output name: {qid or 'all': value}}`` from ``trec_eval`` output (other lines are ignored)."""
    names = {metric(name)[0] for name in metrics}
    table: dict[str, dict[str, float]] = {name: {} for name in names}
    for line in output.splitlines():
        match = _VALUE.match(line.strip())
        if match and match.group(1) in names:
            table[match.group(1)][match.group(2)] = float(match.group(3))
    missing = [name for name, values in table.items() if "all" not in values]
    if missing:
        raise RuntimeError(f"trec_eval printed no 'all' row for {', '.join(missing)} (a run or qrels in the wrong "
                           f"format?); the end of its output:\n{output[-2000:]}")
    return table


def measure_args(metrics: Sequence[str]) -> list[str]:
    """``-m`` options for ``trec_eval``, cutoffs of one family merged (``-m ndcg_cut.5,10``).

    ``trec_eval`` keeps only the last ``-m`` of a family, so ``-m ndcg_cut.5 -m ndcg_cut.10`` would
    silently drop the first.
    """
    families: dict[str, list[str]] = {}
    for name in metrics:
        metric(name)
        family, _, cutoff = name.partition(".")
        families.setdefault(family, []).extend([cutoff] if cutoff else [])
    specs = [f"{family}.{','.join(cutoffs)}" if cutoffs else family for family, cutoffs in families.items()]
    return [a for spec in specs for a in ("-m", spec)]


def trec_eval(qrels_path: str | os.PathLike, run_path: str | os.PathLike, metrics: Sequence[str] = DEFAULT_METRICS,
              per_query_values: bool = False) -> dict[str, float] | dict[str, dict[str, float]]:
    """Run ``python -m pyserini.eval.trec_eval -c -m M... QRELS RUN``.

    Returns ``{output name: value}`` from the ``all`` rows or, with ``per_query_values``, also the
    per-query rows (``-q``) as ``{output name: {qid or 'all': value}}``. Per-query rows exist only
    for queries in the run; queries absent from it count 0 in the ``all`` row (``-c``).
    """
    for path in (qrels_path, run_path):
        if not Path(path).is_file():
            raise MissingInput(f"trec_eval input {path} does not exist")
    args = ["-c", *(["-q"] if per_query_values else []), *measure_args(metrics), qrels_path, run_path]
    table = parse_trec_eval(pyserini_cli.run("pyserini.eval.trec_eval", args), metrics)
    return table if per_query_values else {name: values["all"] for name, values in table.items()}
