"""Every BGE-M3 mode, and MILCO + BGE-M3 dense, run end to end through the commands that
``regressions/mkqa.yaml`` renders (stock ``pyserini.encode`` / ``index.faiss`` / ``search.faiss`` /
``index.lucene`` / ``search.lucene --impact`` / ``search.hybrid``, our fusion and rerank commands),
on a tiny random BGE-M3 written in the release layout; the scores in the runs are checked against
:class:`conftest.Reference`, an independent re-implementation. One condition (dense) also runs its
answer judgments and ``trec_eval`` (the same two commands end every condition's pipeline).

Each rendered command runs as ``python -m MODULE ARGS`` would, but in this process (its environment
and ``sys.argv`` set, ``runpy``): a fresh interpreter, torch and JVM per step would cost minutes. The
runner's own subprocess execution is what the XQuAD-R CI regression exercises."""
from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
import warnings
from unittest import mock

import pytest

from conftest import REPO
from pyserini_milco.evaluation.metrics import read_run
from pyserini_milco.regression import runner
from pyserini_milco.regression.config import load_config

from .conftest import DOCS, QUERIES

LANG = "ar"
SCORED = "bge-m3-dense"
MODELS = ["bge-m3-dense", "bge-m3-sparse", "bge-m3-dense-sparse", "bge-m3-multivec", "bge-m3-all",
          "milco-bge-m3-dense-hybrid"]
ANSWERS = {"q1": ["Paris"], "q2": ["Paris"], "q3": ["energy"], "q4": ["巴黎"]}


def write_mkqa(folder) -> None:
    """What ``regression.prepare mkqa`` writes: corpus/docs.jsonl, topics/LANG.tsv, answers/LANG.jsonl."""
    for part in ("corpus", "topics", "answers"):
        (folder / part).mkdir(parents=True)
    with open(folder / "corpus" / "docs.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"id": d, "title": "", "text": t}, ensure_ascii=False) + "\n" for d, t in DOCS.items())
    (folder / "topics" / f"{LANG}.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()), encoding="utf-8")
    with open(folder / "answers" / f"{LANG}.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"id": q, "answers": a}, ensure_ascii=False) + "\n" for q, a in ANSWERS.items())


def run_in_process(step: runner.RenderedStep) -> None:
    """``step`` as the runner runs it (skipped when its output exists, its output into its log), in-process."""
    if step.creates is not None and step.creates.exists():
        return
    for folder in (step.log.parent, *((step.creates.parent,) if step.creates else ())):
        folder.mkdir(parents=True, exist_ok=True)
    with open(step.log, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            mock.patch.dict(os.environ, step.env), mock.patch.object(sys, "argv", [step.module, *step.args]):
        try:
            with warnings.catch_warnings():  # our commands' modules are already imported here; harmless
                warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
                runpy.run_module(step.module, run_name="__main__", alter_sys=True)
        except SystemExit as done:
            assert not done.code, f"{step.command} exited with {done.code}"
    assert step.creates is None or step.creates.exists(), step.command


@pytest.fixture(scope="module")
def ran(tmp_path_factory, bge_m3_folder, official_checkpoint):
    """The six conditions of mkqa.yaml run for one language in one work folder (shared steps run once)."""
    root = tmp_path_factory.mktemp("mkqa")
    write_mkqa(root / "corpora" / "mkqa")
    config = load_config(REPO / "regressions" / "mkqa.yaml")
    where = runner.Locations(work_dir=root / "work", corpus_dir=root / "corpora", topics_dir=root / "topics")
    overrides = {"bge_m3": str(bge_m3_folder), "bge_m3_dim": "32", "milco": str(official_checkpoint[0]),
                 "threads": "1", "max_length": "64", "batch_size": "4"}
    chosen = runner.conditions(config, MODELS, [LANG])
    for condition in chosen:
        for step in runner.render(condition, where, overrides):
            if step.name not in ("judge", "eval") or condition.model.name == SCORED:
                run_in_process(step)
    runs = {c.model.name: read_run(runner.variables(c, where, overrides)["run"]) for c in chosen}
    return runner.measured_scores(chosen[0], where, overrides), runs


def test_every_condition_runs(ran):
    scores, runs = ran
    assert set(scores) == {"R@100", "nDCG@10"}
    # every document is retrieved; DPR's answer match finds Paris and energy, not 巴黎 inside an unsegmented sentence
    assert scores["R@100"] == pytest.approx(0.75)
    assert all(set(runs[m]) == set(QUERIES) for m in MODELS)


def test_dense_is_faiss_inner_product_of_cls_vectors(ran, reference):
    run = ran[1]["bge-m3-dense"]
    for qid, query in QUERIES.items():
        expected = {d: reference.scores(query, text)["dense"] for d, text in DOCS.items()}
        assert set(run[qid]) == set(DOCS)  # 1000 hits: every document, ranked by the inner product
        assert run[qid] == pytest.approx(expected, abs=1e-5)


def quantized_lexical(reference, query: str, passage: str) -> int:
    """Lucene's impact score: sum over shared token ids of round(100 w_q) * round(100 w_p)."""
    q, p = reference.lexical(query), reference.lexical(passage)
    return sum(round(100 * w) * round(100 * p[t]) for t, w in q.items() if t in p)


def test_sparse_is_lucene_impact_score_of_lexical_weights(ran, reference):
    run = ran[1]["bge-m3-sparse"]
    for qid, query in QUERIES.items():
        expected = {d: quantized_lexical(reference, query, t) for d, t in DOCS.items()}
        assert run[qid] == {d: s for d, s in expected.items() if s > 0}
        for docid, score in run[qid].items():  # 10^4 x BGE-M3's lexical score, up to rounding
            assert score / 1e4 == pytest.approx(reference.scores(query, DOCS[docid])["sparse"], abs=0.02)


def test_dense_sparse_is_the_authors_weighted_sum(ran):
    runs = ran[1]
    dense, sparse, fused = runs["bge-m3-dense"], runs["bge-m3-sparse"], runs["bge-m3-dense-sparse"]
    for qid in QUERIES:
        expected = {d: dense[qid].get(d, 0.0) + 0.3e-4 * sparse[qid].get(d, 0.0) for d in set(dense[qid]) | set(sparse[qid])}
        assert fused[qid] == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize("model, weights", [("bge-m3-multivec", (0, 0, 1)), ("bge-m3-all", (1, 0.3, 1))])
def test_reranks_score_the_dense_top_100_by_the_definitions(ran, reference, model, weights):
    run = ran[1][model]
    for qid, query in QUERIES.items():
        expected = {}
        for docid, text in DOCS.items():  # all 10 documents are in the dense top 100
            scores = reference.scores(query, text)
            expected[docid] = weights[0] * scores["dense"] + weights[1] * scores["sparse"] + weights[2] * scores["colbert"]
        assert run[qid] == pytest.approx(expected, abs=1e-4)


def test_milco_hybrid_fuses_both_lists(ran):
    runs = ran[1]
    hybrid = runs["milco-bge-m3-dense-hybrid"]
    for qid in QUERIES:
        assert set(hybrid[qid]) == set(runs["bge-m3-dense"][qid])  # every document is in the dense list
        # two min-max normalised scores, each in [-0.5, 0.5]; Pyserini normalises float32 dense scores,
        # whose rounding (relative 1e-7, over a tiny model's score range of ~2e-3) may pass the bound by 1e-4
        assert all(-1.0 - 1e-4 <= s <= 1.0 + 1e-4 for s in hybrid[qid].values())
