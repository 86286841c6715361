"""Evaluation: TREC files, hand-computed metrics, and agreement with Pyserini's trec_eval."""
from __future__ import annotations

import math
import random

import pytest

from pyserini_milco.errors import MissingInput
from pyserini_milco.evaluation.metrics import (average_precision, evaluate, measure_args, metric, ndcg, parse_trec_eval,
                                               per_query, ranking, read_qrels, read_run, recall, trec_eval, write_qrels,
                                               write_run)

METRICS = ("ndcg_cut.10", "recall.100", "map", "ndcg_cut.3", "recall.5")


def test_run_and_qrels_round_trip_and_rank_like_trec_eval(tmp_path):
    run = {"q1": {"a": 1.0, "b": 3.0, "c": 1.0}, "q2": {"z": 0.5}}
    write_run(run, tmp_path / "run.txt", tag="t", depth=2)
    assert (tmp_path / "run.txt").read_text().splitlines() == [
        "q1 Q0 b 1 3.000000 t", "q1 Q0 c 2 1.000000 t", "q2 Q0 z 1 0.500000 t"]  # ties: docid descending
    assert read_run(tmp_path / "run.txt") == {"q1": {"b": 3.0, "c": 1.0}, "q2": {"z": 0.5}}
    qrels = {"q1": {"a": 1, "c": 2}, "q2": {"y": 1}}
    write_qrels(qrels, tmp_path / "qrels.txt")
    assert read_qrels(tmp_path / "qrels.txt") == qrels
    assert ranking({"a": 1.0, "b": 1.0, "c": 2.0}) == ["c", "b", "a"]


def test_malformed_lines_name_file_and_line(tmp_path):
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2\n")
    with pytest.raises(ValueError, match=r"qrels\.txt:2: expected 4 fields"):
        read_qrels(tmp_path / "qrels.txt")
    (tmp_path / "run.txt").write_text("q1 Q0 d1 1 high t\n")
    with pytest.raises(ValueError, match=r"run\.txt:1: score 'high'"):
        read_run(tmp_path / "run.txt")


def test_metrics_by_hand():
    judged = {"a": 1, "c": 2, "x": 1}
    ranked = ["a", "b", "c", "d"]
    assert ndcg(ranked, judged, 10) == pytest.approx((1 + 2 / math.log2(4)) / (2 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert recall(ranked, judged, 2) == pytest.approx(1 / 3)
    assert average_precision(ranked, judged) == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert evaluate({"q": judged, "none": {"n": 0}}, {"q": {"a": 1.0}}, ["map"]) == {"map": pytest.approx(1 / 6)}


def test_measure_names_and_trec_eval_options():
    assert metric("ndcg_cut.10")[0] == "ndcg_cut_10" and metric("map")[0] == "map"
    with pytest.raises(ValueError, match="unsupported measure 'P.5'"):
        metric("P.5")
    assert measure_args(METRICS) == ["-m", "ndcg_cut.10,3", "-m", "recall.100,5", "-m", "map"]
    table = parse_trec_eval("runid \tall\tx\nmap                   \tall\t0.2500\nmap\tq1\t0.5\n", ["map"])
    assert table == {"map": {"all": 0.25, "q1": 0.5}}


def test_python_metrics_agree_with_trec_eval(tmp_path):
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(150)]
    qrels = {f"q{q}": {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))} for q in range(25)}
    run = {qid: {d: float(rng.randint(0, 30)) for d in rng.sample(docs, 120)} for qid in list(qrels)[:-2]}
    qrels["no-relevant"] = {"d1": 0, "d2": 0}  # counts 0, like a judged query missing from the run
    run["no-relevant"] = {"d1": 2.0}
    run["unjudged"] = {"d1": 1.0}
    write_qrels(qrels, tmp_path / "qrels.txt")
    write_run(run, tmp_path / "run.txt")
    official = trec_eval(tmp_path / "qrels.txt", tmp_path / "run.txt", METRICS, per_query_values=True)
    mine = per_query(qrels, read_run(tmp_path / "run.txt"), METRICS)
    assert official.keys() == mine.keys()
    for name, values in official.items():
        assert evaluate(qrels, run, METRICS)[name] == pytest.approx(values["all"], abs=1e-4), name
        assert all(mine[name][q] == pytest.approx(v, abs=1e-4) for q, v in values.items() if q != "all"), name


def test_trec_eval_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        trec_eval(tmp_path / "missing.txt", tmp_path / "run.txt")


def test_a_missing_run_or_qrels_file_is_named(tmp_path):
    for read in (read_qrels, read_run):
        with pytest.raises(MissingInput, match=r"absent\.txt: no such file"):
            read(tmp_path / "absent.txt")
