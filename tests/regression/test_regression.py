"""Regression configs, runner, reports and Anserini configs.

Fast (no model, no JVM): every ``regressions/*.yaml`` dry-runs (commands render, every language
has expected values, referenced files exist), configs are validated with clear errors, the runner
executes a stand-in pipeline of tiny ``python -m`` modules, and the generated files are up to date.
``test_xquadr_regression_for_real`` runs the XQuAD-R regression with Pyserini and Java; it takes
minutes, so it runs only with ``PYSERINI_MILCO_REAL_REGRESSION=1``.
"""
from __future__ import annotations

import copy
import json
import os
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from pyserini_milco.regression import anserini, answers, prepare, report, runner
from pyserini_milco.regression.__main__ import main
from pyserini_milco.regression.config import ConfigError, load_config, parse_config
from pyserini_milco.regression.runner import Locations, Verdict

CONFIGS = sorted((REPO / "regressions").glob("*.yaml"))
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(params=CONFIGS, ids=lambda path: path.stem)
def config_path(request) -> Path:
    return request.param


def test_there_are_configs_for_each_benchmark():
    assert {p.stem for p in CONFIGS} >= {"miracl-v1.0-dev", "miracl-v1.0-dev-hardneg", "mkqa", "xquad-r"}


def test_every_config_dry_runs(config_path, tmp_path, capsys):
    """Commands render, expectations load, and every referenced local file exists."""
    status = main(["--config", str(config_path), "--dry-run", "--display-commands",
                   "--corpus-dir", str(tmp_path / "corpora"), "--work-dir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "python -m pyserini.eval.trec_eval -c" in out
    assert not list(tmp_path.iterdir()), "a dry run must not write anything"


def test_every_condition_has_an_expectation_per_language_and_metric(config_path):
    config = load_config(config_path)
    for model in config.models:
        assert set(model.expected) == set(config.metrics)
        for metric, expectation in model.expected.items():
            assert set(expectation.values) == set(config.languages), (model.name, metric)
            if expectation.status in ("not reported", "pending"):
                assert all(v is None for v in expectation.values.values()) and expectation.average is None
            else:
                assert expectation.source is not None


def test_reported_averages_agree_with_the_per_language_values(config_path):
    """A typo in a copied number shows up as an average that no longer matches the source's."""
    config = load_config(config_path)
    for model in config.models:
        for metric, e in model.expected.items():
            values = list(e.values.values())
            if e.average is not None and values and None not in values:
                mean = sum(values) / len(values)
                assert abs(mean - e.average) <= 2 * e.source.half_unit, (config.name, model.name, metric, mean)


def test_paper_numbers_are_kept_as_printed():
    config = load_config(REPO / "regressions" / "miracl-v1.0-dev-hardneg.yaml")
    dual = config.model("milco-650m-dual").expected["nDCG@10"]
    assert dual.expected("sw") == pytest.approx(0.803) and dual.average == pytest.approx(0.723)
    assert dual.source.half_unit == pytest.approx(0.0005)
    assert config.model("milco-650m-pivot").env == {"PYSERINI_MILCO_SOURCE_VIEW": "off"}
    assert config.env == {"PYSERINI_MILCO_LOWERCASE": "on"}


def test_full_corpus_expects_only_what_was_measured_on_it():
    config = load_config(REPO / "regressions" / "miracl-v1.0-dev.yaml")
    pivot = config.model("milco-650m-pivot").expected["nDCG@10"]
    assert pivot.expected("en") == pytest.approx(0.564)
    assert [lang for lang, v in pivot.values.items() if v is not None] == ["en"]
    assert config.model("milco-650m-dual").expected["nDCG@10"].status == "not reported"
    dense = config.model("bge-m3-dense")
    assert dense.run and dense.expected["nDCG@10"].status == "reported"  # runnable; its numbers stay quoted


def test_bm25_expectations_are_read_from_pyserini_2cr():
    bm25 = load_config(REPO / "regressions" / "miracl-v1.0-dev.yaml").model("bm25")
    assert bm25.expected["nDCG@10"].expected("ar") == pytest.approx(0.4809)
    assert bm25.expected["R@100"].expected("ar") == pytest.approx(0.8885)
    assert bm25.expected["nDCG@10"].source.half_unit == pytest.approx(0.00005)


def test_mkqa_keeps_norwegian_as_a_language_code():
    config = load_config(REPO / "regressions" / "mkqa.yaml")
    assert len(config.languages) == 25 and "no" in config.languages
    assert config.model("milco-650m-dual").expected["R@100"].expected("no") == pytest.approx(0.776)


# --- validation ----------------------------------------------------------------------------------

MINIMAL = yaml.safe_load(textwrap.dedent("""
    name: toy
    title: Toy
    description: A toy benchmark.
    languages: [aa, bb]
    metrics: {nDCG@10: ndcg_cut.10, R@100: recall.100}
    tolerance: 0.01
    paths: {corpus: "{corpus_dir}/toy", topics: "{corpus_dir}/toy/{lang}.tsv", qrels: "{corpus_dir}/toy/{lang}.qrels"}
    sources: {paper: {cite: The paper, unit: percent, digits: 1}}
    models:
      - name: m
        display: M
        encoder: some/encoder
        expected:
          nDCG@10: {status: reported, source: paper, values: {aa: 50.0, bb: null}}
          R@100: {status: not reported}
"""))


def _parse(raw: dict):
    return parse_config(raw, Path("regressions/toy.yaml"))


def _mutated(edit) -> dict:
    raw = copy.deepcopy(MINIMAL)
    edit(raw)
    return raw


def test_minimal_config_is_valid():
    config = _parse(MINIMAL)
    assert config.model("m").expected["nDCG@10"].values == {"aa": 0.5, "bb": None}
    assert [s.name for s in config.pipeline_of(config.model("m"))] == ["encode", "index", "search", "eval"]


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["languages"].append(False), "quote it"),
    (lambda r: r["models"][0]["expected"]["nDCG@10"]["values"].pop("bb"), "missing: bb"),
    (lambda r: r["models"][0]["expected"]["nDCG@10"].pop("source"), "needs a source"),
    (lambda r: r["models"][0]["expected"]["R@100"].update(values={"aa": 1.0, "bb": None}), "a value needs a source"),
    (lambda r: r["models"][0]["expected"]["R@100"].update(average=50.0, source="paper"), "cannot carry numbers"),
    (lambda r: r["models"][0]["expected"].pop("R@100"), "missing: R@100"),
    (lambda r: r["models"][0]["expected"]["nDCG@10"]["values"].update(aa=150.0), "outside 0..100"),
    (lambda r: r["models"][0].pop("encoder"), "needs 'encoder'"),
    (lambda r: r.update(steps={"encode": "python -m pyserini.encode --corpus {corpse}"}), "unknown placeholder"),
    (lambda r: r.update(steps={"encode": "bash -c true"}), "must start with 'python -m"),
    (lambda r: r.update(colour="blue"), "unknown key(s) colour"),
    (lambda r: r.update(metrics={"a": "recall.10", "b": "recall.100"}), "one measure per trec_eval family"),
    (lambda r: r["paths"].pop("qrels"), "must define qrels"),
    (lambda r: r.update(pipeline=["encode", "rerank"]), "no step called rerank"),
])
def test_invalid_configs_say_which_key_and_what_to_do(edit, message):
    with pytest.raises(ConfigError) as error:
        _parse(_mutated(edit))
    assert message in str(error.value) and "regressions/toy.yaml" in str(error.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.yaml")


# --- comparison ----------------------------------------------------------------------------------

@pytest.mark.parametrize("measured, expected, verdict", [
    (0.8043, 0.804, Verdict.OK),
    (0.8045, 0.804, Verdict.OK),
    (0.8046, 0.804, Verdict.TOLERANCE),
    (0.7950, 0.804, Verdict.TOLERANCE),
    (0.7900, 0.804, Verdict.FAIL),
    (0.7900, None, Verdict.NO_EXPECTATION),
])
def test_verdicts(measured, expected, verdict):
    assert runner.verdict(measured, expected, half_unit=0.0005, tolerance=0.01) is verdict


def test_no_expectation_is_never_a_pass():
    assert not Verdict.NO_EXPECTATION.passed and Verdict.TOLERANCE.passed


def test_scores_are_read_from_trec_eval_output():
    config = _parse(MINIMAL)
    text = "Results:\nndcg_cut_10           \tall\t0.8043\nrecall_100            \tall\t0.9000\nnum_q\tall\t3\n"
    assert runner.read_scores(text, config) == {"nDCG@10": 0.8043, "R@100": 0.9}


# --- preflight and running -----------------------------------------------------------------------

def _locations(tmp_path: Path) -> Locations:
    return Locations(work_dir=tmp_path / "work", corpus_dir=tmp_path / "corpora", topics_dir=tmp_path / "topics",
                     cache_dir=tmp_path / "cache")


def test_preflight_lists_every_missing_input_and_where_to_put_it(tmp_path):
    raw = _mutated(lambda r: r.update(
        topics={"dataset": "miracl-topics", "files": ["topics.toy-{lang}.tsv"]},
        pipeline=["prepare", "encode", "index", "search", "eval"],
        steps={"prepare": {"command": "python -m some.fetcher --out {corpus}", "creates": "{corpus}",
                           "hub": ["org/data"], "help": "the toy corpus"}}))
    config = _parse(raw)
    where = {config.name: _locations(tmp_path)}
    chosen = runner.conditions(config)
    problems, notes = runner.preflight(chosen, where, lambda: False)
    assert any("topics.toy-aa.tsv" in p and "pyserini_milco.datasets fetch miracl-topics" in p for p in problems)
    assert any("the toy corpus" in p and "org/data" in p for p in problems)
    problems, notes = runner.preflight(chosen, where, None)
    assert notes and not any("org/data" in p for p in problems)
    (tmp_path / "topics").mkdir()
    for lang in config.languages:
        (tmp_path / "topics" / f"topics.toy-{lang}.tsv").write_text("1\tq\n")
    problems, _ = runner.preflight(chosen, where, lambda: True)
    assert problems == []
    runner.stage_topics(chosen[0], where[config.name])
    assert (tmp_path / "cache" / "topics.toy-aa.tsv").is_file()


FAKE_TOOL = '''
"""Stand-in for the Pyserini tools: 'make PATH' creates PATH, 'fail PATH' leaves it half-written."""
import pathlib, sys
action, path = sys.argv[1], pathlib.Path(sys.argv[2])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text("partial" if action == "fail" else "done")
if action == "fail":
    sys.exit(3)
print("ndcg_cut_10\\tall\\t0.5004")
print("recall_100\\tall\\t0.7000")
'''


def _fake_pipeline_config(tmp_path: Path, search_action: str):
    (tmp_path / "fake_tool.py").write_text(FAKE_TOOL)
    raw = _mutated(lambda r: r.update(
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])},
        pipeline=["encode", "search", "eval"],
        steps={"encode": "python -m fake_tool make {encoded}/vectors.jsonl",
               "search": f"python -m fake_tool {search_action} {{run}}",
               "eval": "python -m fake_tool make {work_dir}/eval-done-{lang}"}))
    raw["paths"]["encoded"] = "{work_dir}/encoded"  # shared by both languages: built once
    return _parse(raw)


def test_runner_executes_skips_and_compares(tmp_path):
    config = _fake_pipeline_config(tmp_path, "make")
    where = {config.name: _locations(tmp_path)}
    lines: list[str] = []
    outcome = runner.run_all(runner.conditions(config), where, echo=lines.append)
    assert not outcome.failed, "\n".join(lines)
    by_lang = {c.condition: c for c in outcome.checks if c.metric == "nDCG@10"}
    assert by_lang["m.aa"].verdict is Verdict.OK and by_lang["m.bb"].verdict is Verdict.NO_EXPECTATION
    assert sum("skipped" in line for line in lines) == 1  # the shared encoded folder of the second language
    assert runner.measured_scores(runner.conditions(config)[0], where[config.name]) == {"nDCG@10": 0.5004,
                                                                                        "R@100": 0.7}


def test_a_failed_step_fails_the_condition_and_leaves_no_partial_output(tmp_path):
    config = _fake_pipeline_config(tmp_path, "fail")
    where = {config.name: _locations(tmp_path)}
    lines: list[str] = []
    outcome = runner.run_all(runner.conditions(config, languages=["aa"]), where, echo=lines.append)
    assert outcome.failed and "search failed (exit 3)" in outcome.errors[0]
    assert not list((tmp_path / "work" / "runs").glob("*.txt"))


def test_cli_fails_fast_with_status_2_on_missing_inputs(tmp_path, capsys):
    config = tmp_path / "regressions" / "toy.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(_mutated(lambda r: r.update(
        pipeline=["prepare", "encode", "index", "search", "eval"],
        steps={"prepare": {"command": "python -m x --out {corpus}", "creates": "{corpus}",
                           "requires": ["data/toy.json"], "help": "toy data"}}))))
    assert main(["--config", str(config), "--work-dir", str(tmp_path / "w")]) == 2
    out = capsys.readouterr().out
    assert "inputs missing" in out and str(tmp_path / "data" / "toy.json") in out


def test_cli_rejects_unknown_languages_and_settings(capsys):
    path = str(REPO / "regressions" / "xquad-r.yaml")
    assert main(["--config", path, "--dry-run", "--language", "xx"]) == 2
    assert main(["--config", path, "--dry-run", "--set", "colour=blue"]) == 2
    assert "not in this config" in capsys.readouterr().err
    mkqa = str(REPO / "regressions" / "mkqa.yaml")
    assert main(["--config", mkqa, "--dry-run", "--condition", "bm25"]) == 2
    assert "reported, not run" in capsys.readouterr().err


# --- reports and generated files -----------------------------------------------------------------

def test_report_shows_measured_beside_expected_in_markdown_and_html(tmp_path):
    config = load_config(REPO / "regressions" / "miracl-v1.0-dev-hardneg.yaml")
    measured = {"milco-650m-dual.sw": {"nDCG@10": 0.8031, "R@100": 0.95}, "milco-650m-dual.ar": {"nDCG@10": 0.70}}
    section = report.section(config, _locations(tmp_path), measured)
    md_path, html_path = report.write_report(tmp_path / "report.md", [section])
    md, page = md_path.read_text(), html_path.read_text()
    assert "| MILCO (dual view) | reported | 0.804 |" in md and "0.8031 ✔" in md and "0.7000 ✘" in md
    assert "0.9500 ○" in md and "| – |" in md
    assert page.startswith("<!DOCTYPE html>") and 'class="ok" title="OK">0.8031 ✔</td>' in page
    assert "<details><summary>Commands: MILCO (pivot view only)" in page


def test_report_marks_quoted_rows_and_rows_not_run_here(tmp_path):
    """BGE-M3 runs (its commands are in the report) but its numbers are quoted and nothing was measured here;
    a baseline that is only quoted has no measured row at all."""
    config = load_config(REPO / "regressions" / "miracl-v1.0-dev.yaml")
    text = report.markdown([report.section(config, _locations(tmp_path), {})], "now")
    assert "| BGE-M3 sparse | reported | 0.671 |" in text
    assert "| BGE-M3 dense | reported |" in text and "0.955 |" in text
    assert "|  | not run here | – |" in text and "Commands for BGE-M3 all (dense+sparse+multi-vector)" in text
    mkqa = load_config(REPO / "regressions" / "mkqa.yaml")
    text = report.markdown([report.section(mkqa, _locations(tmp_path), {"bge-m3-dense.ar": {"R@100": 0.7}})], "now")
    assert "| BM25 (reported, not run) | reported |" in text and "|  | measured here | 0.7000" in text


def test_cli_writes_a_report_after_a_dry_run(tmp_path):
    out = tmp_path / "report"
    assert main(["--config", str(REPO / "regressions" / "mkqa.yaml"), "--dry-run", "--work-dir", str(tmp_path),
                 "--generate-report", str(out)]) == 0
    assert "| BGE-M3 sparse | reported |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.html").is_file()


def test_anserini_configs_are_generated_from_the_regressions_and_up_to_date():
    generated = {}
    for path in CONFIGS:
        generated.update(anserini.render(load_config(path)))
    committed = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "anserini_configs").glob("*.yaml")}
    assert sorted(generated) == sorted(committed), "regenerate: --write-anserini-configs anserini_configs"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} is stale: regenerate with --write-anserini-configs"


def test_anserini_configs_follow_anserinis_schema():
    doc = yaml.safe_load((REPO / "anserini_configs" / "miracl-v1.0-sw-dev-hardneg.milco-650m.yaml").read_text())
    assert doc["collection_class"] == "JsonVectorCollection" and doc["index_options"] == "-impact -pretokenized"
    assert doc["models"][0]["params"] == "-impact -pretokenized -hits 1000"
    assert [t["id"] for t in doc["topics"]] == ["milco-650m-dual", "milco-650m-pivot"]
    assert doc["models"][0]["results"] == {"nDCG@10": [0.803, 0.781], "R@100": [None, None]}


@pytest.mark.skipif(not (SHARED_DATA / "miracl-v1.0-topics-qrels").is_dir(), reason="needs ../shared/data")
def test_anserini_full_corpus_configs_reference_existing_qrels():
    for path in (REPO / "anserini_configs").glob("miracl-v1.0-??.milco-650m.yaml"):
        for topic in yaml.safe_load(path.read_text())["topics"]:
            assert (SHARED_DATA / "miracl-v1.0-topics-qrels" / topic["qrel"]).is_file(), path.name


# --- data preparation and MKQA judgments ---------------------------------------------------------

def test_prepare_writes_documents_topics_and_qrels(tmp_path):
    rows = [{"_id": "d1", "title": "T", "text": "x"}, {"docid": 2, "title": None, "text": "y"}]
    assert prepare.write_docs(rows, tmp_path / "docs.jsonl", "test") == 2
    lines = [json.loads(line) for line in (tmp_path / "docs.jsonl").read_text().splitlines()]
    assert lines == [{"id": "d1", "title": "T", "text": "x"}, {"id": "2", "title": "", "text": "y"}]
    prepare.write_topics([("q1", "a\tmulti\nline  query")], tmp_path / "topics.tsv")
    assert (tmp_path / "topics.tsv").read_text() == "q1\ta multi line query\n"
    assert prepare.qrels_from_rows([{"query-id": 1, "corpus-id": "d1", "score": 1}]) == {"1": {"d1": 1}}
    with pytest.raises(ValueError, match="none of id, _id, docid"):
        prepare.write_docs([{"title": "no id"}], tmp_path / "bad.jsonl", "hub data")


def test_prepare_reads_mkqa_languages_from_bge_m3s_archive(tmp_path):
    archive_path = tmp_path / "MKQA_test-data.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("MKQA_test-data/ja.jsonl", json.dumps({"id": 7, "question": "誰?", "answers": ["A"]}) + "\n")
    with zipfile.ZipFile(archive_path) as archive:
        assert prepare.mkqa_members(archive, ["ja"]) == {"ja": "MKQA_test-data/ja.jsonl"}
        with pytest.raises(FileNotFoundError, match="no.jsonl"):
            prepare.mkqa_members(archive, ["ja", "no"])
        lines = archive.read("MKQA_test-data/ja.jsonl").decode().splitlines()
    prepare.write_mkqa_language(lines, tmp_path / "topics" / "ja.tsv", tmp_path / "answers" / "ja.jsonl")
    assert (tmp_path / "topics" / "ja.tsv").read_text() == "7\t誰?\n"
    assert answers.load_answers(tmp_path / "answers" / "ja.jsonl") == {"7": ["A"]}


def test_answer_judgments_make_success_at_k_the_answer_recall():
    ranked = {"q1": ["d1", "d2"], "q2": ["d2"]}
    texts = {"d1": "The capital is Paris.", "d2": "Berlin is big."}
    qrels = answers.judge(ranked, texts, {"q1": ["paris"], "q2": ["Rome"], "q3": ["x"]})
    assert qrels == {"q1": {"d1": 1, "d2": 0}, "q2": {"d2": 0}, "q3": {answers.PLACEHOLDER_DOCID: 0}}


# --- the real thing (minutes; Pyserini, Java, milco-mini) ----------------------------------------

@pytest.mark.skipif(os.environ.get("PYSERINI_MILCO_REAL_REGRESSION") != "1",
                    reason="runs Pyserini for minutes; set PYSERINI_MILCO_REAL_REGRESSION=1")
@pytest.mark.parametrize("model", ["bm25", "milco-mini"])
def test_xquadr_regression_for_real(model, tmp_path):
    status = main(["--config", str(REPO / "regressions" / "xquad-r.yaml"), "--condition", model,
                   "--work-dir", str(tmp_path / "work"), "--corpus-dir", str(tmp_path / "corpora"),
                   "--generate-report", str(tmp_path / "report")])
    assert status == 0


@pytest.mark.parametrize("name", ["miracl-v1.0-dev", "mkqa"])
def test_bge_m3_runs_in_all_five_modes_and_beside_milco(name, tmp_path):
    """Every language gets the five BGE-M3 conditions (FAISS dense, Lucene impact sparse, the fusion of the two,
    the multi-vector and All reranks of the dense run) and MILCO + BGE-M3 dense through Pyserini's hybrid search."""
    config = load_config(REPO / "regressions" / f"{name}.yaml")
    expected = {"bge-m3-dense": "pyserini.search.faiss", "bge-m3-sparse": "pyserini.search.lucene",
                "bge-m3-dense-sparse": "pyserini_milco.baselines.fuse",
                "bge-m3-multivec": "pyserini_milco.baselines.rerank", "bge-m3-all": "pyserini_milco.baselines.rerank",
                "milco-bge-m3-dense-hybrid": "pyserini.search.hybrid"}
    chosen = runner.conditions(config, list(expected))
    assert len(chosen) == len(expected) * len(config.languages)
    for condition in chosen:
        steps = runner.render(condition, _locations(tmp_path), {})
        modules = [step.module for step in steps]
        assert expected[condition.model.name] in modules and modules[-1] == "pyserini.eval.trec_eval"
        assert steps[-2 if name == "miracl-v1.0-dev" else -3].creates == Path(
            runner.variables(condition, _locations(tmp_path))["run"])
    sparse = runner.render(runner.Condition(config, config.model("bge-m3-sparse"), "sw" if name != "mkqa" else "ja"),
                           _locations(tmp_path))
    assert sparse[1].env == {"PYSERINI_MILCO_BGE_M3_OUTPUT": "sparse"} and "--impact" in sparse[3].args


def test_xquadr_pruned_condition_prunes_documents_at_encoding_into_its_own_index(tmp_path):
    """milco-mini-topk100 is the same model with documents pruned by the stock encode (through the
    environment), written beside the unpruned condition's encoding, never over it."""
    config = load_config(REPO / "regressions" / "xquad-r.yaml")
    pruned, unpruned = (next(step for step in runner.render(runner.Condition(config, config.model(name), "de"),
                                                            _locations(tmp_path)) if step.module == "pyserini.encode")
                        for name in ("milco-mini-topk100", "milco-mini"))
    assert pruned.env["PYSERINI_MILCO_PRUNE"] == "topk:100"
    assert pruned.creates != unpruned.creates
    assert "PYSERINI_MILCO_PRUNE" not in unpruned.env
