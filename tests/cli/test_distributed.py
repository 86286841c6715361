"""Distributed encoding on a local Ray cluster writes what the single-process encoder writes, and resumes."""
import json
import sys

import pytest

from pyserini_milco.cli import distributed, encode
from pyserini_milco.collection.writer import read_vectors
from tiny import TEXTS


def write_corpus(path, count=23):
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            text = " ".join(TEXTS[j % len(TEXTS)] for j in range(i, i + 1 + i % 3))
            handle.write(json.dumps({"id": f"d{i}", "contents": text}, ensure_ascii=False) + "\n")
    return path


def encode_argv(corpus, out, checkpoint):
    return ["input", "--corpus", str(corpus), "output", "--embeddings", str(out), "--docs-per-file", "3",
            "encoder", "--encoder", str(checkpoint), "--batch-size", "4", "--max-length", "64"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for this module's tests."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'pyserini-milco[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_output_equals_single_process_and_resumes(tmp_path, official_checkpoint, ray_cluster):
    checkpoint, _ = official_checkpoint
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    single, spread = tmp_path / "single", tmp_path / "ray"
    encode.main(encode_argv(corpus, single, checkpoint) + ["--device", "cpu"])
    argv = encode_argv(corpus, spread, checkpoint) + ["ray", "--workers", "2", "--shards", "3"]
    first = distributed.run(*distributed.parse(argv))
    distributed.shard_writer(distributed.parse(argv)[0], 1, 3).manifest_path.unlink()  # as if shard 1 crashed
    resumed = distributed.run(*distributed.parse(argv))  # after its last chunk: the chunks are kept
    assert read_vectors(spread) == read_vectors(single) and len(read_vectors(single)) == 23
    assert {p.name[:15] for p in spread.glob("*.jsonl")} == {"embeddings-s000", "embeddings-s001", "embeddings-s002"}
    assert first["encoded_shards"] == 3 and first["docs"] == 23 and not first["errors"]
    assert resumed["encoded_shards"] == 1 and resumed["skipped_shards"] == 2 and resumed["docs"] == 0


def test_a_bad_line_fails_its_shard_only(tmp_path, official_checkpoint, ray_cluster, capsys):
    checkpoint, _ = official_checkpoint
    corpus = write_corpus(tmp_path / "corpus.jsonl", count=8)
    with open(corpus, "a", encoding="utf-8") as handle:
        handle.write('{"id": "broken"\n')
    argv = encode_argv(corpus, tmp_path / "out", checkpoint) + ["ray", "--workers", "1", "--shards", "2"]
    with pytest.raises(SystemExit, match=r"shard 1: .*corpus.jsonl:9: not JSON"):
        distributed.main(argv)
    summary = json.loads(capsys.readouterr().out)
    assert summary["encoded_shards"] == 1 and summary["docs"] == 4


def test_flags_are_checked_before_any_work(tmp_path):
    base = encode_argv(tmp_path / "c.jsonl", tmp_path / "out", "milco-mini")
    with pytest.raises(SystemExit, match="ray --shards"):
        distributed.parse(base[:3] + ["--shard-num", "2"] + base[3:])
    with pytest.raises(SystemExit, match="gpus-per-worker 1"):
        distributed.parse(base + ["--device", "cuda", "ray", "--workers", "2"])
    with pytest.raises(SystemExit, match="leave --device out"):
        distributed.parse(base + ["--device", "cpu", "ray", "--gpus-per-worker", "1"])


def test_help_lists_every_sub_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        distributed.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("== input ==", "== output ==", "== encoder ==", "== ray ==", "--gpus-per-worker", "--shards",
                 "--address", "--docs-per-file"):
        assert flag in text


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SystemExit, match=r"pyserini-milco\[ray\]"):
        distributed.import_ray()
