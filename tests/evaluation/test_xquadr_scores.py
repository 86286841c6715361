"""The scores every XQuAD-R run reports: averages per kind of setting, and the table that prints them."""
from __future__ import annotations

from pyserini_milco.cli.xquadr import format_table
from pyserini_milco.evaluation.xquadr_scores import averages


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
