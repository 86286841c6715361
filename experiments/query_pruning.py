"""Query and document pruning on the NTREX development set, with paired bootstrap intervals: the
pruning tables of README.md ("Pruning") and docs/milco-mini.md.

Every text of each development set is encoded once by :class:`~pyserini_milco.encoding.encoder.MilcoEncoder`
(fp32 on the CPU; queries cut to 64 tokens and passages to 256, as training's validation cuts them); each condition prunes the vectors afterwards with
:func:`pyserini_milco.encoding.pruning.prune` (the queries, the documents, or both) and scores every
setting exhaustively, as :mod:`pyserini_milco.train.devset` scores training's validation. An *item*
is a held-out passage (the one relevant passage of its queries): its nDCG@10 averaged over its queries
(one per development set given) and the settings. Each condition is compared with the reference by a
paired bootstrap over the items (:func:`pyserini_milco.evaluation.significance.paired_bootstrap`, 10,000
resamples, seed 0), over all settings and over the X→en ones (pool ``en``).

The README's query-pruning table (milco-mini as shipped, the three variants of the development set
pooled, documents unpruned; 6.5 CPU minutes on one thread, nearly all of it encoding):

    for s in 1 2 3; do
        python -m pyserini_milco.train devset --out work/dev-s$s --chunk-sentences 3 --query-sentence $s
    done
    python -m experiments.query_pruning --encoder milco-mini --dev work/dev-s1 work/dev-s2 work/dev-s3 \\
        --out work/query-pruning.json

docs/milco-mini.md's table "Pruning the shipped model's queries after encoding" is the ``dev-s2`` row
of it (the second-sentence set that training validates on). The document-pruning table (that set,
queries ``topk:30``, the query default of the time):

    python -m experiments.query_pruning --encoder milco-mini --dev work/dev-s2 --reference topk:30/none \\
        --conditions topk:30/none topk:30/topk:64 topk:30/topk:100 topk:30/topk:128 topk:30/topk:150 \\
        --out work/document-pruning.json

A condition is ``QUERIES/DOCUMENTS``, each ``none`` or a ``--prune`` spec (``topk:20``, ``mass:0.8``,
``topk:100:pivot``). The JSON holds every figure; a Markdown table is printed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyserini_milco.atomic import atomic_output
from pyserini_milco.encoding.encoder import MilcoEncoder
from pyserini_milco.encoding.pruning import PruneSpec, prune
from pyserini_milco.encoding.terms import SparseVector
from pyserini_milco.errors import OptionError
from pyserini_milco.evaluation.metrics import Qrels, per_query, top_hits
from pyserini_milco.evaluation.significance import DEFAULT_RESAMPLES, PairedDifference, paired_bootstrap
from pyserini_milco.train.common import Stage2Settings
from pyserini_milco.train.devset import DEFAULT_SETTINGS, DevSet, dense_scores, load_devset
from pyserini_milco.train.distill import sparse_rows

DEFAULT_CONDITIONS = ("none/none", "topk:15/none", "topk:20/none", "topk:25/none", "topk:30/none", "topk:40/none",
                      "mass:0.8/none")
DEFAULT_REFERENCE = "topk:30/none"
CROSS_LINGUAL_POOL = "en"  # the X→en settings: queries in another language, English passages
_TRAINING = {field.name: field.default for field in dataclasses.fields(Stage2Settings)}
# Texts are cut as training's validation cuts them (it chose the shipped checkpoint on these figures).
QUERY_MAX_LENGTH, PASSAGE_MAX_LENGTH = _TRAINING["query_max_length"], _TRAINING["passage_max_length"]
DIGITS = 6  # in the JSON; the table rounds them again, to 3 (rounding to 4 first could move the third digit)

#: ``{setting: {query id: nDCG@10}}`` of one development set under one condition
SettingScores = dict[str, dict[str, float]]


def parse_spec(text: str) -> PruneSpec | None:
    """``none`` (keep every term) or a ``--prune`` spec."""
    return None if text == "none" else PruneSpec.parse(text)


@dataclass(frozen=True)
class Condition:
    """How the queries and the documents are pruned, written ``QUERIES/DOCUMENTS``."""

    name: str
    queries: PruneSpec | None
    documents: PruneSpec | None

    @classmethod
    def parse(cls, text: str) -> Condition:
        queries, slash, documents = text.partition("/")
        if not slash:
            raise OptionError(f"condition {text!r}: expected QUERIES/DOCUMENTS, e.g. topk:20/none")
        return cls(text, parse_spec(queries), parse_spec(documents))


@dataclass(frozen=True)
class EncodedSet:
    """One development set, every query and pool passage encoded once (unpruned)."""

    name: str
    qrels: Qrels
    topics: dict[str, tuple[list[str], list[SparseVector]]]
    pools: dict[str, tuple[list[str], list[SparseVector]]]


def encode_set(encoder: MilcoEncoder, name: str, devset: DevSet, settings: Sequence[str],
               batch_size: int) -> EncodedSet:
    """Encode the topics and pools that ``settings`` use (cut to training's query and passage lengths)."""
    query_languages = dict.fromkeys(s.split("-")[0] for s in settings)
    pool_languages = dict.fromkeys(s.split("-")[1] for s in settings)

    def encoded(ids_and_texts: tuple[list[str], list[str]], max_length: int) -> tuple[list[str], list[SparseVector]]:
        ids, texts = ids_and_texts
        return ids, encoder.encode_vectors(texts, batch_size=batch_size, max_length=max_length)

    return EncodedSet(name, devset.qrels,
                      {lang: encoded(devset.topics(lang), QUERY_MAX_LENGTH) for lang in query_languages},
                      {lang: encoded(devset.pool(lang), PASSAGE_MAX_LENGTH) for lang in pool_languages})


def pruned(vectors: Sequence[SparseVector], spec: PruneSpec | None, pivot_size: int) -> list[SparseVector]:
    return list(vectors) if spec is None else [prune(v, spec, pivot_size) for v in vectors]


def score_set(encoded: EncodedSet, condition: Condition, settings: Sequence[str], pivot_size: int,
              dimension: int) -> tuple[SettingScores, list[int], list[int]]:
    """Per-query nDCG@10 of every setting, and the term counts of the pruned queries and passages."""
    queries = {lang: pruned(vectors, condition.queries, pivot_size) for lang, (_, vectors) in encoded.topics.items()}
    pools = {lang: pruned(vectors, condition.documents, pivot_size) for lang, (_, vectors) in encoded.pools.items()}
    matrices = {lang: sparse_rows(vectors, dimension) for lang, vectors in pools.items()}
    scores: SettingScores = {}
    for setting in settings:
        query_language, pool_language = setting.split("-")
        qids, docids = encoded.topics[query_language][0], encoded.pools[pool_language][0]
        product = dense_scores(sparse_rows(queries[query_language], dimension), matrices[pool_language])
        scores[setting] = per_query(encoded.qrels, top_hits(product, qids, docids), ["ndcg_cut.10"])["ndcg_cut_10"]
    return (scores, [len(v) for vs in queries.values() for v in vs], [len(v) for vs in pools.values() for v in vs])


def item_values(per_set: Mapping[str, SettingScores], qrels: Mapping[str, Qrels],
                settings: Sequence[str]) -> dict[str, float]:
    """``{held-out passage: mean nDCG@10 of its queries over settings}``, pooled over the sets."""
    values: dict[str, list[float]] = {}
    for name, scores in per_set.items():
        for setting in settings:
            for qid, value in scores[setting].items():
                values.setdefault(next(iter(qrels[name][qid])), []).append(value)
    return {item: float(np.mean(v)) for item, v in values.items()}


def mean_ndcg(scores: SettingScores, settings: Sequence[str]) -> float:
    """The development score training reports: the mean over ``settings`` of the mean over queries."""
    return float(np.mean([np.mean(list(scores[setting].values())) for setting in settings]))


def difference(paired: PairedDifference) -> dict[str, float | int]:
    return {"difference": round(paired.difference, DIGITS), "low": round(paired.low, DIGITS),
            "high": round(paired.high, DIGITS),
            "better": paired.better, "worse": paired.worse, "items": paired.items}


def score_condition(encoded: Sequence[EncodedSet], condition: Condition, groups: Mapping[str, Sequence[str]],
                    pivot_size: int, dimension: int) -> tuple[dict, dict[str, dict[str, float]]]:
    """A condition's figures on every set, and its item values per group of settings (pooled over the sets)."""
    per_set, query_terms, passage_terms = {}, [], []
    for e in encoded:
        per_set[e.name], queries, passages = score_set(e, condition, groups["all"], pivot_size, dimension)
        query_terms += queries
        passage_terms += passages
    qrels = {e.name: e.qrels for e in encoded}
    items = {group: item_values(per_set, qrels, chosen) for group, chosen in groups.items()}
    return {"condition": condition.name,
            "sets": {name: {group: round(mean_ndcg(scores, chosen), DIGITS) for group, chosen in groups.items()}
                     for name, scores in per_set.items()},
            "pooled": round(float(np.mean(list(items["all"].values()))), DIGITS),
            "query_terms": round(float(np.mean(query_terms)), DIGITS),
            "passage_terms": round(float(np.mean(passage_terms)), DIGITS)}, items


def compare(encoded: Sequence[EncodedSet], conditions: Sequence[Condition], reference: Condition,
            settings: Sequence[str], pivot_size: int, dimension: int, resamples: int) -> list[dict]:
    """Score every condition on every set, and compare it with ``reference`` over the pooled items."""
    groups = {"all": list(settings)}
    cross = [s for s in settings if s.split("-")[1] == CROSS_LINGUAL_POOL and s.split("-")[0] != CROSS_LINGUAL_POOL]
    if cross:
        groups["X->en"] = cross
    scored = {condition: score_condition(encoded, condition, groups, pivot_size, dimension)
              for condition in dict.fromkeys([reference, *conditions])}
    reference_items = scored[reference][1]
    results = []
    for condition in conditions:
        result, items = scored[condition]
        if condition != reference:
            result = result | {"vs_reference": {group: difference(paired_bootstrap(reference_items[group], items[group],
                                                                                   resamples))
                                                for group in groups}}
        results.append(result)
    return results


def signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def format_table(results: Sequence[dict], reference: str) -> str:
    """Markdown: a column per condition; per set, pooled, the differences from ``reference``, term counts."""
    header = ["", *(r["condition"] for r in results)]
    rows = [[name if group == "all" else f"{name} {group}", *(f"{r['sets'][name][group]:.3f}" for r in results)]
            for name, groups in results[0]["sets"].items() for group in groups]
    if len(results[0]["sets"]) > 1:
        rows.append(["pooled", *(f"{r['pooled']:.3f}" for r in results)])
    compared = [r["vs_reference"] for r in results if "vs_reference" in r]
    for group in compared[0] if compared else {}:
        rows.append([f"Δ {group} vs {reference}, 95%", *(
            "–" if "vs_reference" not in r else "{} [{}, {}]".format(*(signed(r["vs_reference"][group][k])
                                                                       for k in ("difference", "low", "high")))
            for r in results)])
    rows.append(["query terms", *(f"{r['query_terms']:.0f}" for r in results)])
    rows.append(["passage terms", *(f"{r['passage_terms']:.0f}" for r in results)])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.query_pruning", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="milco-mini", help="milco-mini, milco or a checkpoint folder")
    parser.add_argument("--dev", nargs="+", type=Path, required=True,
                        help="development set folders (`python -m pyserini_milco.train devset --out DIR`), pooled")
    parser.add_argument("--conditions", nargs="+", default=list(DEFAULT_CONDITIONS),
                        help=f"QUERIES/DOCUMENTS pruning to score (default: {' '.join(DEFAULT_CONDITIONS)})")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE,
                        help=f"the condition the others are compared with (default: {DEFAULT_REFERENCE})")
    parser.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                        help="comma-separated <query lang>-<pool lang> settings (default: training's nine)")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples (10,000)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per encoding batch (default: 32)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--out", type=Path, required=True, help="results JSON to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    conditions = [Condition.parse(c) for c in args.conditions]
    reference = Condition.parse(args.reference)
    encoder = MilcoEncoder.from_pretrained(args.encoder, device="cpu")
    encoded = [encode_set(encoder, folder.name, load_devset(folder), settings, args.batch_size) for folder in args.dev]
    results = compare(encoded, conditions, reference, settings, encoder.pivot_size, encoder.dimension, args.resamples)
    with atomic_output(args.out) as handle:
        json.dump({"encoder": args.encoder, "dev": [str(f) for f in args.dev], "settings": settings,
                   "reference": reference.name, "resamples": args.resamples, "conditions": results}, handle, indent=1)
    print(format_table(results, reference.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
