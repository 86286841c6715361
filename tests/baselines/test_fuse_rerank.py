"""The fusion and rerank commands: their arithmetic on hand-made runs, and the errors they give."""
from __future__ import annotations

import json

import pytest

from pyserini_milco.baselines import fuse, rerank
from pyserini_milco.evaluation.metrics import read_run, write_run


def test_fusion_adds_weighted_scores_of_each_runs_top_depth_missing_counting_zero():
    dense = {"q": {"a": 0.9, "b": 0.8, "c": 0.1}}
    sparse = {"q": {"b": 3000.0, "d": 1000.0, "c": 500.0}}
    fused = fuse.fuse([(dense, 1.0), (sparse, 0.3e-4)], depth=2)
    assert fused == {"q": pytest.approx({"a": 0.9, "b": 0.8 + 0.09, "d": 0.03})}  # c is in neither top 2


def test_fuse_command_writes_a_ranked_run(tmp_path):
    write_run({"q": {"a": 0.5, "b": 0.4}}, tmp_path / "one.txt")
    write_run({"q": {"b": 2.0}}, tmp_path / "two.txt")
    assert fuse.main(["--run", str(tmp_path / "one.txt"), "1", "--run", str(tmp_path / "two.txt"), "0.1",
                      "--output", str(tmp_path / "out.txt"), "--hits", "1"]) == 0
    assert read_run(tmp_path / "out.txt") == {"q": pytest.approx({"b": 0.6})}


@pytest.mark.parametrize("args, message", [
    (["--run", "x.txt", "heavy"], "the weight must be a number"),
    (["--run", "missing.txt", "1"], "no such run file: missing.txt"),
])
def test_fuse_command_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        fuse.main([*args, "--output", str(tmp_path / "out.txt")])
    assert message in capsys.readouterr().err


def test_rerank_refuses_all_zero_weights(tmp_path, capsys):
    with pytest.raises(SystemExit):
        rerank.main(["--run", "r", "--topics", "t", "--corpus", "c", "--output", "o", "--dense-weight", "0",
                     "--sparse-weight", "0", "--colbert-weight", "0"])
    assert "every weight is 0" in capsys.readouterr().err


def test_rerank_names_what_does_not_fit(tmp_path):
    topics = {"q1": "a question"}
    with pytest.raises(ValueError, match="the run has 1 queries that the topics lack .e.g. q2."):
        rerank.candidates({"q1": {"d": 1.0}, "q2": {"d": 1.0}}, topics, depth=10)
    assert rerank.candidates({"q1": {"a": 1.0, "b": 2.0, "c": 0.5}}, topics, depth=2) == {"q1": ["b", "a"]}
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "a", "title": "T", "text": "x"}) + "\n")
    assert rerank.passage_texts(tmp_path, ["title", "text"], {"a"}) == {"a": "T x"}
    with pytest.raises(ValueError, match="1 documents of the run are not in the corpus .e.g. b."):
        rerank.passage_texts(tmp_path, ["title", "text"], {"a", "b"})


@pytest.mark.parametrize("module, flags", [
    (fuse, ["--run", "--depth", "--hits", "--tag", "--output"]),
    (rerank, ["--run", "--topics", "--corpus", "--output", "--encoder", "--depth", "--dense-weight", "--sparse-weight",
              "--colbert-weight", "--fields", "--max-length", "--batch-size", "--queries-per-pass", "--device",
              "--threads"]),
])
def test_help_explains_every_flag(module, flags):
    text = module.build_parser().format_help()
    assert all(flag in text for flag in flags)
    assert all(action.help for action in module.build_parser()._actions)
