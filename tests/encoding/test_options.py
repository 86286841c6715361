"""Encoding options: read from the PYSERINI_MILCO_* variables, checked, and carried to the stock CLIs unchanged."""
import pytest
import torch

from pyserini_milco.encoding.options import EncodingOptions
from pyserini_milco.encoding.pruning import PruneSpec


def test_options_from_environment():
    options = EncodingOptions.from_env({"PYSERINI_MILCO_SCALE": "50", "PYSERINI_MILCO_PRUNE": "mass:0.9:pivot",
                                        "PYSERINI_MILCO_SOURCE_VIEW": "off"})
    assert options.scale == 50 and options.prune.method == "mass" and not options.source_view
    assert options.precision == "auto" and options.dtype is None
    with pytest.raises(ValueError, match="use on or off"):
        EncodingOptions.from_env({"PYSERINI_MILCO_LOWERCASE": "maybe"})
    assert EncodingOptions.from_env({"PYSERINI_MILCO_PRECISION": "bf16"}).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="PYSERINI_MILCO_PRECISION='fp16': use one of auto, fp32, bf16"):
        EncodingOptions.from_env({"PYSERINI_MILCO_PRECISION": "fp16"})
    with pytest.raises(ValueError, match="precision 'fp16': use one of auto, fp32, bf16"):
        EncodingOptions(precision="fp16")


def test_options_travel_to_the_stock_cli_unchanged():
    from pyserini_milco.cli.options import options_to_env

    options = EncodingOptions(scale=50.0, prune=PruneSpec.parse("topk:7:source"), source_view=False, lowercase=True,
                              precision="bf16", query_prune=PruneSpec.parse("mass:0.9:pivot"))
    assert EncodingOptions.from_env(options_to_env(options)) == options
    unpruned = EncodingOptions(query_prune=None)
    assert EncodingOptions.from_env(options_to_env(unpruned)) == unpruned
