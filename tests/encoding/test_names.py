"""Checkpoint names: a folder, ``milco``/hub ids through the Hugging Face cache, and clear errors offline."""
import os
import shutil
import subprocess
import sys

import pytest

from pyserini_milco.encoding.names import load_checkpoint
from pyserini_milco.modeling.checkpoint import CheckpointError
from tiny import write_official_layout


def test_missing_local_folder():
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_checkpoint("./does-not-exist")


OFFLINE_SCRIPT = """
import sys
from pyserini_milco.modeling.checkpoint import CheckpointError
from pyserini_milco.encoding.names import load_checkpoint
try:
    load_checkpoint(sys.argv[1])
except CheckpointError as err:
    print("ERROR:", err)
else:
    print("LOADED")
"""


def _run_offline(name, cache):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, name], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_released_model_offline_says_how_to_use_a_folder(tmp_path):
    out = _run_offline("milco", tmp_path)
    assert "ERROR:" in out and "huggingface-cli download omai-research/milco-650m" in out and "milco-mini" in out


def test_hub_id_resolves_through_the_cache(tmp_path):
    """A release folder in the Hugging Face cache loads offline by its hub id."""
    source = tmp_path / "src"
    write_official_layout(source)
    snapshot = tmp_path / "cache" / "models--omai-research--milco-tiny" / "snapshots" / "0123abc"
    shutil.copytree(source, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    assert "LOADED" in _run_offline("omai-research/milco-tiny", tmp_path / "cache")
