"""A tiny XQuAD-R in SQuAD JSON (two languages, two articles, three questions), for the XQuAD-R tests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


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
