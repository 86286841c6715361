"""Streaming corpus reader: Pyserini's field handling, validation messages, skip mode, gz and
directory input, Pyserini's sharding, bounded memory."""
from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import pytest

from pyserini_milco.collection.corpus import (
    CorpusError, CorpusReader, FieldSpec, batched, corpus_files, count_file_lines, parse_line,
    progress_bar, shard_bounds,
)

PYSERINI_BASE = Path(pytest.importorskip("pyserini").__file__).parent / "encode" / "_base.py"


def write_lines(path: Path, lines: list[str | bytes], newline_at_end: bool = True) -> Path:
    """A corpus file from lines (dicts are written as JSON); ``.gz`` names are compressed."""
    raw = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    raw += b"\n" if newline_at_end else b""
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def doc_line(doc_id: str, **fields: str) -> str:
    return json.dumps({"id": doc_id, **fields}, ensure_ascii=False)


def pyserini_parse_fields():
    """Pyserini's own ``_parse_fields_from_info``, compiled from its source without importing
    pyserini.encode (that would import torch and take seconds)."""
    tree = ast.parse(PYSERINI_BASE.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "JsonlCollectionIterator")
    func = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_parse_fields_from_info")
    namespace: dict = {}
    exec(compile(ast.Module([func], type_ignores=[]), str(PYSERINI_BASE), "exec"), namespace)
    return namespace["_parse_fields_from_info"]


FIELD_CASES = [
    {"id": "1", "title": " T ", "text": " body "},
    {"id": "2", "title": "", "text": "body"},
    {"id": "3", "title": None, "text": "body"},
    {"id": "4", "contents": "Title\nBody text"},
    {"id": "5", "contents": "Title only\n"},
    {"id": "6", "contents": "  T  \n  B  \n"},
    {"id": "7", "title": "T", "contents": "Title\nBody"},
]


@pytest.mark.parametrize("info", FIELD_CASES, ids=lambda info: info["id"])
def test_fields_match_pyserini(tmp_path, info):
    spec = FieldSpec(("title", "text"))
    stub = type("Stub", (), {"fields": list(spec.fields), "delimiter": spec.delimiter})()
    expected = pyserini_parse_fields()(stub, info)
    doc = parse_line(json.dumps(info).encode(), spec, "c.jsonl", 1)
    assert list(doc.fields.values()) == expected
    assert doc.text == " ".join(v for v in expected if v)


def test_text_joins_title_and_text_like_splade():
    spec = FieldSpec(("title", "text"))
    assert parse_line(doc_line("a", title="T", text="B").encode(), spec, "c", 1).text == "T B"
    assert parse_line(doc_line("a", title="", text="B").encode(), spec, "c", 1).text == "B"
    assert parse_line(b'{"id": "a", "contents": "B"}', FieldSpec(), "c", 1).text == "B"


def test_id_keys_and_docid_field():
    assert parse_line(b'{"_id": 7, "text": "x"}', FieldSpec(), "c", 1).id == "7"
    assert parse_line(b'{"docid": "d", "text": "x"}', FieldSpec(), "c", 1).id == "d"
    assert parse_line(b'{"id": "i", "_id": "j", "text": "x"}', FieldSpec(), "c", 1).id == "i"
    custom = FieldSpec(docid_field="pid")
    assert parse_line(b'{"pid": "p", "id": "i", "text": "x"}', custom, "c", 1).id == "p"


BAD_LINES = [
    (b"\xff\xfe not utf-8", "not_utf8", "byte 0xff at byte 1 is not UTF-8"),
    (b'{"id": "x", "text": ', "not_json", "not JSON"),
    (b"   ", "not_json", "empty line"),
    (b'["id", "x"]', "not_object", "a JSON list, not an object"),
    (b'{"text": "x"}', "no_id", "id key 'id/_id/docid' is missing"),
    (b'{"id": "", "text": "x"}', "no_id", "expected a non-empty string"),
    (b'{"id": ["x"], "text": "x"}', "no_id", "expected a non-empty string"),
    (b'{"id": "x", "text": "  "}', "no_text", "has only empty fields"),
    (b'{"id": "x", "body": "b"}', "no_text", "nor a string 'contents'"),
    (b'{"id": "x", "text": 3}', "bad_fields", "field 'text' is a int"),
    (b'{"id": "x", "contents": "a\\nb"}', "bad_fields", "splits into 2 parts"),
    (b'{"id": "good", "text": "again"}', "duplicate_id", "id 'good' appeared on an earlier line"),
]


@pytest.mark.parametrize("raw,reason,message", BAD_LINES, ids=[case[1] for case in BAD_LINES])
def test_bad_line_names_file_and_line(tmp_path, raw, reason, message):
    path = write_lines(tmp_path / "c.jsonl", [doc_line("good", text="fine"), raw])
    with pytest.raises(CorpusError) as caught:
        list(CorpusReader(path).documents())
    assert str(caught.value).startswith(f"{path}:2: ")
    assert message in str(caught.value)
    assert (caught.value.reason, caught.value.line) == (reason, 2)


def test_skip_bad_counts_each_reason(tmp_path):
    lines = [doc_line("good", text="fine")] + [raw for raw, _, _ in BAD_LINES] + [doc_line("last", text="x")]
    reader = CorpusReader(write_lines(tmp_path / "c.jsonl", lines), skip_bad=True)
    assert [doc.id for doc in reader.documents()] == ["good", "last"]
    expected = {}
    for _, reason, _ in BAD_LINES:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(reader.summary.skipped) == expected
    assert (reader.summary.lines, reader.summary.documents) == (len(lines), 2)
    assert f"{tmp_path / 'c.jsonl'}:2:" in str(reader.summary)


def test_directory_reads_corpus_files_in_sorted_order(tmp_path):
    write_lines(tmp_path / "b.jsonl.gz", [doc_line("b1", text="x"), doc_line("b2", text="y")])
    write_lines(tmp_path / "a.jsonl", [doc_line("a1", text="x")], newline_at_end=False)
    (tmp_path / "notes.txt").write_text("not a corpus file")
    write_lines(tmp_path / ".hidden.jsonl", ["garbage"])
    assert [p.name for p in corpus_files(tmp_path)] == ["a.jsonl", "b.jsonl.gz"]
    docs = list(CorpusReader(tmp_path).documents())
    assert [(d.id, Path(d.source).name, d.line) for d in docs] == [
        ("a1", "a.jsonl", 1), ("b1", "b.jsonl.gz", 1), ("b2", "b.jsonl.gz", 2)]


def test_gz_line_numbers_in_errors(tmp_path):
    path = write_lines(tmp_path / "c.jsonl.gz", [doc_line("a", text="x"), doc_line("b", text="y"), "oops"])
    with pytest.raises(CorpusError, match=rf"^{path}:3: not JSON"):
        list(CorpusReader(path).documents())


def test_truncated_gz_is_unreadable_even_when_skipping(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(doc_line(f"d{i}", text="x" * 50).encode() + b"\n"
                                            for i in range(200)))[:-100])
    with pytest.raises(CorpusError, match="cannot be read after line") as caught:
        list(CorpusReader(path, skip_bad=True).documents())
    assert caught.value.reason == "unreadable"


def test_missing_corpus_and_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CorpusReader(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="no \\*.jsonl"):
        CorpusReader(tmp_path)


def test_byte_order_mark_and_line_counts(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [b"\xef\xbb\xbf" + doc_line("a", text="x").encode(),
                                             doc_line("b", text="y")], newline_at_end=False)
    assert [d.id for d in CorpusReader(path).documents()] == ["a", "b"]
    assert count_file_lines(path) == 2
    assert count_file_lines(write_lines(tmp_path / "e.jsonl", [], newline_at_end=False)) == 0


def test_non_ascii_text_is_kept(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [doc_line("美", title="Ĥé", text="美国 🙂")])
    (doc,) = CorpusReader(path, fields=["title", "text"]).documents()
    assert (doc.id, doc.text) == ("美", "Ĥé 美国 🙂")


@pytest.mark.parametrize("shard_num", [1, 2, 3, 4])
def test_shards_cover_every_document_once(tmp_path, shard_num):
    ids = [f"d{i}" for i in range(11)]
    write_lines(tmp_path / "p0.jsonl", [doc_line(i, text="x") for i in ids[:4]])
    write_lines(tmp_path / "p1.jsonl.gz", [doc_line(i, text="x") for i in ids[4:5]])
    write_lines(tmp_path / "p2.jsonl", [doc_line(i, text="x") for i in ids[5:]])
    reader = CorpusReader(tmp_path)
    shards = [[d.id for d in reader.shard(s, shard_num)] for s in range(shard_num)]
    assert sum(shards, []) == ids
    size = len(ids) // shard_num  # Pyserini: int(total / shard_num), the last shard takes the rest
    assert [len(s) for s in shards] == [size] * (shard_num - 1) + [len(ids) - size * (shard_num - 1)]
    assert [reader.shard_lines(s, shard_num) for s in range(shard_num)] == [len(s) for s in shards]


def test_shard_positions_count_bad_lines_too(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [doc_line("a", text="x"), "bad", doc_line("b", text="y"),
                                             doc_line("c", text="z")])
    reader = CorpusReader(path, skip_bad=True)
    assert [[d.id for d in reader.shard(s, 2)] for s in range(2)] == [["a"], ["b", "c"]]


def test_bad_shard_arguments():
    with pytest.raises(ValueError, match="0 <= shard_id < shard_num"):
        shard_bounds(10, 2, 2)
    with pytest.raises(ValueError, match="shard_num >= 1"):
        shard_bounds(10, 0, 0)


def test_batched_streams_lists():
    assert list(batched(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="batch size"):
        list(batched([], 0))


def test_progress_bar_counts_documents_from_resumed_start():
    with progress_bar(10, initial=4, desc="t") as bar:
        bar.update(3)
        assert (bar.n, bar.total, bar.unit) == (7, 10, "doc")


def peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM) in KiB."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_200k_lines_stream_with_bounded_memory(tmp_path):
    clear_refs = Path("/proc/self/clear_refs")
    if not clear_refs.exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    path = tmp_path / "big.jsonl"
    filler = "lorem ipsum " * 20
    with open(path, "w") as out:
        out.writelines(f'{{"id":"{i}","contents":"{filler}{i}"}}\n' for i in range(200_000))
    reader = CorpusReader(path)
    clear_refs.write_text("5")  # resets VmHWM to the current RSS
    before = peak_rss_kib()
    assert sum(len(batch) for batch in batched(reader.documents(), 256)) == 200_000
    growth = (peak_rss_kib() - before) * 1024
    # Only the duplicate-id set grows (~110 bytes per short id: 22 MB here); holding the 53 MB
    # corpus whole as Documents would add about 127 MB.
    assert growth < 110 * 200_000 + 10_000_000 < path.stat().st_size
