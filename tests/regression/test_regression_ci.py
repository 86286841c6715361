"""CI runs the CI-sized XQuAD-R regression for real: prepare → encode → index → search → trec_eval,
compared with the values recorded in regressions/xquad-r-ci.yaml (milco-mini and BM25)."""
import pytest

from conftest import REPO
from pyserini_milco.regression.__main__ import main

CONFIG = REPO / "regressions" / "xquad-r-ci.yaml"


@pytest.mark.parametrize("model", ["bm25", "milco-mini"])
def test_xquadr_ci_regression_reproduces(model, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"regression-{model}")
    status = main(["--config", str(CONFIG), "--condition", model, "--work-dir", str(work / "work"),
                   "--corpus-dir", str(work / "corpora"), "--generate-report", str(work / "report")])
    assert status == 0
    assert (work / "report.md").is_file() and (work / "report.html").is_file()
