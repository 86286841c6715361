"""Training-group files, teachers, and the NTREX groups and development set."""
import json

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from pyserini_milco.errors import OptionError
from pyserini_milco.train.data import ParallelCorpus, load_ntrex
from pyserini_milco.train.groups import GroupFileError, TrainingGroup, read_groups
from pyserini_milco.train.ntrex_groups import GroupBuilder, GroupSettings, cut_passages, write_devset
from pyserini_milco.train.teachers import CrossEncoder, FileScores, TeacherError, load_teacher


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_group_file_round_trip_and_negatives_cut(tmp_path):
    group = TrainingGroup("q", ("p", "n1", "n2"), (3.0, 1.0, 0.5))
    path = write_lines(tmp_path / "g.jsonl", [group.to_json(), "", TrainingGroup("q2", ("p", "a", "b")).to_json()])
    first, second = read_groups(path, negatives=1)
    assert first == TrainingGroup("q", ("p", "n1"), (3.0, 1.0)) and second.scores is None


@pytest.mark.parametrize("line, message", [
    ("{not json", r"g.jsonl:2: not JSON"),
    ('{"query": "q", "positive": "p"}', r"g.jsonl:2: 'negatives' missing"),
    ('{"query": "q", "positive": "p", "negatives": ["n"]}', r"g.jsonl:2: needs at least 2 negatives"),
    ('{"query": "q", "positive": "p", "negatives": ["n", "m"], "scores": [1]}', r"g.jsonl:2: 'scores' must list"),
])
def test_group_file_errors_name_file_and_line(tmp_path, line, message):
    good = TrainingGroup("q", ("p", "a", "b")).to_json()
    with pytest.raises(GroupFileError, match=message):
        read_groups(write_lines(tmp_path / "g.jsonl", [good, line]), negatives=2)


def test_file_scores_teacher_needs_scores():
    assert FileScores().score([TrainingGroup("q", ("p", "n"), (2.0, 1.0))]).tolist() == [[2.0, 1.0]]
    with pytest.raises(TeacherError, match="no 'scores'"):
        FileScores().score([TrainingGroup("q", ("p", "n"))])


def test_cross_encoder_teacher_scores_pairs_jointly(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "paris", "capital", "france", "energy"]
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16, num_labels=1))
    model.save_pretrained(tmp_path)
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(str(tmp_path))
    teacher = load_teacher(str(tmp_path))
    groups = [TrainingGroup("capital france", ("paris", "energy")), TrainingGroup("energy", ("paris", "france"))]
    scores = teacher.score(groups)
    batch = teacher.tokenizer(["capital france"], ["energy"], return_tensors="pt")
    assert scores.shape == (2, 2)
    assert scores[0, 1].item() == pytest.approx(model.eval()(**batch).logits[0, 0].item(), abs=1e-5)
    assert CrossEncoder.relevance(torch.tensor([[0.5, 2.0]])).tolist() == [1.5]


def test_teacher_folder_without_config_is_refused(tmp_path):
    with pytest.raises(TeacherError, match="no config.json"):
        load_teacher(str(tmp_path))


def test_passages_cut_documents_and_fold_a_single_last_sentence():
    passages = cut_passages(["a"] * 5 + ["b"] * 3, 2)
    assert [p.lines for p in passages] == [(0, 1), (2, 3, 4), (5, 6, 7)]
    assert [p.pid for p in passages] == ["a#0", "a#1", "b#0"]


@pytest.fixture(scope="module")
def ntrex():
    return load_ntrex(SHARED_DATA / "ntrex", ["de", "zh"])


def fake_embed(texts, kind):
    """Deterministic unit vectors from the texts' characters (the real teacher is e5, tested elsewhere)."""
    rows = [np.bincount([ord(ch) % 64 for ch in text.lower()], minlength=64) for text in texts]
    return torch.nn.functional.normalize(torch.tensor(np.array(rows), dtype=torch.float32), dim=-1)


def test_groups_from_ntrex_keep_held_out_documents_out(ntrex, tmp_path):
    settings = GroupSettings(languages=["de", "zh"], groups=60, negatives=3, temperature=0.05)
    builder = GroupBuilder(ntrex, settings, fake_embed)
    _, valid = ntrex.split(settings.validation_documents, settings.seed)
    held_out = {ntrex.english[i] for i in valid} | {ntrex.translations[l][i] for l in ("de", "zh") for i in valid}
    count = builder.write(tmp_path / "train.jsonl")
    groups = read_groups(tmp_path / "train.jsonl", negatives=3)
    assert count == len(groups) == 60
    for group in groups:
        assert group.query not in held_out
        assert not any(sentence in p for p in group.passages for sentence in held_out if len(sentence) > 30)
        assert len(group.scores) == 4 and len(set(group.passages)) == 4
    ict = [g for g in groups if g.query not in g.positive and g.query in ntrex.english]
    assert ict, "some English-query groups are inverse cloze (the query's sentence is not in its positive)"


def test_group_scores_are_english_cosines_over_temperature(ntrex):
    settings = GroupSettings(languages=["de"], groups=1, negatives=2, temperature=0.5, ict_share=0.0)
    builder = GroupBuilder(ntrex, settings, fake_embed)
    group = builder.group()
    line = builder.corpus.english.index(group.query) if group.query in builder.corpus.english else \
        builder.corpus.translations["de"].index(group.query)
    own = builder.home[line]
    expected = float(builder.table.full[own] @ builder.table.queries[line]) / 0.5
    assert group.scores[0] == pytest.approx(expected, rel=1e-5)


def test_devset_asks_for_the_passage_without_the_query_sentence(ntrex, tmp_path):
    settings = GroupSettings(languages=["de", "zh"])
    info = write_devset(ntrex, settings, tmp_path)
    qrels = [line.split() for line in (tmp_path / "qrels.txt").read_text().splitlines()]
    pool = {json.loads(l)["id"]: json.loads(l)["contents"] for l in (tmp_path / "pool.zh.jsonl").read_text(encoding="utf-8").splitlines()}
    topics = dict(l.split("\t") for l in (tmp_path / "topics.zh.tsv").read_text(encoding="utf-8").splitlines())
    assert len(qrels) == info["queries"] > 40 and len(pool) == info["pool"] > 400
    for qid, _, docid, grade in qrels:
        assert docid in pool and grade == "1"
        assert topics[qid] not in pool[docid]


def test_devset_variants_ask_with_another_sentence_of_the_same_passages(ntrex, tmp_path):
    settings = GroupSettings(languages=["de"], chunk_sentences=3)
    second = write_devset(ntrex, settings, tmp_path / "s2")
    third = write_devset(ntrex, settings, tmp_path / "s3", query_sentence=3)
    assert third["query_sentence"] == 3 and 0 < third["queries"] <= second["queries"] and third["pool"] == second["pool"]
    topics = {name: dict(l.split("\t") for l in (tmp_path / name / "topics.en.tsv").read_text(encoding="utf-8").splitlines())
              for name in ("s2", "s3")}
    pool = {json.loads(l)["id"]: json.loads(l)["contents"] for l in (tmp_path / "s3" / "pool.en.jsonl").read_text().splitlines()}
    for qid, text in topics["s3"].items():
        passage = qid.removeprefix("q").removesuffix("-s3")
        assert qid.endswith("-s3") and topics["s2"][f"q{passage}"] != text
        assert text not in pool[passage] and topics["s2"][f"q{passage}"] in pool[passage]
    with pytest.raises(OptionError, match="query sentence 4: no held-out passage"):
        write_devset(ntrex, GroupSettings(languages=["de"], chunk_sentences=2), tmp_path / "s4", query_sentence=4)


def test_devset_command_writes_a_variant_alone(tmp_path, capsys):
    from pyserini_milco.train.__main__ import main
    main(["devset", "--out", str(tmp_path), "--ntrex-dir", str(SHARED_DATA / "ntrex"), "--languages", "de",
          "--chunk-sentences", "3", "--query-sentence", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["query_sentence"] == 1 and printed["queries"] == 60 and printed["pool"] == 669
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devset.json", "pool.de.jsonl", "pool.en.jsonl", "qrels.txt",
                                                          "topics.de.tsv", "topics.en.tsv"]
