"""CI runs the CI-sized XQuAD-R regression for real: prepare → encode → index → search → trec_eval,
compared with the values recorded in regressions/xquad-r-ci.yaml (milco-mini, BM25, e5-small and the
milco-mini + e5-small hybrid).

The three tests share one work and corpus folder, as a user running the conditions one after the
other would: the corpus is prepared once, and the hybrid finds milco-mini's index where the
milco-mini condition wrote it (each test still runs alone: a step whose output is missing runs)."""
import pytest

from conftest import REPO
from pyserini_milco.regression.__main__ import main

CONFIG = REPO / "regressions" / "xquad-r-ci.yaml"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("regression-ci")


def common_args(shared) -> list[str]:
    return ["--config", str(CONFIG), "--work-dir", str(shared / "work"), "--corpus-dir", str(shared / "corpora")]


@pytest.mark.parametrize("model", ["bm25", "milco-mini"])
def test_xquadr_ci_regression_reproduces(model, shared):
    report = shared / f"report-{model}"
    assert main([*common_args(shared), "--condition", model, "--generate-report", str(report)]) == 0
    assert report.with_suffix(".md").is_file() and report.with_suffix(".html").is_file()


def test_xquadr_ci_dense_and_hybrid_reproduce(shared):
    """multilingual-e5-small through the stock FAISS commands, then milco-mini + e5-small through
    ``pyserini.search.hybrid`` (it reuses the e5 index, and milco-mini's). The hybrid runs for the
    German questions only: it encodes every query with both models, the slowest search of the file."""
    common = common_args(shared)
    assert main([*common, "--condition", "e5-small"]) == 0
    assert main([*common, "--condition", "milco-mini-e5-hybrid", "--language", "de",
                 "--generate-report", str(shared / "report-dense")]) == 0
    report = (shared / "report-dense.md").read_text()
    assert "| multilingual-e5-small (dense, FAISS) | recorded | 0.7698 | 0.8072 |" in report
    assert "|  | measured here | 0.7698 ✔ | 0.8072 ✔ |" in report  # e5-small's nDCG@10, both languages
    assert "|  | measured here | 0.7890 ✔ | – |" in report  # the hybrid's, German only
