"""Paired bootstrap comparisons of runs, and the compare command."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pyserini_milco.errors import MissingInput, OptionError
from pyserini_milco.evaluation.metrics import write_qrels, write_run
from pyserini_milco.evaluation.significance import compare_table, group_items, paired_bootstrap


def test_identical_scores_give_a_zero_interval():
    a = {f"q{i}": i / 10 for i in range(10)}
    d = paired_bootstrap(a, dict(a))
    assert (d.difference, d.low, d.high, d.better, d.worse, d.items) == (0.0, 0.0, 0.0, 0, 0, 10)
    assert not d.excludes_zero


def test_a_consistent_gain_excludes_zero_and_noise_does_not():
    a = {f"q{i}": 0.5 for i in range(40)}
    better = {q: v + 0.1 for q, v in a.items()}
    d = paired_bootstrap(a, better)
    assert d.difference == pytest.approx(0.1) and d.low == pytest.approx(0.1) and d.excludes_zero
    assert (d.better, d.worse) == (40, 0)
    noisy = {q: v + (0.3 if i % 2 else -0.3) for i, (q, v) in enumerate(a.items())}
    d = paired_bootstrap(a, noisy)
    assert d.difference == pytest.approx(0.0) and d.low < 0 < d.high and not d.excludes_zero


def test_resampling_in_blocks_is_the_same_as_at_once(monkeypatch):
    import numpy as np
    from pyserini_milco.evaluation import significance

    values = np.linspace(0, 1, 50)
    at_once = significance.bootstrap_means(values, 300, seed=3)
    monkeypatch.setattr(significance, "_DRAW_BLOCK", 50 * 7)  # blocks of 7 resamples
    in_blocks = significance.bootstrap_means(values, 300, seed=3)
    assert in_blocks.shape == (300,) and np.allclose(in_blocks, at_once)


def test_the_interval_is_reproducible_and_narrows_with_confidence():
    a = {f"q{i}": (i * 7 % 10) / 10 for i in range(30)}
    b = {f"q{i}": (i * 3 % 10) / 10 for i in range(30)}
    assert paired_bootstrap(a, b, seed=1) == paired_bootstrap(a, b, seed=1)
    wide, narrow = paired_bootstrap(a, b, confidence=0.99), paired_bootstrap(a, b, confidence=0.5)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_different_queries_and_bad_settings_are_refused():
    with pytest.raises(OptionError, match="different queries"):
        paired_bootstrap({"q1": 1.0}, {"q2": 1.0})
    with pytest.raises(OptionError, match="confidence"):
        paired_bootstrap({"q1": 1.0}, {"q1": 1.0}, confidence=95)


def test_items_average_their_queries():
    values = {"q1-de": 1.0, "q1-zh": 0.0, "q2-de": 0.5, "q2-zh": 0.5}
    assert group_items(values, r"^(q\d+)-") == {"q1": 0.5, "q2": 0.5}
    assert group_items(values, None) == values
    with pytest.raises(OptionError, match="does not match query id 'x'"):
        group_items({"x": 1.0}, r"^q\d+")
    with pytest.raises(OptionError, match="not a regular expression"):
        group_items(values, "(")


@pytest.fixture()
def runs(tmp_path):
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    write_qrels(qrels, tmp_path / "qrels.txt")
    write_run({q: {f"d{i}": 1.0, "x": 2.0} for i, q in enumerate(qrels)}, tmp_path / "base.txt")   # every hit at rank 2
    write_run({q: {f"d{i}": 3.0, "x": 2.0} for i, q in enumerate(qrels)}, tmp_path / "better.txt")  # every hit at rank 1
    return tmp_path


def test_compare_table_marks_a_difference_the_queries_support(runs):
    base, better = str(runs / "base.txt"), str(runs / "better.txt")
    table = compare_table(str(runs / "qrels.txt"), [base, better], "ndcg_cut.10", 1000, 0.95, 0, None).splitlines()
    assert table[0] == f"| run | ndcg_cut_10 | Δ vs {base} | 95% interval | items better / worse |"
    assert table[2] == f"| {base} | 0.6309 | – | – | – |"
    assert table[3] == f"| {better} | 1.0000 | +0.3691* | [+0.3691, +0.3691] | 20 / 0 of 20 |"


def test_compare_command_errors_are_one_line(runs):
    command = [sys.executable, "-m", "pyserini_milco.compare", "--qrels", str(runs / "qrels.txt")]
    one = subprocess.run([*command, "--run", str(runs / "base.txt")], capture_output=True, text=True)
    assert one.returncode == 1 and one.stderr.strip() == "error: give at least two --run files: a baseline and a run to compare with it"
    missing = subprocess.run([*command, "--run", str(runs / "base.txt"), "--run", str(runs / "nope.txt")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: {runs / 'nope.txt'}: no such file"
    with pytest.raises(MissingInput):
        compare_table(str(runs / "none.txt"), [str(runs / "base.txt")] * 2, "map", 10, 0.95, 0, None)
