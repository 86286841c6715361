"""The benchmarks run end to end on tiny configurations, and their package/reference checks hold."""
import json
import subprocess
from pathlib import Path
import sys

import pytest
import torch

from conftest import REPO, SHARED_DATA

sys.path.insert(0, str(REPO))
from benchmarks import encode as encode_benchmark  # noqa: E402
from pyserini_milco.encoding.encoder import pad_sequences  # noqa: E402
from pyserini_milco.encoding.options import DEFAULT_QUERY_PRUNE  # noqa: E402

TINY = ["--arch", "tiny", "--lengths", "5-40", "--batch-sizes", "3", "8", "--batches", "2", "--repeats", "1",
        "--pivot-terms", "40"]


def test_pad_sequences_rounds_up_to_a_multiple():
    ids, mask = pad_sequences([[5, 6, 7], [8]], pad_id=1, multiple=4)
    assert ids.tolist() == [[5, 6, 7, 1], [8, 1, 1, 1]]
    assert mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert pad_sequences([[5, 6, 7], [8]], pad_id=1)[0].shape == (2, 3)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_encode_benchmark_package_equals_reference(tmp_path, dtype):
    """The package's encoder (sorted, packed head, bf16 running max, sparse picking on the device)
    returns the vectors of the straightforward full-logits reference."""
    out = tmp_path / "encode.json"
    assert encode_benchmark.main([*TINY, "--dtype", dtype, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(row["agrees"] for row in rows)
    assert all(row["package"]["docs_per_s"] > 0 and row["terms_per_doc"] > 0 for row in rows)
    if dtype == "fp32":
        assert max(row["max_relative_error"] for row in rows) < 1e-5


def test_encode_benchmark_reports_no_bf16_peak_without_native_bf16(tmp_path, monkeypatch):
    """A CPU that only emulates bf16 has no bf16 peak to measure: the MFU is left out, not made up
    (the utilisation itself is a measurement, printed by the benchmark, never asserted)."""
    monkeypatch.setenv("PYSERINI_MILCO_CPU_BF16", "off")
    out = tmp_path / "encode.json"
    assert encode_benchmark.main([*TINY, "--dtype", "bf16", "--batch-sizes", "3", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["setup"]["peak_tflops"] is None
    assert all(row[side]["mfu"] is None for row in results["rows"] for side in ("package", "reference"))


def test_encode_benchmark_profile(tmp_path):
    out = tmp_path / "profile.json"
    assert encode_benchmark.main([*TINY, "--profile", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [set(row["seconds"]) for row in rows] == [{"pad + copy", "backbone", "pivot head + max", "source view",
                                                      "sparse conversion"}] * 2


def test_encode_benchmark_flops_and_calibration():
    arch = encode_benchmark.ARCHITECTURES["full"]
    config = arch.config()
    per_token = encode_benchmark.text_flops(config, 1) / 1
    # 24 layers x (4 H^2 + 2 H I) + connector + head, 2 FLOPs per multiply-add: about 654 MFLOP per token
    assert 6.4e8 < per_token < 6.7e8
    tiny = encode_benchmark.ARCHITECTURES["tiny"]
    sequences = encode_benchmark.random_sequences(6, (10, 30), tiny.m_vocab, seed=1)
    model = encode_benchmark.build_model(tiny, torch.device("cpu"), sequences, terms=25, seed=0)
    ids, mask = pad_sequences(sequences, encode_benchmark.PAD)
    with torch.no_grad():
        positive = (model(ids, mask).pivot > 0).sum(dim=1).float().mean()
    assert 15 <= positive <= 35


def test_encode_benchmark_refuses_cuda_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        encode_benchmark.main(["--device", "cuda"])


@pytest.mark.skipif(not (SHARED_DATA / "xquad-r" / "en.json").is_file(), reason="XQuAD-R data not available")
def test_search_benchmark_tiny(tmp_path, official_checkpoint):
    """Run as a user runs it, in its own process: in the full suite, FAISS searching inside the test
    process (where torch and an earlier test's JVM already run) ended pytest with a segmentation fault."""
    from baselines.tiny_models import write_e5_like

    folder, _ = official_checkpoint
    dense = write_e5_like(tmp_path / "tiny-e5-small")
    work = tmp_path / "search"
    args = ["--work", str(work), "--encoder", str(folder), "--languages", "en,de", "--levels", "topk:5",
            "--query-levels", "none", "topk:3", "--threads", "1", "--repeats", "1", "--warm-up", "0",
            "--max-length", "64", "--max-questions", "40", "--dense-encoder", str(dense), "--hnsw-m", "8",
            "--ef-construction", "40", "--ef-search", "2000", "--baseline-encoder", str(folder)]
    done = subprocess.run([sys.executable, "-m", "benchmarks.search", *args], cwd=REPO, check=True,
                          capture_output=True, text=True)
    results = json.loads((work / "search.json").read_text())
    by_queries = {(row["level"], row["query_level"]): row for row in results["rows"] if "query_level" in row}
    assert set(by_queries) == {("topk:5", "none"), ("topk:5", "topk:3"), ("baseline-none", "none")}
    assert by_queries["topk:5", "none"]["terms_per_doc"] == by_queries["topk:5", "topk:3"]["terms_per_doc"]
    assert "topk:5 (queries topk:3): 1t " in done.stdout and "x the q/s with unpruned queries" in done.stdout
    rows = {row["level"]: row for row in results["rows"] if row.get("query_level") in (None, "none")}
    assert set(rows) == {"topk:5", "baseline-none", "bm25", "dense-flat", "dense-hnsw"}
    assert results["encoding"]["queries"] == 80 and results["encoding"]["baseline"]["queries"] == 80
    # the baseline model is searched unpruned in the same run, and every impact row gets its ratio to it
    assert rows["baseline-none"]["terms_per_doc"] > rows["topk:5"]["terms_per_doc"]
    assert "topk:5 (queries topk:3): 1t " in done.stdout and "x the baseline model's q/s" in done.stdout
    assert results["encoding"]["dense"]["dimension"] == 32 and results["encoding"]["dense"]["documents_per_s"] > 0
    # an HNSW beam wider than the pool searches it exhaustively: the same ranking quality as the flat index
    assert rows["dense-hnsw"]["ndcg@10"] == rows["dense-flat"]["ndcg@10"]
    assert 5 <= rows["topk:5"]["terms_per_doc"] <= 10  # 5 per view
    assert all(row["qps"]["1"] > 0 and row["index_bytes"] > 0 for row in rows.values())
    assert rows["topk:5"]["java_qps"]["1"] > 0
    assert set(rows["bm25"]["ndcg@10"]) == {"en-en", "de-en", "mean"}
    assert rows["bm25"]["ndcg@10"]["en-en"] > 0.3  # English BM25 on English sentences works
    assert (work / "search.png").stat().st_size > 10_000


def test_search_stock_cli_times_milco_bm25_and_dense_commands(tmp_path, monkeypatch):
    """``--stock-cli`` times the first MILCO document level's command (with the benchmark's encoder),
    BM25's and the dense ones; each method maps to the stock command a user types."""
    import argparse

    from benchmarks import search, stock_cli

    rows = [{"level": "topk:100", "query_level": "none", "method": "topk", "index": "i/topk"},
            {"level": "baseline-none", "query_level": "none", "method": "baseline", "index": "i/base"},
            {"level": "bm25", "method": "bm25", "index": "i/bm25"},
            {"level": "dense-hnsw", "method": "dense-hnsw", "index": "i/hnsw"}]
    args = argparse.Namespace(work=tmp_path, hits=10, dense_encoder="e5-small", ef_search=64)
    seen = {}
    monkeypatch.setattr(search, "time_stock_commands", lambda chosen, topics, work, a: seen.update(
        chosen=chosen, commands={name: stock_cli.stock_command(m, i, a) for name, (m, i) in chosen.items()}))
    search.stock_cli(rows, "milco-mini", tmp_path / "topics.tsv", args)
    assert seen["chosen"] == {"milco topk:100": ("milco", "i/topk"), "bm25": ("bm25", "i/bm25"),
                              "dense-hnsw": ("dense-hnsw", "i/hnsw")}
    assert seen["commands"] == {
        "milco topk:100": ("pyserini.search.lucene", ["--index", "i/topk", "--impact", "--encoder", "milco-mini",
                                                      "--hits", "10"]),
        "bm25": ("pyserini.search.lucene", ["--index", "i/bm25", "--bm25", "--hits", "10"]),
        "dense-hnsw": ("pyserini.search.faiss", ["--index", "i/hnsw", "--encoder", "e5-small", "--ef-search", "64",
                                                 "--hits", "10"])}


def test_search_plot_draws_runs_without_pruning_levels(tmp_path):
    """Only the unpruned level and BM25 (e.g. a baseline-only run): the pruning panels stay empty
    instead of failing on a log-scaled axis without data."""
    from benchmarks.search import plot

    row = {"index_bytes": 2 ** 20, "terms_per_doc": 100.0, "ndcg@10": {"mean": 0.5}, "query_level": "none"}
    results = {"encoder": "model", "rows": [{**row, "level": "none", "method": "none", "value": None},
                                            {**row, "level": "bm25", "method": "bm25", "value": None}]}
    assert plot(results, tmp_path / "search.png").stat().st_size > 1_000


def write_ntrex_like(folder: Path, languages: list[str], lines: int) -> Path:
    """An NTREX-128 folder of short line-aligned sentences (the tiny e5 holds 140 positions)."""
    texts = folder / "NTREX-128"
    texts.mkdir(parents=True)
    for lang in languages:
        name = "newstest2019-src.eng.txt" if lang == "eng" else f"newstest2019-ref.{lang}.txt"
        (texts / name).write_text("".join(f"{lang} line {i} about topic {i % 7}\n" for i in range(lines)),
                                  encoding="utf-8")
    return folder


def test_search_scale_benchmark_tiny(tmp_path, official_checkpoint):
    """The scale benchmark end to end on 320 sentences (40 lines x 8 languages), tiny models, in its own
    process (FAISS beside torch and a JVM in the test process ended pytest with a segfault)."""
    from baselines.tiny_models import write_e5_like

    folder, _ = official_checkpoint
    dense = write_e5_like(tmp_path / "tiny-e5-small")
    languages = ["eng", "eng-GB", "eng-US", "eng-IN", "deu", "zho-CN", "fra", "swa"]
    data = write_ntrex_like(tmp_path / "ntrex", languages, 40)
    work = tmp_path / "scale"
    args = ["--work", str(work), "--data-dir", str(data), "--encoder", str(folder), "--dense-encoder", str(dense),
            "--query-languages", "deu,zho-CN", "--query-every", "20", "--levels", "none", "topk:5",
            "--threads", "1", "2", "--repeats", "1", "--warm-up", "0", "--e2e-queries", "3", "--max-length", "64",
            "--hnsw-m", "8", "--ef-construction", "40", "--ef-search", "1000", "--query-levels", "none",
            "--stock-cli", "bm25"]
    done = subprocess.run([sys.executable, "-m", "benchmarks.search_scale", *args], cwd=REPO, check=True,
                          capture_output=True, text=True)
    results = json.loads((work / "search-scale.json").read_text())
    assert results["documents"] == 320 and results["queries"] == 4
    rows = {row["row"]: row for row in results["rows"]}
    assert set(rows) == {"milco none", "milco topk:5", "milco none, queries none", "milco topk:5, queries none",
                         "bm25", f"{dense} flat", f"{dense} hnsw"}
    # a further query pruning level: pre-encoded only, at least the stock (pruned) queries' terms
    for level in ("none", "topk:5"):
        unpruned = rows[f"milco {level}, queries none"]
        assert "end_to_end" not in unpruned and set(unpruned["qps"]) == {"1", "2"} and unpruned["query_level"] == "none"
    # the stock command, timed from outside with both flag sets
    stock = results["stock_cli"]["bm25"]
    assert stock["queries"] == 4 and "pyserini.search.lucene" in stock["command"]
    assert all(stock["flag_sets"][flags]["seconds_all"] > 0 and stock["flag_sets"][flags]["seconds_one"] > 0
               for flags in ("defaults", "batch 64, 2 threads"))
    assert "| bm25 | --batch-size 64 --threads 2 |" in done.stdout
    # every row: pre-encoded and end-to-end speed at both thread counts, latencies, size and quality
    for row in (r for r in rows.values() if "queries none" not in r["row"]):
        assert set(row["qps"]) == set(row["end_to_end"]["qps"]) == {"1", "2"}
        assert all(q > 0 for q in (*row["qps"].values(), *row["end_to_end"]["qps"].values()))
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p99"] and row["index_bytes"] > 0
        assert set(row["ndcg@10"]) == {"deu", "zho-CN", "mean"}
    assert rows["milco none"]["terms_per_doc"] > rows["milco topk:5"]["terms_per_doc"] and \
        rows["milco topk:5"]["terms_per_doc"] <= 10  # 5 per view
    assert rows["milco none"]["java_qps"]["1"] > 0
    # the stock query pruning against unpruned queries on the same index, resampled by line (2 lines)
    assert all(rows[f"milco {level}"]["vs_queries_none"]["lines"] == 2 for level in ("none", "topk:5"))
    assert f"milco none, queries {DEFAULT_QUERY_PRUNE.label} vs queries none: nDCG@10 " in done.stdout
    assert not any("ndcg@10_per_query" in row for row in rows.values())
    # an HNSW beam wider than the pool searches it exhaustively: the flat index's quality
    assert rows[f"{dense} hnsw"]["ndcg@10"] == rows[f"{dense} flat"]["ndcg@10"]
    # each MILCO row against BM25 and both dense rows, measured in the same run
    assert set(rows["milco topk:5"]["ratios"]) == {"bm25", f"{dense} flat", f"{dense} hnsw"}
    assert "milco topk:5 ÷ bm25: q/s pre-encoded 1t " in done.stdout and "| milco none |" in done.stdout
    assert (work / "search-scale.png").stat().st_size > 10_000
    assert results["milco_encoding"]["encoder"] == str(folder) and results["dense_encoding"]["dimension"] == 32


def test_search_scale_pruning_costs_pair_queries_by_line():
    """A pruned row's cost is the mean over lines of its per-line nDCG@10 minus the unpruned row's;
    rows without an unpruned twin (other indexes, other methods) get none."""
    from benchmarks import search_scale

    def row(level, query_level, scores, method="milco"):
        return {"row": f"{method} {level}", "method": method, "level": level, "query_level": query_level,
                search_scale.PER_QUERY: scores}

    unpruned = row("none", "none", {"deu-0001": 1.0, "zho-0001": 0.5, "deu-0041": 0.8, "zho-0041": 0.8})
    pruned = row("none", "topk:20", {"deu-0001": 1.0, "zho-0001": 0.1, "deu-0041": 0.8, "zho-0041": 0.6})
    alone = row("topk:64", "topk:20", {"deu-0001": 1.0, "zho-0001": 1.0, "deu-0041": 1.0, "zho-0041": 1.0})
    rows = [unpruned, pruned, alone, {"row": "bm25", "method": "bm25", search_scale.PER_QUERY: {}}]
    lines = search_scale.pruning_costs(rows)
    assert pruned["vs_queries_none"]["delta"] == round(((-0.4 / 2) + (-0.2 / 2)) / 2, 4)
    assert pruned["vs_queries_none"]["lines"] == 2 and pruned["vs_queries_none"]["high"] < 0
    assert "vs_queries_none" not in unpruned and "vs_queries_none" not in alone and len(lines) == 1
    assert not any(search_scale.PER_QUERY in r for r in rows)
    assert search_scale.pruning_cost(pruned).startswith("-0.150 [")


def test_search_scale_pool_and_pruning(tmp_path):
    """The pool's docids, order and qrels; pruning the cached integer weights per view."""
    from benchmarks import search_scale
    from pyserini_milco.encoding.pruning import PruneSpec

    data = tmp_path / "NTREX-128"
    data.mkdir()
    for name, lines in (("src.eng", ["One.", "Two two."]), ("ref.deu", ["Eins.", "Zwei."]),
                        ("ref-2.spa", ["Uno.", "Dos."]), ("ref.eng-GB", ["One.", "Two."]),
                        ("ref.eng-US", ["One.", "Two."]), ("ref.eng-IN", ["One.", "Two."])):
        (data / f"newstest2019-{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "README.md").write_text("not a text of the pool")
    pool = search_scale.write_pool(data, tmp_path / "pool", ["deu"], 1)
    ids = [json.loads(line)["id"] for path in sorted(pool.corpus.glob("*.jsonl")) for line in path.open()]
    assert ids[:8] == ["eng-0001", "eng-0002", "eng-GB-0001", "eng-GB-0002", "eng-US-0001", "eng-US-0002",
                       "eng-IN-0001", "eng-IN-0002"]  # English first (shortest first within a language)
    assert ids[8:] == ["deu-0001", "deu-0002", "spa2-0001", "spa2-0002"]
    assert pool.topics.read_text() == "deu-0001\tEins.\ndeu-0002\tZwei.\n"
    relevant = [line.split() for line in pool.qrels.read_text().splitlines()]
    assert sorted(doc for qid, _, doc, _ in relevant if qid == "deu-0002") == \
        ["eng-0002", "eng-GB-0002", "eng-IN-0002", "eng-US-0002", "spa2-0002"]
    terms = {"e_a": 5, "e_b": 9, "e_c": 5, "m_x": 1, "m_y": 7}
    assert search_scale.prune_terms(terms, PruneSpec("topk", 2)) == {"e_b": 9, "e_a": 5, "m_y": 7, "m_x": 1}
    assert search_scale.prune_terms(terms, PruneSpec("topk", 1, "pivot")) == {"e_b": 9, "m_x": 1, "m_y": 7}


def test_parallel_map_keeps_order_and_raises():
    from benchmarks.common import parallel_map

    assert parallel_map(lambda x: x * x, list(range(50)), 4) == [x * x for x in range(50)]

    def fail(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        parallel_map(fail, list(range(20)), 3)


def test_level_names_keep_the_view_and_read_back():
    """A pruning level's label names its view (``topk:20:pivot`` is not the stock ``topk:20``) and
    parses back to the same level, as the query pre-encoding command receives it."""
    from benchmarks.common import level_name, parse_level

    for text in ("none", "topk:20", "mass:0.5", "topk:20:pivot", "quantile:0.25:source"):
        assert level_name(parse_level(text)) == text
    assert level_name(parse_level("topk:20:both")) == "topk:20"
