"""A tiny release-layout student, ten training groups over the tiny texts and a two-language
development set: what the stage-2 trainers' tests share."""
import json

import pytest

from pyserini_milco.train.groups import TrainingGroup
from tiny import TEXTS, write_official_layout


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    write_official_layout(root / "student")
    groups = [TrainingGroup(TEXTS[i], (TEXTS[(i + 1) % 10], TEXTS[(i + 2) % 10], TEXTS[(i + 5) % 10]),
                            (4.0 - i % 3, 1.0, 0.5 * i)) for i in range(10)]
    (root / "train.jsonl").write_text("".join(g.to_json() + "\n" for g in groups), encoding="utf-8")
    dev = root / "dev"
    dev.mkdir()
    for lang in ("en", "de"):
        (dev / f"pool.{lang}.jsonl").write_text(
            "".join(json.dumps({"id": f"d{i}", "contents": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
        (dev / f"topics.{lang}.tsv").write_text("".join(f"q{i}\t{TEXTS[i]}\n" for i in range(3)), encoding="utf-8")
    (dev / "qrels.txt").write_text("".join(f"q{i} 0 d{i} 1\n" for i in range(3)))
    return root
