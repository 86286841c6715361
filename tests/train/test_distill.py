"""Stage-2 distillation: the loss pieces against independent re-implementations, and the trainer
end to end (resume bit for bit, export, rebuild) on a tiny release-layout student."""
import json

import pytest
import torch
from safetensors import safe_open

from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.train.distill import (DistillSettings, DistillTrainer, Encoded, group_scores,
                                          kl_teacher_student, ramp, sparsity)

from .conftest import assert_rebuilds, assert_same_delta


def test_group_scores_equal_the_dual_view_dot_product_of_summed_vectors():
    torch.manual_seed(0)
    batch, group, vocab = 2, 3, 11
    q = Encoded(torch.rand(batch, vocab), torch.randint(0, 6, (batch, 4)), torch.rand(batch, 4))
    p = Encoded(torch.rand(batch * group, vocab), torch.randint(0, 6, (batch * group, 5)), torch.rand(batch * group, 5))
    got = group_scores(q, p, group)

    def summed(ids, weights):  # the source view as the release names it: one weight per token id
        out = {}
        for i, w in zip(ids.tolist(), weights.tolist()):
            out[i] = out.get(i, 0.0) + w
        return out

    for b in range(batch):
        for g in range(group):
            row = b * group + g
            qs, ps = summed(q.ids[b], q.source[b]), summed(p.ids[row], p.source[row])
            expected = float(q.pivot[b] @ p.pivot[row]) + sum(w * ps.get(i, 0.0) for i, w in qs.items())
            assert got[b, g].item() == pytest.approx(expected, rel=1e-5)


def test_pivot_only_scores_when_there_is_no_source_view():
    q = Encoded(torch.eye(2), torch.zeros(2, 1, dtype=torch.long), None)
    p = Encoded(torch.eye(2).repeat(2, 1), torch.zeros(4, 1, dtype=torch.long), None)
    assert torch.equal(group_scores(q, p, 2), torch.eye(2))


def test_kl_is_the_teacher_weighted_log_ratio():
    student, teacher = torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([[3.0, 0.0, 1.0]])
    pt, ps = torch.softmax(teacher, -1), torch.softmax(student, -1)
    assert kl_teacher_student(student, teacher).item() == pytest.approx(float((pt * (pt / ps).log()).sum()), rel=1e-5)
    assert kl_teacher_student(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_sparsity_penalties_and_ramp():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert sparsity(w, "l1").item() == pytest.approx((3 + 3) / 2)
    assert sparsity(w, "flops").item() == pytest.approx(2.0 ** 2 + 0 + 1.0 ** 2)
    assert [ramp(s, 4) for s in (0, 2, 4, 8)] == [0.0, 0.25, 1.0, 1.0]


def test_settings_refuse_an_unknown_regularizer(tmp_path):
    with pytest.raises(ValueError, match="l1, flops"):
        DistillSettings(student="x", train=tmp_path, out=tmp_path, regularizer="l2")


def settings(root, out, steps, **kw):
    return DistillSettings(student=str(root / "student"), train=root / "train.jsonl", out=out, dev=root / "dev",
                           steps=steps, batch_size=2, negatives=2, adapter_layers=[1], rank=2, alpha=4.0,
                           lambda_q=1e-2, lambda_d=1e-3, reg_warmup=2, dev_settings=["de-en", "en-en"],
                           validate_every=2, save_every=2, threads=1, train_head=True, **kw)


def test_train_resume_export_and_rebuild(parts, tmp_path):
    straight = DistillTrainer(settings(parts, tmp_path / "a", 4))
    echo_before = straight.model.echo.weight.detach().clone()
    result = straight.train()
    log = [json.loads(l) for l in (tmp_path / "a" / "train-log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "ndcg@10_mean" in r]
    assert [r["step"] for r in validations] == [0, 2, 4]
    assert {"ndcg@10_de-en", "recall@100_en-en", "dev_query_terms", "dev_passage_terms"} <= set(validations[-1])
    assert result["best"]["step"] in (0, 2, 4)

    first = DistillTrainer(settings(parts, tmp_path / "b", 4))
    first.s.steps = 2  # as if killed after the checkpoint at step 2
    first.train()
    resumed = DistillTrainer(settings(parts, tmp_path / "b", 4))
    resumed.train(resume=True)
    delta_a = safe_open(str(tmp_path / "a" / "delta.safetensors"), "pt")
    assert set(delta_a.keys()) >= {"echo.weight", "echo.bias", "scale", "projector.weight",
                                   "mlm_head.predictions.transform.dense.weight", "mlm_head.predictions.bias"}
    assert delta_a.metadata()["stage"] == "distill"
    assert_same_delta(tmp_path / "a" / "delta.safetensors", tmp_path / "b" / "delta.safetensors")

    # the student + the delta = the trainer's merged model, bit for bit; the echo head moved
    assert_rebuilds(parts / "student", tmp_path / "a" / "delta.safetensors", result["model"])
    if result["best"]["step"]:
        assert not torch.equal(load_checkpoint(result["model"])[0].echo.weight, echo_before)


def test_training_lowers_the_kl_on_its_own_groups(parts, tmp_path):
    trainer = DistillTrainer(settings(parts, tmp_path, 40, lr=3e-3, echo_lr=1e-2))
    trainer.s.reg_warmup, trainer.s.lambda_q, trainer.s.lambda_d = 0, 0.0, 0.0
    groups = [trainer.groups[i] for i in range(4)]
    with torch.no_grad():
        before = trainer.loss(groups, 0)[1]["kl"]
    trainer.devset = None
    trainer.train()
    trainer.model.train()
    with torch.no_grad():
        after = trainer.loss(groups, 0)[1]["kl"]
    assert after < before * 0.7


def test_command_line_reaches_the_trainer(parts, tmp_path, capsys):
    from pyserini_milco.train.__main__ import main

    main(["distill", "--student", str(parts / "student"), "--train", str(parts / "train.jsonl"), "--out", str(tmp_path),
          "--dev", str(parts / "dev"), "--dev-settings", "de-en", "--steps", "2", "--batch-size", "2", "--negatives", "2",
          "--adapter-layers", "1", "--rank", "2", "--regularizer", "flops", "--lambda-q", "0.1",
          "--select-max-query-terms", "1000", "--validate-every", "1", "--threads", "1"])
    assert '"delta"' in capsys.readouterr().out
    state = torch.load(tmp_path / "trainer-state.pt", map_location="cpu", weights_only=False)
    assert state["settings"]["regularizer"] == "flops" and state["settings"]["adapter_layers"] == [1]
    assert state["settings"]["select_max_query_terms"] == 1000 and not state["settings"]["regularize_source"]
    assert (tmp_path / "delta.safetensors").is_file() and (tmp_path / "model" / "config.json").is_file()
