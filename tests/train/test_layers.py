"""Stage 2 through the upper layers: the cached lower layers plus the lifted upper ones give the
encoder's states and pivot view; training lowers the KL; a resumed run ends bit for bit where a
straight one does; the delta (upper layers included) rebuilds the merged model; the development
set pools its variants."""
import json

import pytest
import torch
from safetensors import safe_open

from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.evaluation.metrics import evaluate, read_qrels, read_run
from pyserini_milco.train.echo import freeze_texts
from pyserini_milco.train.layers import LayerSettings, LayerTrainer, freeze_lower, lift, pooled, upper_layer_names
from tiny import TEXTS

from .conftest import assert_rebuilds, assert_same_delta


def settings(root, out, steps, **kw):
    return LayerSettings(student=str(root / "student"), train=root / "train.jsonl", out=out, dev=root / "dev",
                         steps=steps, batch_size=4, negatives=2, warmup=1, dev_settings=["de-en", "en-en"],
                         validate_every=2, save_every=2, threads=1, upper_layers=1, dev_teacher=False,
                         cache_dtype="float32", **kw)


@pytest.mark.parametrize("upper", [1, 2])
def test_lifted_lower_cache_is_the_encoders_forward(parts, upper):
    model, tokenizer, _, _ = load_checkpoint(parts / "student")
    model.eval()
    first, _ = upper_layer_names(model, upper)
    lower = freeze_lower(model, tokenizer, TEXTS, 64, first, "lower", margin=1.0, dtype=torch.float32, batch_size=3)
    whole = freeze_texts(model, tokenizer, TEXTS, 64, "whole", margin=1.0)
    lifted = lift(model, [lower[t] for t in TEXTS], range(first, len(model.m_model.encoder.layer)))
    for text, live in zip(TEXTS, lifted):
        assert torch.equal(live.ids, whole[text].ids)
        torch.testing.assert_close(live.states, whole[text].states.float(), rtol=0, atol=2e-3)  # whole's are float16
        batch = live.ids[None].clone()
        with torch.no_grad():
            padded = model.hidden_states(batch, torch.ones_like(batch))[0]
        torch.testing.assert_close(live.states, padded, rtol=1e-4, atol=1e-5)
        assert live.logits.indices.tolist() == whole[text].logits.indices.tolist()


def test_upper_layers_must_exist(parts):
    model, *_ = load_checkpoint(parts / "student")
    with pytest.raises(ValueError, match="layers"):
        upper_layer_names(model, 3)


def test_pooled_weights_by_queries():
    assert pooled([{"a": 0.2}, {"a": 0.5}], [60, 30]) == {"a": 0.3}


def test_train_resume_export_and_rebuild(parts, tmp_path):
    straight = LayerTrainer(settings(parts, tmp_path / "a", 4, dev_variants=[parts / "dev"]))
    result = straight.train()
    log = [json.loads(line) for line in (tmp_path / "a" / "train-log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "ndcg@10_mean" in r]
    assert [r["step"] for r in validations] == [0, 2, 4]
    assert {"echo_live_tokens", "first_variant_ndcg@10_mean", "pivot_ndcg@10_mean", "candidate_miss"} <= set(validations[-1])
    assert validations[0]["candidate_miss"] == 0  # the candidates are the start model's live terms and more

    first = LayerTrainer(settings(parts, tmp_path / "b", 4, dev_variants=[parts / "dev"]))
    first.s.steps = 2  # as if killed after the checkpoint at step 2
    first.train()
    again = LayerTrainer(settings(parts, tmp_path / "b", 4, dev_variants=[parts / "dev"]))
    again.train(resume=True)
    assert_same_delta(tmp_path / "a" / "delta.safetensors", tmp_path / "b" / "delta.safetensors")
    delta = safe_open(str(tmp_path / "a" / "delta.safetensors"), "pt")
    assert "m_model.encoder.layer.1.output.dense.weight" in delta.keys()
    assert not any(key.startswith("m_model.encoder.layer.0.") for key in delta.keys())  # the lower layer stays
    assert_rebuilds(parts / "student", tmp_path / "a" / "delta.safetensors", result["model"])
    for out in (tmp_path / "a", tmp_path / "b"):  # the start's runs (step 0) against the export's, resumed or not
        assert (out / "dev-runs" / "start" / "run.txt").is_file() and (out / "dev-runs" / "best" / "run.txt").is_file()
        table = (out / "dev-compare.md").read_text()
        assert "items better / worse" in table and "dev-runs/best/run.txt" in table
    assert result["dev_compare"] == (tmp_path / "a" / "dev-compare.md").read_text().strip()


def test_training_moves_the_upper_layers_and_lowers_the_kl(parts, tmp_path):
    trainer = LayerTrainer(settings(parts, tmp_path, 60, lr=3e-2, layer_lr=1e-3, connector_lr=1e-3))
    trainer.devset, trainer.devsets = None, []
    start = trainer.model.m_model.encoder.layer[1].output.dense.weight.detach().clone()
    batch = list(range(len(trainer.groups)))
    with torch.no_grad():
        before = trainer.loss(batch)[1]["kl"]
    trainer.train()
    with torch.no_grad():
        trainer._live = None
        after = trainer.loss(batch)[1]["kl"]
    assert after < before * 0.7
    assert not torch.equal(trainer.model.m_model.encoder.layer[1].output.dense.weight, start)
    assert torch.equal(trainer.model.m_model.encoder.layer[0].output.dense.weight,
                       load_checkpoint(parts / "student")[0].m_model.encoder.layer[0].output.dense.weight)


def test_dev_runs_score_as_validation_pools(parts, tmp_path):
    variant = tmp_path / "dev-s1"  # a variant: the same pools, its own query ids, one query fewer
    variant.mkdir()
    for path in (parts / "dev").iterdir():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            (variant / path.name).write_text(text, encoding="utf-8")
        else:
            separator = "\t" if path.suffix == ".tsv" else " "
            lines = [line.split(separator, 1) for line in text.splitlines()[:2]]
            (variant / path.name).write_text("".join(f"{q}-s1{separator}{rest}\n" for q, rest in lines), encoding="utf-8")
    trainer = LayerTrainer(settings(parts, tmp_path / "r", 2, dev_variants=[variant]))
    validation = trainer.validate()
    paths = trainer.write_dev_runs(tmp_path / "runs")
    qrels, run = read_qrels(paths["qrels"]), read_run(paths["run"])
    assert len(qrels) == 2 * (3 + 2)  # two settings x (three queries + the variant's two)
    assert sorted({qid.split(":")[0] for qid in qrels}) == ["de-en", "en-en"]
    assert round(evaluate(qrels, run, ["ndcg_cut.10"])["ndcg_cut_10"], 4) == pytest.approx(validation["ndcg@10_mean"], abs=1e-4)
