"""Stage-1 trainer on a tiny student and a tiny English masked-LM teacher, with real NTREX text."""
import json

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

from conftest import SHARED_DATA
from pyserini_milco.train.align import AlignSettings, AlignTrainer, union_mse
from pyserini_milco.train.connector_init import align_tokens
from tiny import EN_TOKENS, write_official_layout

from .conftest import assert_rebuilds, assert_same_delta


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    write_official_layout(root / "student")
    torch.manual_seed(0)
    teacher = BertForMaskedLM(BertConfig(vocab_size=len(EN_TOKENS), hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=140))
    teacher.save_pretrained(root / "teacher")
    vocab = {token: i for i, token in enumerate(EN_TOKENS) if " " not in token}
    BertTokenizerFast(vocab=vocab, unk_token="[UNK]").save_pretrained(str(root / "teacher"))
    return root


def settings(root, out, steps, **kw):
    return AlignSettings(student=str(root / "student"), teacher=str(root / "teacher"),
                         ntrex_dir=SHARED_DATA / "ntrex", out=out, languages=["de", "zh"], steps=steps,
                         batch_size=2, adapter_layers=[1], rank=2, alpha=4.0, max_length=16,
                         validation_documents=2, validate_every=2, save_every=2, connector_init_sentences=20,
                         threads=1, **kw)


def trainable(trainer):
    return {n: p.detach().clone() for n, p in trainer.trainable.items()}


def test_train_resume_export_and_rebuild(parts, tmp_path):
    straight = AlignTrainer(settings(parts, tmp_path / "a", 4))
    result = straight.train()
    log = [json.loads(l) for l in (tmp_path / "a" / "train-log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 4] and "match_mean" in log[-1] and "valid_fo_loss" in log[-1]

    first = AlignTrainer(settings(parts, tmp_path / "b", 4))
    first.steps = first.steps[:2]  # as if killed after the checkpoint at step 2
    first.s.steps = 2
    first.train()
    resumed = AlignTrainer(settings(parts, tmp_path / "b", 4))
    resumed.train(resume=True)
    assert_same_delta(tmp_path / "a" / "delta.safetensors", tmp_path / "b" / "delta.safetensors")

    # the shipped-delta path: the untrained model + the delta = the trainer's merged model, bit for bit
    assert_rebuilds(parts / "student", tmp_path / "a" / "delta.safetensors", result["model"])


def test_union_mse_pulls_negative_student_logits_up():
    student = torch.tensor([[-1.0, 0.5, -2.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0, 0.0]])
    loss = union_mse(student, teacher)
    loss.backward()
    assert loss.item() == pytest.approx(((-1 - 1) ** 2 + 0.5 ** 2) / 2)
    assert student.grad[0, 0] < 0 and student.grad[0, 2] == 0  # raised where the teacher is positive


def test_token_alignment_by_character_offsets():
    student = [(0, 0), (0, 3), (3, 11), (11, 12), (0, 0)]      # <s> ▁The ▁capital . </s>
    teacher = [(0, 0), (0, 3), (4, 11), (11, 12), (0, 0)]      # [CLS] the capital . [SEP]
    assert sorted(align_tokens(student, teacher, 5, 5)) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
