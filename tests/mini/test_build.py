"""milco-mini's build: the shipped deltas, one per stage, name the build and say how to remake them."""
from pathlib import Path

import pytest

from pyserini_milco.mini.build import DELTA_FILES, BuildError, _deltas_digest


def test_shipped_deltas_are_present_and_in_stage_order():
    assert [p.name for p in DELTA_FILES] == ["milco-mini-align.safetensors", "milco-mini-heads.safetensors"]
    assert all(p.is_file() for p in DELTA_FILES)


def test_digest_depends_on_every_delta_and_their_order(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"stage one")
    b.write_bytes(b"stage two")
    assert len({_deltas_digest([a, b]), _deltas_digest([b, a]), _deltas_digest([a])}) == 3


def test_a_missing_delta_names_the_file_and_its_trainer(tmp_path):
    missing = tmp_path / "milco-mini-heads.safetensors"
    with pytest.raises(BuildError, match=r"milco-mini-heads\.safetensors.*python -m pyserini_milco\.train echo"):
        _deltas_digest([missing])


def test_build_cli_names_each_stage(monkeypatch, capsys):
    """``mini build`` applies both deltas, ``--stage1`` only the first, ``--base`` none; the flags exclude each other."""
    import pyserini_milco.mini.__main__ as cli

    built = []
    monkeypatch.setattr(cli, "ensure_mini_model", lambda deltas: built.append(tuple(deltas)) or Path("/cache/m"))
    monkeypatch.setattr(cli, "base_model_folder", lambda: built.append("base") or Path("/cache/base"))
    cli.main(["build"])
    cli.main(["build", "--stage1"])
    cli.main(["build", "--base"])
    assert built == [tuple(DELTA_FILES), tuple(DELTA_FILES[:1]), "base"]
    with pytest.raises(SystemExit):
        cli.main(["build", "--base", "--stage1"])
    assert "/cache/m" in capsys.readouterr().out
