"""The scores every XQuAD-R run reports (BM25, MILCO, dense): ``trec_eval`` per setting, checked
against the Python metrics, and their averages per kind of setting."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .metrics import mean, metric, per_query, read_qrels, read_run, trec_eval
from .xquadr import PIVOT, SETTING_KINDS, Setting

XQUADR_METRICS = ("ndcg_cut.10", "recall.100", "map")  # trec_eval measures: LAReQA's mAP, and nDCG@10, R@100
XQUADR_SCORE_NAMES = tuple(metric(m)[0] for m in XQUADR_METRICS)  # their names in trec_eval's output and ours
METRIC_LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "map": "mAP"}


def setting_scores(values: dict[str, dict[str, float]], qids: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over ``qids``; a query without a value scores 0 (``trec_eval -c``)."""
    return {name: round(mean(per_qid, qids), 4) for name, per_qid in values.items()}


def evaluate_pool(qrels_path: Path, run_path: Path, settings: Sequence[Setting]) -> dict[str, dict]:
    """Scores of each setting searching one pool, by ``trec_eval``, with the gap to the Python metrics.

    The pool's run and qrels hold the queries of all its settings; a setting's queries are those
    whose id starts with its query language.
    """
    qrels = read_qrels(qrels_path)
    official = trec_eval(qrels_path, run_path, XQUADR_METRICS, per_query_values=True)
    python = per_query(qrels, read_run(run_path), XQUADR_METRICS)
    results = {}
    for setting in settings:
        qids = [qid for qid in qrels if qid.startswith(f"{setting.query_lang}-")]
        scores, check = setting_scores(official, qids), setting_scores(python, qids)
        results[setting.name] = {"kind": setting.kind, "query_lang": setting.query_lang, "pool": setting.pool,
                                 **scores, "python_gap": round(max(abs(scores[m] - check[m]) for m in scores), 4)}
    return results


def averages(results: dict[str, dict], metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per setting kind, the mean of each metric: over the non-English query languages for X->X
    (X->en and en->X have no English row), over all languages for X->all (LAReQA's figure)."""
    table = {}
    for kind in SETTING_KINDS:
        rows = [r for r in results.values() if r["kind"] == kind and (kind != "X->X" or r["query_lang"] != PIVOT)]
        if rows:
            table[kind] = {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in metrics} | {"languages": len(rows)}
    return table
