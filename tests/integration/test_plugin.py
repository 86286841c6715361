"""MILCO through the stock Pyserini commands: encode → index → search → trec_eval, and fidelity.

Lucene's scores must equal the quantized dot products computed in Python, and its ranking must
equal a brute-force ranking over the whole collection (ties aside).
"""
import argparse
import json
import subprocess
import sys
from collections import defaultdict

import pytest
import torch

from conftest import SHARED_DATA
from pyserini_milco.encoding.pruning import PruneSpec
from pyserini_milco.encoding.options import DEFAULT_QUERY_PRUNE, EncodingOptions
from pyserini_milco.integration.plugin import MilcoDocumentEncoder, MilcoQueryEncoder, is_milco_checkpoint

LANGS = ("en", "de", "zh", "ar")
FLOAT32_REL = 2e-7 * 8  # a few float32 ulps


def xquadr_slice(per_language=15):
    """The first sentences of the first paragraphs, parallel across languages."""
    docs, queries = [], []
    for lang in LANGS:
        raw = json.loads((SHARED_DATA / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        paragraphs = [p for article in raw["data"] for p in article["paragraphs"]]
        sentences = [s for p in paragraphs[:4] for s in p["sentences"]][:per_language]
        docs += [{"id": f"{lang}-{i}", "title": "", "text": s} for i, s in enumerate(sentences)]
        queries += [(f"{lang}-q{i}", q["question"]) for i, q in enumerate(paragraphs[0]["qas"][:2])]
    return docs, queries


def run(module, *args, env=None):
    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from tiny import write_official_layout

    work = tmp_path_factory.mktemp("pipeline")
    folder = work / "milco-tiny"
    write_official_layout(folder, uniform_echo=True)
    docs, queries = xquadr_slice()
    (work / "corpus").mkdir()
    (work / "corpus" / "docs.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    (work / "topics.tsv").write_text("".join(f"{qid}\t{text}\n" for qid, text in queries))
    (work / "qrels.txt").write_text("".join(f"{qid} 0 {qid.split('-')[0]}-0 1\n" for qid, _ in queries))
    log = run("pyserini.encode", "input", "--corpus", work / "corpus", "--fields", "title", "text",
              "output", "--embeddings", work / "encoded", "encoder", "--encoder", folder, "--device", "cpu",
              "--batch-size", "8")
    run("pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input", work / "encoded",
        "--index", work / "index", "--generator", "DefaultLuceneDocumentGenerator", "--impact", "--pretokenized",
        "--threads", "1")
    run("pyserini.search.lucene", "--index", work / "index", "--topics", work / "topics.tsv", "--output",
        work / "run.txt", "--impact", "--encoder", folder, "--hits", "1000", "--batch-size", "4", "--threads", "1")
    return folder, work, docs, queries, log


def read_run(path):
    run_ = defaultdict(dict)
    for line in path.read_text().splitlines():
        qid, _, docid, _, score, _ = line.split()
        run_[qid][docid] = float(score)
    return run_


def python_scores(folder, queries, encoded):
    from pyserini_milco.integration.plugin import MilcoQueryEncoder

    encoder = MilcoQueryEncoder(str(folder), device="cpu")
    doc_vectors = {}
    for line in encoded.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        doc_vectors[record["id"]] = record["vector"]
    scores = {}
    for qid, text in queries:
        q = encoder.encode(text)
        scores[qid] = {d: sum(w * v.get(t, 0) for t, w in q.items()) for d, v in doc_vectors.items()}
    return scores


def test_stock_encode_writes_integer_vectors_with_safe_terms(pipeline):
    _, work, docs, _, log = pipeline
    lines = (work / "encoded" / "embeddings.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(docs)
    for line in lines:
        vector = json.loads(line)["vector"]
        assert vector and all(type(w) is int and w > 0 for w in vector.values())
        assert all(not any(c.isspace() for c in t) and len(t) < 255 for t in vector)
        assert all(t.startswith(("e_", "m_")) for t in vector)
    assert "terms per document on average" in log


def test_lucene_scores_equal_python_dot_products(pipeline):
    folder, work, docs, queries, _ = pipeline
    lucene = read_run(work / "run.txt")
    expected = python_scores(folder, queries, work / "encoded" / "embeddings.jsonl")
    for qid, _ in queries:
        positive = {d: s for d, s in expected[qid].items() if s > 0}
        assert set(lucene[qid]) == set(positive), qid
        for docid, score in lucene[qid].items():  # Lucene sums in float32: equal to its precision
            assert score == pytest.approx(positive[docid], rel=FLOAT32_REL, abs=1e-3)
        # ranking equals brute force, ties (at float32 precision) aside
        lucene_order = sorted(lucene[qid], key=lambda d: -lucene[qid][d])
        brute_force = sorted(positive, key=lambda d: -positive[d])
        for mine, theirs in zip(lucene_order, brute_force):
            assert positive[mine] == pytest.approx(positive[theirs], rel=FLOAT32_REL)


def test_fast_search_equals_pyserini_search(pipeline):
    """The plugin's search path (:mod:`pyserini_milco.integration.impact_search`) against Pyserini's
    own methods on the real index: the same ranked lists and scores, and the CLI run is that run."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from pyserini_milco.integration.impact_search import ImpactHit

    folder, work, _, queries, _ = pipeline
    searcher = LuceneImpactSearcher(str(work / "index"), MilcoQueryEncoder(str(folder), device="cpu"))
    original = type(searcher)._milco_originals
    qids, texts = [q for q, _ in queries], [t for _, t in queries]

    def ranked(results):
        return {qid: [(hit.docid, hit.score) for hit in hits] for qid, hits in results.items()}

    for k in (3, 1000):
        searcher.query_encoder.prefetch(texts)  # both encode the batch the same way
        stock = ranked(original["batch_search"](searcher, texts, qids, k, 1, {}))
        fast = searcher.batch_search(texts, qids, k=k, threads=2)
        assert all(isinstance(hit, ImpactHit) for hits in fast.values() for hit in hits)
        assert ranked(fast) == stock
        for qid, text in queries[:3]:
            assert ranked({qid: searcher.search(text, k=k)}) == ranked({qid: original["search"](searcher, text, k, {})})
    cli_run = read_run(work / "run.txt")
    assert cli_run == {qid: {docid: round(score, 6) for docid, score in hits} for qid, hits in stock.items()}
    searcher.close()


def test_every_document_terms_are_kept(pipeline):
    """m_<s> and m_</s> are in every document: Pyserini's default --min-idf 0 would drop them."""
    folder, work, docs, queries, _ = pipeline
    from pyserini_milco.integration.plugin import MilcoQueryEncoder

    query = MilcoQueryEncoder(str(folder), device="cpu").encode(queries[0][1])
    assert "m_</s>" in query and "m_<s>" in query
    lucene = read_run(work / "run.txt")
    assert len(lucene[queries[0][0]]) == len(docs)  # every document shares m_<s> and m_</s> with the query


def test_stock_loop_with_default_flags_encodes_ahead_to_the_same_run(pipeline):
    """``--batch-size 1 --threads 1`` (Pyserini's defaults) search one query at a time; the topics are
    encoded ahead in batches (:mod:`pyserini_milco.integration.encode_ahead`) and the run is the same."""
    folder, work, *_ = pipeline
    run("pyserini.search.lucene", "--index", work / "index", "--topics", work / "topics.tsv", "--output",
        work / "run-one-at-a-time.txt", "--impact", "--encoder", folder, "--hits", "1000")
    assert read_run(work / "run-one-at-a-time.txt") == read_run(work / "run.txt")


def test_query_encoder_encodes_the_planned_queries_in_one_batch(pipeline, monkeypatch):
    from pyserini_milco.integration import encode_ahead

    folder, _, _, queries, _ = pipeline
    texts = [text for _, text in queries]
    encoder = MilcoQueryEncoder(str(folder), device="cpu")
    batches = []
    vectors = encoder._vectors
    monkeypatch.setattr(encoder, "_vectors", lambda todo, *args: batches.append(list(todo)) or vectors(todo, *args))
    monkeypatch.setattr(encode_ahead, "_plan", encode_ahead.QueryPlan(texts))
    ahead = [encoder.encode(text) for text in texts]
    assert batches == [texts]  # the first query brought the others along
    encoder.prefetch(texts)
    assert ahead == [encoder.encode(text) for text in texts]


def test_batch_search_encodes_on_its_threads_and_gives_them_back(pipeline):
    from pyserini.search.lucene import LuceneImpactSearcher

    folder, work, _, queries, _ = pipeline
    searcher = LuceneImpactSearcher(str(work / "index"), MilcoQueryEncoder(str(folder), device="cpu"))
    assert torch.get_num_threads() == 1
    results = searcher.batch_search([t for _, t in queries], [q for q, _ in queries], k=5, threads=2)
    assert len(results) == len(queries) and torch.get_num_threads() == 1
    searcher.close()


def test_encode_ahead_is_installed_for_milco_commands_only(monkeypatch):
    from pyserini import query_iterator

    from pyserini_milco.integration.plugin import register_encode_ahead

    original = query_iterator.get_query_iterator
    monkeypatch.setattr(query_iterator, "_milco_registered", False, raising=False)
    monkeypatch.setattr(query_iterator, "get_query_iterator", original)
    monkeypatch.setattr(sys, "argv", ["search", "--impact", "--encoder", "naver/splade-v3"])
    register_encode_ahead()
    assert query_iterator.get_query_iterator is original
    monkeypatch.setattr(sys, "argv", ["search", "--impact", "--encoder", "milco-mini"])
    register_encode_ahead()
    assert query_iterator.get_query_iterator.__wrapped__ is original


def test_trec_eval_runs_on_the_run(pipeline):
    _, work, *_ = pipeline
    out = run("pyserini.eval.trec_eval", "-c", "-m", "ndcg_cut.10", "-m", "recall.100", work / "qrels.txt",
              work / "run.txt")
    assert "ndcg_cut_10" in out and "recall_100" in out


def test_pre_encoded_queries_give_the_same_run(pipeline):
    folder, work, *_ = pipeline
    run("pyserini_milco.encode_queries", "--topics", work / "topics.tsv", "--encoder", folder,
        "--output", work / "queries.jsonl", "--device", "cpu")
    run("pyserini.search.lucene", "--index", work / "index", "--topics", work / "topics.tsv", "--output",
        work / "run-cached.txt", "--impact", "--encoder", work / "queries.jsonl", "--hits", "1000")
    assert read_run(work / "run-cached.txt") == read_run(work / "run.txt")


def test_wrapper_resumes_and_prunes(official_checkpoint, tmp_path):
    folder, _ = official_checkpoint
    docs, _ = xquadr_slice(per_language=6)
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    args = ["input", "--corpus", tmp_path / "c.jsonl", "--fields", "title", "text", "output", "--embeddings",
            tmp_path / "out", "--docs-per-file", "10", "encoder", "--encoder", folder, "--device", "cpu",
            "--prune", "topk:5"]
    run("pyserini_milco.encode", *args)
    chunks = sorted((tmp_path / "out").glob("embeddings-s000-*.jsonl"))
    assert len(chunks) == 3
    for line in chunks[0].read_text(encoding="utf-8").splitlines():
        vector = json.loads(line)["vector"]
        assert sum(t.startswith("e_") for t in vector) <= 5 and sum(t.startswith("m_") for t in vector) <= 5
    first_inode = chunks[0].stat().st_ino
    chunks[-1].unlink()  # as if the run had died in the last chunk
    run("pyserini_milco.encode", *args)
    assert chunks[0].stat().st_ino == first_inode and chunks[-1].is_file()
    ids = [json.loads(l)["id"] for c in chunks for l in c.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted(d["id"] for d in docs)


def test_milco_checkpoints_are_recognised(official_checkpoint, tmp_path):
    folder, _ = official_checkpoint
    assert is_milco_checkpoint("milco") and is_milco_checkpoint("milco-mini")
    assert is_milco_checkpoint("omai-research/milco-650m") and is_milco_checkpoint(str(folder))
    assert not is_milco_checkpoint("naver/splade-v3")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert not is_milco_checkpoint(str(tmp_path))


def test_registration_puts_milco_first_and_checks_folders(official_checkpoint):
    folder, _ = official_checkpoint
    import pyserini.encode as encode

    assert next(iter(encode.document_encoder_class_map)) == "milco"
    built = encode.document_encoder_class_map["splade"](model_name=str(folder), device="cpu")
    assert isinstance(built, MilcoDocumentEncoder)  # chosen by the checkpoint, not by a substring


def test_query_pruning_from_environment_and_flag(official_checkpoint):
    from pyserini_milco.cli.options import add_encoding_options, options_from_args

    folder, _ = official_checkpoint
    assert EncodingOptions.from_env({"PYSERINI_MILCO_QUERY_PRUNE": "none"}).query_prune is None
    assert EncodingOptions.from_env({}).query_prune == DEFAULT_QUERY_PRUNE
    text = "Die Hauptstadt von Frankreich ist Paris."
    full = MilcoQueryEncoder(str(folder), options=EncodingOptions(query_prune=None)).encode(text)
    pruned = MilcoQueryEncoder(str(folder), options=EncodingOptions.from_env({"PYSERINI_MILCO_QUERY_PRUNE": "topk:3"}))
    vector = pruned.encode(text)
    assert sum(t.startswith("e_") for t in vector) <= 3 and sum(t.startswith("m_") for t in vector) <= 3
    assert len(full) > len(vector) and all(full[t] == w for t, w in vector.items())
    parser = argparse.ArgumentParser()
    add_encoding_options(parser, documents=False)
    assert options_from_args(parser.parse_args(["--prune", "topk:3"])).query_prune == PruneSpec.parse("topk:3")
    assert options_from_args(parser.parse_args(["--prune", "none"])).query_prune is None


def test_precision_reaches_the_model(official_checkpoint):
    folder, _ = official_checkpoint
    encoder = MilcoDocumentEncoder(str(folder), device="cpu", options=EncodingOptions(precision="bf16"))
    assert next(encoder.encoder.model.parameters()).dtype == torch.bfloat16
    assert encoder.encode(["Paris est la capitale."], titles=["Paris"])[0]
