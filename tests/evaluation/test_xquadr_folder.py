"""The Pyserini folder of XQuAD-R: what ``prepare`` writes, and the per-pool files every run searches with."""
from __future__ import annotations

import json

from pyserini_milco.cli.xquadr import main
from pyserini_milco.evaluation.metrics import read_qrels
from pyserini_milco.evaluation.xquadr import load_xquadr
from pyserini_milco.evaluation.xquadr_folder import Prepared, pool_qrels, pool_topics, prepare


def test_prepare_cli_writes_pyserini_inputs(data_dir, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["prepare", "--out", str(out), "--languages", "en,de", "--data-dir", str(data_dir)]) == 0
    prepared = Prepared(out)
    assert [s.name for s in prepared.settings()] == ["en-en", "de-de", "de-en", "en-de", "en-all", "de-all"]
    docs = [json.loads(line) for line in (out / "corpus" / "all" / "docs.jsonl").read_text().splitlines()]
    assert [d["id"] for d in docs] == ["en-0-0", "en-0-1", "en-0-2", "en-1-0", "en-1-1",
                                       "de-0-0", "de-0-1", "de-0-2", "de-1-0", "de-1-1"]
    assert (out / "topics" / "de.tsv").read_text().splitlines()[0] == "de-q1\tWelche Stadt ist klein?"
    assert (out / "qrels" / "en-de.txt").read_text().splitlines() == ["en-q1 0 de-0-2 1", "en-q2 0 de-0-0 1",
                                                                      "en-q3 0 de-1-1 1"]
    assert prepared.manifest()["candidates_per_pool"] == {"en": 5, "de": 5, "all": 10}
    assert '"questions_per_language"' in capsys.readouterr().out
    assert main(["bm25", "--prepared", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.json")]) == 2
    assert "run `python -m pyserini_milco.xquadr prepare" in capsys.readouterr().err


def test_pool_files_merge_the_settings_of_a_pool(data_dir, tmp_path):
    prepared = prepare(load_xquadr(data_dir, ["en", "de"]), tmp_path / "p")
    settings = prepared.settings()
    topics = pool_topics(prepared, "en", settings, tmp_path / "en.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in topics] == ["en-q1", "en-q2", "en-q3", "de-q1", "de-q2", "de-q3"]
    qrels = read_qrels(pool_qrels(prepared, "en", settings, tmp_path / "en.txt"))
    assert qrels["de-q2"] == {"en-0-2": 1} and qrels["en-q2"] == {"en-0-2": 1}
