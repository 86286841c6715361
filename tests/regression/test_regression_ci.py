"""CI runs the CI-sized XQuAD-R regression for real: prepare → encode → index → search → trec_eval,
compared with the values recorded in regressions/xquad-r-ci.yaml (milco-mini, BM25, e5-small and the
milco-mini + e5-small hybrid)."""
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


def test_xquadr_ci_dense_and_hybrid_reproduce(tmp_path_factory):
    """multilingual-e5-small through the stock FAISS commands, then milco-mini + e5-small through
    ``pyserini.search.hybrid`` in the same work folder (it reuses the e5 index). The hybrid runs for the
    German questions only: it encodes every query with both models, the slowest search of the file."""
    work = tmp_path_factory.mktemp("regression-dense")
    common = ["--config", str(CONFIG), "--work-dir", str(work / "work"), "--corpus-dir", str(work / "corpora")]
    assert main([*common, "--condition", "e5-small"]) == 0
    assert main([*common, "--condition", "milco-mini-e5-hybrid", "--language", "de",
                 "--generate-report", str(work / "report")]) == 0
    report = (work / "report.md").read_text()
    assert "| multilingual-e5-small (dense, FAISS) | recorded | 0.7573 | 0.7944 |" in report
    assert "|  | measured here | 0.7573 ✔ | 0.7944 ✔ |" in report  # e5-small's nDCG@10, both languages
    assert "|  | measured here | 0.7703 ✔ | – |" in report  # the hybrid's, German only
