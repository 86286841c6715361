"""Atomic and resumable JsonVectorCollection output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyserini_milco.atomic import AtomicFile
from pyserini_milco.collection.corpus import CorpusReader, Document, batched
from pyserini_milco.collection.writer import (
    AtomicJsonlRepresentationWriter, ChunkedVectorWriter, completed_chunks, read_vectors, shard_file_name,
)


class Crash(RuntimeError):
    """The simulated failure of an encoding run."""


def write_corpus(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"d{i}", "title": f"T{i}", "text": f"B{i}"}) + "\n"
                            for i in range(n)))
    return path


def fake_vector(doc: Document) -> dict[str, int]:
    return {f"e_{doc.id}": 3, "m_▁美国": 1}


def encode(reader: CorpusReader, writer: ChunkedVectorWriter, shard: tuple[int, int] = (0, 1),
           crash_at: str | None = None, batch_size: int = 3) -> list[str]:
    """The encoding loop as the CLI runs it; returns the ids it encoded, raises Crash at ``crash_at``."""
    encoded = []
    with writer:
        for batch in batched(writer.pending(reader.shard(*shard)), batch_size):
            if crash_at in (doc.id for doc in batch):
                raise Crash(crash_at)
            encoded += [doc.id for doc in batch]
            writer.write_batch(batch, [fake_vector(doc) for doc in batch])
    return encoded


def written_ids(out_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for path in sorted(out_dir.glob("*.jsonl")) for line in path.open()]


def test_atomic_file_commits_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.jsonl"
    with AtomicFile(target) as out:
        out.write("one\n")
        assert not target.exists() and out.temp.name.startswith("out.jsonl.tmp-")
    assert target.read_text() == "one\n"
    with pytest.raises(Crash), AtomicFile(target) as out:
        out.write("two\n")
        raise Crash()
    assert target.read_text() == "one\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.jsonl"]


def test_pyserini_drop_in_writer(tmp_path):
    batch = {"id": ["a", "b"], "title": ["Ĥé", None], "text": ["x", "y"],
             "vector": [{"▁美国": 2}, np.array([1, 0])]}
    writer = AtomicJsonlRepresentationWriter(str(tmp_path))
    with writer:
        writer.write(batch, ["title", "text"])
        assert not (tmp_path / "embeddings.jsonl").exists()
    lines = (tmp_path / "embeddings.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"id": "a", "contents": "Ĥé\\nx", "vector": {"▁美国": 2}}'
    assert json.loads(lines[1]) == {"id": "b", "contents": "\ny", "vector": [1, 0]}


def test_pyserini_drop_in_writer_leaves_nothing_on_error(tmp_path):
    writer = AtomicJsonlRepresentationWriter(str(tmp_path), shard_id=1, shard_num=4)
    with pytest.raises(Crash), writer:
        writer.write({"id": ["a"], "text": ["x"], "vector": [{"a": 1}]})
        raise Crash()
    assert list(tmp_path.iterdir()) == []


def test_shard_file_names_are_distinct():
    assert shard_file_name() == "embeddings.jsonl"
    assert shard_file_name(2, 4) == "embeddings-shard2of4.jsonl"


def test_chunks_and_manifest(tmp_path):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 5), fields=["title", "text"])
    out = tmp_path / "out"
    encode(reader, ChunkedVectorWriter(out, docs_per_file=2, arguments={"encoder": "fake"}))
    assert sorted(p.name for p in out.iterdir()) == [  # documents only: Anserini reads everything inside
        "embeddings-s000-00000.jsonl", "embeddings-s000-00001.jsonl", "embeddings-s000-00002.jsonl"]
    first = (out / "embeddings-s000-00000.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert first == '{"id": "d0", "contents": "T0\\nB0", "vector": {"e_d0": 3, "m_▁美国": 1}}'
    manifest = json.loads((tmp_path / "out.manifests" / "embeddings-s000.json").read_text())
    assert manifest["docs"] == manifest["docs_written"] == 5
    assert [c["docs"] for c in manifest["chunks"]] == [2, 2, 1]
    assert manifest["terms_per_doc"] == {"docs": 5, "terms": 10, "min_terms": 2, "max_terms": 2,
                                         "empty_docs": 0, "mean_terms": 2.0}
    assert manifest["arguments"] == {"encoder": "fake"}
    assert read_vectors(out) == {f"d{i}": {f"e_d{i}": 3, "m_▁美国": 1} for i in range(5)}  # every chunk


def test_single_chunk_has_a_predictable_name(tmp_path):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 3))
    encode(reader, ChunkedVectorWriter(tmp_path / "out"))
    assert written_ids(tmp_path / "out") == ["d0", "d1", "d2"]
    assert (tmp_path / "out" / "embeddings-s000-00000.jsonl").exists()


def test_resume_after_crash_skips_finished_chunks(tmp_path):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 8))
    out = tmp_path / "out"
    with pytest.raises(Crash):  # 4 chunks of 2: 0 and 1 finish, chunk 2 holds d4 when d5 crashes
        encode(reader, ChunkedVectorWriter(out, docs_per_file=2), crash_at="d5", batch_size=1)
    assert sorted(p.name for p in out.iterdir()) == ["embeddings-s000-00000.jsonl", "embeddings-s000-00001.jsonl"]
    assert completed_chunks(out) == {0: 2, 1: 2}
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}

    writer = ChunkedVectorWriter(out, docs_per_file=2)
    assert encode(reader, writer, batch_size=3) == ["d4", "d5", "d6", "d7"]
    assert {name: (out / name).stat().st_ino for name in before} == {n: v[0] for n, v in before.items()}
    assert {name: (out / name).stat().st_mtime_ns for name in before} == {n: v[1] for n, v in before.items()}
    assert written_ids(out) == [f"d{i}" for i in range(8)]
    manifest = json.loads(writer.manifest_path.read_text())
    assert (manifest["docs"], manifest["docs_resumed"], manifest["docs_written"]) == (8, 4, 4)
    assert manifest["terms_per_doc"]["docs"] == 8


def test_finished_run_resumes_to_nothing(tmp_path):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 5))
    encode(reader, ChunkedVectorWriter(tmp_path / "out", docs_per_file=2))
    assert encode(reader, ChunkedVectorWriter(tmp_path / "out", docs_per_file=2)) == []
    assert written_ids(tmp_path / "out") == [f"d{i}" for i in range(5)]


def test_resume_refuses_a_changed_corpus(tmp_path):
    out = tmp_path / "out"
    encode(CorpusReader(write_corpus(tmp_path / "c.jsonl", 4)), ChunkedVectorWriter(out, docs_per_file=2))
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"id": f"x{i}", "text": "t"}) + "\n" for i in range(4)))
    with pytest.raises(ValueError, match=r"c\.jsonl:1: document 'x0' should head the finished .*00000\.jsonl"):
        encode(CorpusReader(tmp_path / "c.jsonl"), ChunkedVectorWriter(out, docs_per_file=2))


def test_resume_refuses_a_grown_corpus(tmp_path):
    out = tmp_path / "out"
    encode(CorpusReader(write_corpus(tmp_path / "c.jsonl", 3)), ChunkedVectorWriter(out, docs_per_file=2))
    with pytest.raises(ValueError, match=r"c\.jsonl:4: the shard has more documents"):
        encode(CorpusReader(write_corpus(tmp_path / "c.jsonl", 5)), ChunkedVectorWriter(out, docs_per_file=2))


def test_resume_refuses_another_docs_per_file(tmp_path):
    out = tmp_path / "out"
    encode(CorpusReader(write_corpus(tmp_path / "c.jsonl", 6)), ChunkedVectorWriter(out, docs_per_file=2))
    with pytest.raises(ValueError, match="holds 2 documents, which does not fit docs_per_file=3"):
        ChunkedVectorWriter(out, docs_per_file=3)


@pytest.mark.parametrize("shard_num", [1, 2, 3, 4])
def test_shards_share_one_directory(tmp_path, shard_num):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 10))
    out = tmp_path / "out"
    for shard_id in range(shard_num):
        encode(reader, ChunkedVectorWriter(out, docs_per_file=2, shard_id=shard_id, shard_num=shard_num),
               shard=(shard_id, shard_num))
    assert written_ids(out) == [f"d{i}" for i in range(10)]
    assert len(list((tmp_path / "out.manifests").glob("*.json"))) == shard_num


def test_stale_temporary_files_of_the_shard_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "embeddings-s000-00000.jsonl.tmp-99999").write_text("half")
    (out / "embeddings-s001-00000.jsonl.tmp-99999").write_text("other shard")
    encode(CorpusReader(write_corpus(tmp_path / "c.jsonl", 1)), ChunkedVectorWriter(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "embeddings-s000-00000.jsonl", "embeddings-s001-00000.jsonl.tmp-99999"]
    assert (tmp_path / "out.manifests" / "embeddings-s000.json").is_file()


@pytest.mark.parametrize("weight", [2.7, np.int64(2), True])
def test_weights_must_be_python_ints(tmp_path, weight):
    doc = Document("a", {"text": "x"}, "x", "c.jsonl", 1)
    with pytest.raises(TypeError, match="document 'a': weight of term 't'"), \
            ChunkedVectorWriter(tmp_path) as writer:
        writer.write(doc, {"t": weight})
    assert list(tmp_path.iterdir()) == []


def test_batch_needs_one_vector_per_document(tmp_path):
    doc = Document("a", {"text": "x"}, "x", "c.jsonl", 1)
    with pytest.raises(ValueError, match="1 documents but 0 vectors"), ChunkedVectorWriter(tmp_path) as writer:
        writer.write_batch([doc], [])


def test_empty_vectors_are_counted(tmp_path):
    reader = CorpusReader(write_corpus(tmp_path / "c.jsonl", 2))
    with ChunkedVectorWriter(tmp_path / "out") as writer:
        for doc in writer.pending(reader.shard()):
            writer.write(doc, {"a": 0} if doc.id == "d0" else {"a": 1, "b": 2})
    stats = json.loads(writer.manifest_path.read_text())["terms_per_doc"]
    assert (stats["empty_docs"], stats["min_terms"], stats["max_terms"], stats["mean_terms"]) == (1, 1, 2, 1.5)
