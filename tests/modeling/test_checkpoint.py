"""Loading the release layout and our own saves; every broken checkpoint gives a clear error."""
import json
import shutil

import pytest
import torch

from pyserini_milco.encoding.encoder import MilcoEncoder
from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.modeling.checkpoint import CheckpointError
from tiny import EN_TOKENS, TEXTS, write_official_layout


def vectors_of(encoder):
    return encoder.encode(TEXTS, batch_size=4)


def reference_encoder(model, folder):
    from transformers import AutoTokenizer

    return MilcoEncoder(model, AutoTokenizer.from_pretrained(str(folder)), EN_TOKENS, device="cpu")


def test_official_layout_loads_to_identical_vectors(official_checkpoint):
    folder, model = official_checkpoint
    loaded = MilcoEncoder.from_pretrained(folder, device="cpu")
    assert vectors_of(loaded) == vectors_of(reference_encoder(model, folder))


def test_official_layout_with_safetensors(tmp_path):
    folder = tmp_path / "st"
    model = write_official_layout(folder, weights="model.safetensors")
    assert vectors_of(MilcoEncoder.from_pretrained(folder, device="cpu")) == vectors_of(reference_encoder(model, folder))


def test_save_load_round_trip_is_self_contained(tmp_path):
    source = tmp_path / "release"
    write_official_layout(source)
    encoder = MilcoEncoder.from_pretrained(source, device="cpu")
    saved = encoder.save_pretrained(tmp_path / "saved")
    shutil.rmtree(source)
    shutil.rmtree(tmp_path / "release-backbone-by-id")  # the id in config.json no longer resolves
    config = json.loads((saved / "config.json").read_text())
    assert config["model_type"] == "milco" and config["backbone_config"]["model_type"] == "xlm-roberta"
    reloaded = MilcoEncoder.from_pretrained(saved, device="cpu")
    assert vectors_of(reloaded) == vectors_of(encoder)


def test_pivot_only_checkpoint_loads(tmp_path):
    folder = tmp_path / "pivot"
    write_official_layout(folder, echo=False)
    encoder = MilcoEncoder.from_pretrained(folder, device="cpu")
    assert not encoder.source_view
    assert all(t.startswith("e_") for t in encoder.encode(TEXTS[0]))


def _broken(tmp_path, mutate):
    folder = tmp_path / "broken"
    write_official_layout(folder)
    state = torch.load(folder / "pytorch_model.bin")
    mutate(state, folder)
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_missing_key_is_named(tmp_path):
    folder = _broken(tmp_path, lambda s, f: s.pop("projector.weight"))
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: .*missing keys \[projector.weight\]"):
        load_checkpoint(folder)


def test_unexpected_key_is_named(tmp_path):
    folder = _broken(tmp_path, lambda s, f: s.__setitem__("extra.weight", torch.zeros(2)))
    with pytest.raises(CheckpointError, match=r"unexpected keys \[extra.weight\]"):
        load_checkpoint(folder)


def test_wrong_shape_is_named(tmp_path):
    folder = _broken(tmp_path, lambda s, f: s.__setitem__("echo.weight", torch.zeros(1, 31)))
    with pytest.raises(CheckpointError, match=r"wrong shapes \[echo.weight: file \(1, 31\) vs model \(1, 32\)\]"):
        load_checkpoint(folder)


def test_missing_echo_suggests_pivot_only(tmp_path):
    def drop_echo(state, folder):
        for key in ("echo.weight", "echo.bias", "scale"):
            state.pop(key)
    folder = _broken(tmp_path, drop_echo)
    with pytest.raises(CheckpointError, match='set "echo": false'):
        load_checkpoint(folder)


def test_missing_weights_and_config(tmp_path):
    folder = tmp_path / "empty"
    write_official_layout(folder)
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="no weights file; expected one of model.safetensors, pytorch_model.bin"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config.json: missing"):
        load_checkpoint(folder)


def test_not_a_milco_config(tmp_path):
    folder = tmp_path / "bert"
    write_official_layout(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="model_type is 'bert', expected 'milco'"):
        load_checkpoint(folder)


def test_missing_tokenizer_is_explained(tmp_path):
    folder = tmp_path / "notok"
    write_official_layout(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink(missing_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config["multilingual_encoder_checkpoint"] = str(tmp_path / "nowhere")
    config["backbone_config"] = json.loads((tmp_path / "notok-backbone-by-id" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no multilingual tokenizer in the folder"):
        load_checkpoint(folder)
