"""The experiments behind the README's and docs' figures run end to end on tiny configurations."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
from experiments import query_pruning  # noqa: E402

QUERIES = {"q0": "capital of France", "q1": "light energy plants", "q2": "Paris city"}
PASSAGES = {"p0": "The capital of France is Paris.", "p1": "Photosynthesis converts light energy in plants.",
            "p2": "Paris is a French city.", "p3": "Die Hauptstadt von Frankreich ist Paris."}


def write_devset(folder: Path, suffix: str) -> Path:
    """A development set in ``train devset``'s layout: query ``q<i><suffix>`` asks for passage ``p<i>``."""
    folder.mkdir(parents=True)
    for language in ("en", "de"):
        (folder / f"pool.{language}.jsonl").write_text(
            "".join(json.dumps({"id": pid, "contents": text}) + "\n" for pid, text in PASSAGES.items()))
        (folder / f"topics.{language}.tsv").write_text(
            "".join(f"{qid}{suffix}\t{text}\n" for qid, text in QUERIES.items()))
    (folder / "qrels.txt").write_text("".join(f"{qid}{suffix} 0 p{qid[1:]} 1\n" for qid in QUERIES))
    return folder


def test_query_pruning_pools_the_sets_and_compares_with_the_reference(official_checkpoint, tmp_path, capsys):
    folder, _ = official_checkpoint
    dev = [write_devset(tmp_path / "dev-s1", "-s1"), write_devset(tmp_path / "dev-s2", "")]
    out = tmp_path / "pruning.json"
    assert query_pruning.main(["--encoder", str(folder), "--dev", *map(str, dev), "--settings", "de-en,de-de,en-en",
                               "--conditions", "none/none", "topk:2/none", "topk:2/topk:3", "--reference",
                               "none/none", "--resamples", "200", "--threads", "1", "--out", str(out)]) == 0
    results = json.loads(out.read_text())["conditions"]
    assert [r["condition"] for r in results] == ["none/none", "topk:2/none", "topk:2/topk:3"]
    unpruned, queries_cut, both_cut = results
    assert set(unpruned["sets"]) == {"dev-s1", "dev-s2"} and "vs_reference" not in unpruned
    assert unpruned["sets"]["dev-s1"] == unpruned["sets"]["dev-s2"]  # the same texts twice
    assert unpruned["sets"]["dev-s1"]["all"] == pytest.approx(unpruned["pooled"], abs=1e-4)
    assert set(unpruned["sets"]["dev-s1"]) == {"all", "X->en"}
    assert queries_cut["query_terms"] <= 4 < unpruned["query_terms"]  # two per view
    assert queries_cut["passage_terms"] == unpruned["passage_terms"] > both_cut["passage_terms"]
    assert set(queries_cut["vs_reference"]) == {"all", "X->en"}
    assert queries_cut["vs_reference"]["all"]["items"] == 3  # items are the held-out passages, pooled over sets
    table = capsys.readouterr().out
    assert "| pooled |" in table and "| dev-s1 X->en |" in table and "Δ X->en vs none/none, 95%" in table


def test_a_condition_names_the_pruning_of_queries_and_documents():
    condition = query_pruning.Condition.parse("topk:20/none")
    assert (condition.queries.method, condition.queries.value, condition.documents) == ("topk", 20, None)
    with pytest.raises(ValueError, match="QUERIES/DOCUMENTS"):
        query_pruning.Condition.parse("topk:20")
