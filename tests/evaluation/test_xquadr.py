"""XQuAD-R parsing: relevance derivation on a hand-made fixture (``conftest.data_dir``), and checks on the
real data."""
from __future__ import annotations

import json

import pytest

from pyserini_milco.evaluation.datasets import default_data_dir
from pyserini_milco.evaluation.xquadr import (FULL_POOL, LANGUAGES, Setting, answer_sentence, first_paragraphs,
                                              load_language, load_xquadr, pool_candidates, relevant_per_language,
                                              setting_qrels, standard_settings)


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
    data = first_paragraphs(load_xquadr(languages=["de", "en"]), 10)
    pool = {c.docid for c in pool_candidates("all", data)}
    assert pool and all(int(d.split("-")[1]) < 10 for d in pool)
    qrels = setting_qrels(Setting("de", "all"), data)
    assert len(qrels) == len(data["de"].questions) > 0
    assert all(set(judged) <= pool and len(judged) == 2 for judged in qrels.values())
