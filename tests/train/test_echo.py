"""Stage 2 for LexEcho alone: the frozen cache against the encoder, the source vectors, and the
trainer end to end (uniform start, lower KL, resume bit for bit, echo-only delta, rebuild) on a
tiny release-layout student."""
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from pyserini_milco.encoding.encoder import MilcoEncoder
from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.encoding.terms import SparseVector
from pyserini_milco.train.echo import (UNIFORM_SCALE, EchoSettings, EchoTrainer, FrozenText, candidate_pivot_rows,
                                       freeze_texts, pivot_rows, pivot_vector, recomputed_pivot_vectors, source_vector)
from tiny import TEXTS

from .conftest import assert_rebuilds, assert_same_delta


def settings(root, out, steps, **kw):
    return EchoSettings(student=str(root / "student"), train=root / "train.jsonl", out=out, dev=root / "dev",
                        steps=steps, batch_size=4, negatives=2, warmup=1, dev_settings=["de-en", "en-en"],
                        validate_every=2, save_every=2, threads=1, **kw)


def test_source_vector_sums_repeated_pieces_and_offsets_ids():
    text = FrozenText(torch.tensor([5, 7, 5, 9]), torch.zeros(4, 2), None)
    vector = source_vector(text, torch.tensor([0.5, 0.25, 1.0, 0.0]), pivot_size=100)
    assert vector.indices.tolist() == [105, 107]  # id 9 weighs 0: no term
    assert vector.values.tolist() == [1.5, 0.25]


def test_frozen_pivot_and_states_are_the_encoders(parts):
    model, tokenizer, en_tokens, _ = load_checkpoint(parts / "student")
    cache = freeze_texts(model.eval(), tokenizer, TEXTS[:4], 64, "freeze", batch_size=3)
    encoder = MilcoEncoder(model, tokenizer, en_tokens)
    pivot_size = encoder.pivot_size
    for text, vector in zip(TEXTS[:4], encoder.encode_vectors(TEXTS[:4], max_length=64)):
        pivot, _ = vector.split(pivot_size)
        cached = pivot_vector(cache[text], model.mlm_head.predictions.bias)
        assert cached.indices.tolist() == pivot.indices.tolist()
        np.testing.assert_allclose(cached.values, pivot.values, rtol=1e-5)
        assert cache[text].ids.tolist() == tokenizer(text)["input_ids"]
        assert cache[text].states.shape == (len(cache[text].ids), model.config.m_hidden_size)


def test_train_resume_export_and_rebuild(parts, tmp_path):
    straight = EchoTrainer(settings(parts, tmp_path / "a", 4))
    assert straight.model.scale.item() == UNIFORM_SCALE
    _, weights = straight.echo_weights([straight.queries[straight.groups[0].query]])
    assert torch.all(weights == UNIFORM_SCALE)  # every token starts alive and equal
    result = straight.train()
    log = [json.loads(line) for line in (tmp_path / "a" / "train-log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "ndcg@10_mean" in r]
    assert [r["step"] for r in validations] == [0, 2, 4]
    assert {"ndcg@10_de-en", "recall@100_en-en", "pivot_ndcg@10_mean"} <= set(validations[-1])

    first = EchoTrainer(settings(parts, tmp_path / "b", 4))
    first.s.steps = 2  # as if killed after the checkpoint at step 2
    first.train()
    EchoTrainer(settings(parts, tmp_path / "b", 4)).train(resume=True)
    delta_a = safe_open(str(tmp_path / "a" / "delta.safetensors"), "pt")
    assert set(delta_a.keys()) == {"echo.weight", "echo.bias", "scale"}  # nothing else moved
    assert delta_a.metadata()["stage"] == "echo"
    assert_same_delta(tmp_path / "a" / "delta.safetensors", tmp_path / "b" / "delta.safetensors")

    assert_rebuilds(parts / "student", tmp_path / "a" / "delta.safetensors", result["model"])


def test_training_lowers_the_kl_on_its_own_groups(parts, tmp_path):
    trainer = EchoTrainer(settings(parts, tmp_path, 60, lr=3e-2))
    trainer.devset = None
    batch = list(range(len(trainer.groups)))
    with torch.no_grad():
        before = trainer.loss(batch)[1]["kl"]
    trainer.train()
    with torch.no_grad():
        after = trainer.loss(batch)[1]["kl"]
    assert after < before * 0.7


def test_command_line_reaches_the_trainer(parts, tmp_path, capsys):
    from pyserini_milco.train.__main__ import main

    main(["echo", "--student", str(parts / "student"), "--train", str(parts / "train.jsonl"), "--out", str(tmp_path),
          "--dev", str(parts / "dev"), "--dev-settings", "de-en", "--dev-query-prune", "none", "--steps", "2",
          "--batch-size", "2", "--negatives", "2", "--init", "keep", "--validate-every", "1", "--threads", "1"])
    assert f'"delta": "{tmp_path / "delta.safetensors"}"' in capsys.readouterr().out
    assert (tmp_path / "delta.safetensors").is_file()


def test_pivot_rows_apply_the_bias_to_cached_logits():
    text = FrozenText(torch.tensor([0]), torch.zeros(1, 2), SparseVector(np.array([1, 3]), np.array([0.5, -0.2], dtype=np.float32)))
    bias = torch.tensor([0.0, 1.0, 0.0, 0.1], requires_grad=True)
    rows = pivot_rows([text], bias)
    assert rows[0].tolist() == pytest.approx([0.0, float(np.log1p(1.5)), 0.0, 0.0])  # -0.2 + 0.1 < 0: no term
    vector = pivot_vector(text, bias)
    assert vector.indices.tolist() == [1] and vector.values.tolist() == pytest.approx([float(np.log1p(1.5))])
    rows.sum().backward()
    assert bias.grad.tolist() == pytest.approx([0.0, 1 / 2.5, 0.0, 0.0])


def test_bias_training_with_a_pivot_l1_cuts_terms_and_exports_the_bias(parts, tmp_path):
    trainer = EchoTrainer(settings(parts, tmp_path, 30, train_bias=True, bias_lr=0.2, pivot_l1_q=1.0, pivot_l1_d=1.0))
    ceiling = trainer.bias_ceiling.clone()
    result = trainer.train()
    log = [json.loads(line) for line in (tmp_path / "train-log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "dev_passage_terms" in r]
    assert validations[-1]["dev_passage_terms"] < validations[0]["dev_passage_terms"]
    assert torch.all(trainer.bias <= ceiling)
    delta = safe_open(str(tmp_path / "delta.safetensors"), "pt")
    assert "mlm_head.predictions.bias" in delta.keys() and delta.metadata()["stage"] == "echo+bias"
    merged, *_ = load_checkpoint(result["model"])
    assert torch.equal(merged.mlm_head.predictions.bias, delta.get_tensor("mlm_head.predictions.bias"))


def test_mass_floor_is_zero_at_the_start_and_counts_the_mass_lost(parts, tmp_path):
    trainer = EchoTrainer(settings(parts, tmp_path, 2, train_bias=True, mass_floor=1.0))
    batch = list(range(4))
    queries, _ = trainer.batch_texts(batch)
    rows = trainer.pivot_rows(queries)
    assert trainer.mass_shortfall(queries, rows).max().item() == pytest.approx(0.0, abs=1e-6)
    assert trainer.loss(batch)[1]["mass_shortfall"] == pytest.approx(0.0, abs=1e-6)
    halved = trainer.mass_shortfall(queries, rows / 2)
    torch.testing.assert_close(halved, torch.full_like(halved, 0.5))
    assert trainer.mass_shortfall(queries, rows * 2).max().item() == 0.0  # a floor: more mass costs nothing
    with torch.no_grad():
        trainer.bias -= 1.0  # thinner vectors: the loss grows by their shortfall
    loss, terms = trainer.loss(batch)
    assert terms["mass_shortfall"] > 0.1
    loss.backward()
    assert trainer.bias.grad.abs().sum() > 0


def test_candidate_rows_are_the_full_pivot_view_and_carry_gradients(parts):
    model, tokenizer, _, _ = load_checkpoint(parts / "student")
    model.eval()
    cache = freeze_texts(model, tokenizer, TEXTS[:5], 64, "freeze", margin=1e9)  # every term is a candidate
    texts = [cache[t] for t in TEXTS[:5]]
    rows = candidate_pivot_rows(model.requires_grad_(True), texts, tokenizer.pad_token_id, chunk=2)
    for row, vector in zip(rows, recomputed_pivot_vectors(model, texts, batch_size=2)):
        kept = row.nonzero().squeeze(1)
        assert kept.tolist() == vector.indices.tolist()
        np.testing.assert_allclose(row[kept].detach().numpy(), vector.values, rtol=1e-5, atol=1e-6)
    for text, vector in zip(texts, recomputed_pivot_vectors(model, texts)):  # and the frozen logits agree
        cached = pivot_vector(text, model.mlm_head.predictions.bias)
        assert cached.indices.tolist() == vector.indices.tolist()
    rows.sum().backward()
    assert model.projector.weight.grad.abs().sum() > 0
    assert model.mlm_head.predictions.transform.dense.weight.grad.abs().sum() > 0
    assert model.mlm_head.predictions.decoder.weight.grad.abs().sum() > 0  # flows, though train echo never steps it


def test_connector_training_resumes_exports_and_rebuilds(parts, tmp_path):
    extra = dict(train_bias=True, train_connector=True, connector_lr=1e-2, pivot_l1_q=1e-2, pivot_l1_d=1e-2,
                 train_multiplier=False, logit_margin=3.0)
    straight = EchoTrainer(settings(parts, tmp_path / "a", 4, **extra))
    multiplier = straight.log_multiplier.item()
    before = straight.model.projector.weight.detach().clone()
    result = straight.train()
    assert straight.log_multiplier.item() == multiplier  # frozen: matched to the teacher once, at the start
    last = torch.load(tmp_path / "a" / "trainer-state.pt", weights_only=False)["trainable"]
    assert not torch.equal(last["projector.weight"], before)  # the connector trained (the best step is exported)
    first = EchoTrainer(settings(parts, tmp_path / "b", 4, **extra))
    first.s.steps = 2
    first.train()
    EchoTrainer(settings(parts, tmp_path / "b", 4, **extra)).train(resume=True)
    delta = safe_open(str(tmp_path / "a" / "delta.safetensors"), "pt")
    assert delta.metadata()["stage"] == "echo+bias+connector"
    assert {"projector.weight", "projector.bias", "mlm_head.predictions.transform.dense.weight",
            "mlm_head.predictions.transform.LayerNorm.bias", "mlm_head.predictions.bias"} <= set(delta.keys())
    assert not any(key.startswith(("m_model.", "mlm_head.predictions.decoder")) for key in delta.keys())
    assert_same_delta(tmp_path / "a" / "delta.safetensors", tmp_path / "b" / "delta.safetensors")
    assert_rebuilds(parts / "student", tmp_path / "a" / "delta.safetensors", result["model"])
