"""What the trainers' tests share: a tiny release-layout student, ten training groups over the tiny
texts and a two-language development set; the checks that a resumed run's delta equals a straight
run's and that student + delta rebuilds the trainer's merged model."""
import json

import pytest
import torch
from safetensors import safe_open

from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.mini.build import apply_delta

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


def assert_same_delta(path_a, path_b) -> None:
    """Two delta files hold the same tensors, bit for bit."""
    delta_a, delta_b = safe_open(str(path_a), "pt"), safe_open(str(path_b), "pt")
    assert set(delta_a.keys()) == set(delta_b.keys())
    for key in delta_a.keys():
        assert torch.equal(delta_a.get_tensor(key), delta_b.get_tensor(key)), key


def assert_rebuilds(student, delta, merged_model) -> None:
    """The student + the delta, applied as ``mini build`` applies it, equals the trainer's merged
    model bit for bit."""
    rebuilt, *_ = load_checkpoint(student)
    apply_delta(rebuilt, delta)
    merged, *_ = load_checkpoint(merged_model)
    for (name, a), (_, b) in zip(rebuilt.state_dict().items(), merged.state_dict().items()):
        assert torch.equal(a, b), name
