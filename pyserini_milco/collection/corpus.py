"""Streaming reader of Pyserini JsonCollection corpora, with validation and Pyserini's sharding.

Pyserini's ``JsonlCollectionIterator`` loads the whole corpus into lists before encoding; this
reader never holds more than one line (plus the set of ids seen, see below).

Input: a ``.jsonl`` file, a ``.jsonl.gz`` file, or a directory whose ``*.jsonl`` and
``*.jsonl.gz`` files (not recursive; other and hidden files are ignored) are read in sorted name
order. Lines are split at ``b"\\n"`` only and must be UTF-8 (a byte order mark at the start of a
file is dropped).

Fields follow ``JsonlCollectionIterator._parse_fields_from_info`` (strict mode, trailing spaces
stripped: Pyserini's special cases for file names containing "mbeir" or "bright", and its 'path'
fields for multimodal input, are not reproduced): when every field is a key of the object,
values are taken from the keys (stripped; empty or missing becomes None), otherwise ``contents``
is split at ``delimiter`` (one trailing delimiter dropped, spaces stripped). The id is
``docid_field`` when given, else the first key present of ``id``, ``_id``, ``docid``.
``Document.text`` joins the non-empty fields with one space, as Pyserini's SPLADE encoder joins
title and text (``f"{title} {text}"``).

Sharding (same ranges as Pyserini): with ``N`` lines in all, ``shard_size = N // shard_num``;
shard ``i`` holds global line positions ``[i * shard_size, (i + 1) * shard_size)`` and the last
shard also takes the remainder. Contiguous ranges need ``N`` in advance, so a first pass counts
``b"\\n"`` bytes (plus an unterminated last line) per file, in 1 MiB blocks: disk speed for plain
files, a full decompression for ``.gz`` files. It runs only when ``shard_num > 1`` or when a total
is asked for. Positions count lines, not valid documents, so that every shard agrees on its range
without reading the others; for every corpus Pyserini accepts (one document per line) the ranges
are Pyserini's.

Duplicate ids are found within what one iteration reads (one shard, never across shards) by
keeping a set of the ids: about 110 bytes per short id (measured: 22 MB for 200,000 ids, against
127 MB to hold the same 53 MB corpus whole), i.e. roughly 1 GB per 10 million documents. With
``skip_bad`` the first occurrence of an id is kept.

Typical loop (``pending`` comes from :class:`pyserini_milco.collection.writer.ChunkedVectorWriter`)::

    reader = CorpusReader(path, fields=["title", "text"], skip_bad=True)
    writer = ChunkedVectorWriter(out_dir, docs_per_file, shard_id=shard_id, shard_num=shard_num)
    docs = writer.pending(reader.shard(shard_id, shard_num))
    with writer, progress_bar(reader.shard_lines(shard_id, shard_num), writer.resumed_docs) as bar:
        for batch in batched(docs, batch_size):
            # the encoder returns one {term: int} per text (quantized)
            writer.write_batch(batch, encoder.encode([d.text for d in batch]))
            bar.update(len(batch))
    print(reader.summary)
"""
from __future__ import annotations

import collections
import dataclasses
import gzip
import itertools
import json
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from tqdm import tqdm

from ..errors import MilcoError, MissingInput, OptionError

CORPUS_SUFFIXES = (".jsonl", ".jsonl.gz")
ID_KEYS = ("id", "_id", "docid")
_BLOCK = 1 << 20
_BOM = "\ufeff"
#: What to do about a bad line; appended to every skippable error message.
SKIP_HINT = ("fix or remove the line, or skip and count bad lines (--skip-bad-lines; "
             "PYSERINI_MILCO_SKIP_BAD=1 with python -m pyserini.encode)")

#: Reasons a line is rejected; with ``skip_bad`` these lines are skipped and counted.
REASONS = {
    "not_utf8": "bytes that are not UTF-8",
    "not_json": "not JSON",
    "not_object": "not a JSON object",
    "no_id": "no usable id",
    "bad_fields": "fields that do not match --fields",
    "no_text": "no text",
    "duplicate_id": "duplicate id",
}


class CorpusError(MilcoError, ValueError):
    """A corpus problem at ``source:line``; ``reason`` is a key of :data:`REASONS` or
    ``"unreadable"`` (a file that cannot be read at all, never skipped)."""

    def __init__(self, source: str, line: int, reason: str, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    """One corpus line: ``fields`` in ``--fields`` order, ``text`` the encoder input,
    ``source`` the file and ``line`` its 1-based line number (for messages)."""

    id: str
    fields: dict[str, str | None]
    text: str
    source: str
    line: int


@dataclasses.dataclass
class ReadSummary:
    """What one iteration read: lines looked at, documents yielded, lines skipped per reason
    (with the first message of each reason, so the user can find an example)."""

    lines: int = 0
    documents: int = 0
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    first_error: dict[str, str] = dataclasses.field(default_factory=dict)

    def skip(self, error: CorpusError) -> None:
        """Count a skipped line under its reason."""
        self.skipped[error.reason] += 1
        self.first_error.setdefault(error.reason, str(error))

    def __str__(self) -> str:
        text = f"read {self.lines} lines: {self.documents} documents"
        if not self.skipped:
            return text + ", no line skipped"
        details = "".join(
            f"\n  {count} with {REASONS[reason]} (first: {self.first_error[reason]})"
            for reason, count in sorted(self.skipped.items())
        )
        return f"{text}, {sum(self.skipped.values())} lines skipped:{details}"


def corpus_files(path: str | Path) -> list[Path]:
    """The files of a corpus: ``path`` itself, or the sorted corpus files of a directory."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingInput(f"corpus {path} does not exist: give a .jsonl/.jsonl.gz file or a directory of them")
    files = sorted(
        p for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith(CORPUS_SUFFIXES)
    )
    if not files:
        raise MissingInput(f"corpus directory {path} holds no *.jsonl or *.jsonl.gz file")
    return files


def _open_binary(path: Path) -> BinaryIO:
    """The file's (decompressed) bytes; ``.gz`` names are read through gzip."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


class _ReadGuard:
    """Turns a broken gzip stream into a CorpusError naming the file and the lines read so far
    (kept up to date in ``line``)."""

    def __init__(self, path: Path) -> None:
        self.path, self.line = path, 0

    def __enter__(self) -> "_ReadGuard":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None and issubclass(exc_type, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise CorpusError(
                str(self.path), self.line + 1, "unreadable",
                f"the file cannot be read after line {self.line} ({exc}); re-create or re-download it",
            ) from exc


def count_file_lines(path: Path) -> int:
    """Lines of one file by counting ``b"\\n"`` in blocks; an unterminated last line counts."""
    guard, last = _ReadGuard(path), b"\n"
    with guard, _open_binary(path) as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            guard.line += block.count(b"\n")
            last = block[-1:]
    return guard.line + (last != b"\n")


def _file_lines(path: Path) -> Iterator[bytes]:
    """Raw lines of one file, streamed."""
    guard = _ReadGuard(path)
    with guard, _open_binary(path) as stream:
        for raw in stream:
            yield raw
            guard.line += 1


def check_shard(shard_id: int, shard_num: int) -> None:
    """Refuse a shard that does not exist (e.g. a 1-based --shard-id)."""
    if shard_num < 1 or not 0 <= shard_id < shard_num:
        raise OptionError(f"shard {shard_id} of {shard_num}: need shard_num >= 1 and 0 <= shard_id < shard_num "
                         f"(shard ids count from 0)")


def shard_bounds(total: int, shard_id: int, shard_num: int) -> tuple[int, int]:
    """Pyserini's contiguous range ``[start, stop)`` of positions for one shard."""
    check_shard(shard_id, shard_num)
    size = total // shard_num
    start = shard_id * size
    return start, total if shard_id == shard_num - 1 else start + size


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter), streamed."""
    if size < 1:
        raise OptionError(f"batch size must be >= 1, got {size}")
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def progress_bar(total: int | None, initial: int = 0, desc: str = "encoding") -> tqdm:
    """A tqdm bar in documents and documents/s for the encoding loop; ``initial`` counts
    documents already done by an earlier run (resume), so the bar starts there."""
    return tqdm(total=total, initial=initial, desc=desc, unit="doc", unit_scale=True,
                smoothing=0.05, dynamic_ncols=True)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """How a line becomes fields and an id: Pyserini's ``--fields``, ``--docid-field`` and
    ``--delimiter``."""

    fields: Sequence[str] = ("text",)
    docid_field: str | None = None
    delimiter: str = "\n"

    def __post_init__(self) -> None:
        if not self.fields:
            raise OptionError("fields must name at least one field, e.g. ['title', 'text']")
        if not self.delimiter:
            raise OptionError("delimiter must not be empty")


def _decode(raw: bytes, where: tuple[str, int]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(*where, "not_utf8",
                          f"byte 0x{raw[err.start]:02x} at byte {err.start + 1} is not UTF-8; "
                          f"re-encode the file as UTF-8 or {SKIP_HINT}") from err


def _load_object(text: str, where: tuple[str, int]) -> dict:
    if not text.strip():
        raise CorpusError(*where, "not_json", f"empty line; {SKIP_HINT}")
    try:
        info = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorpusError(*where, "not_json", f"not JSON ({err.msg} at column {err.colno}); {SKIP_HINT}") from err
    if not isinstance(info, dict):
        raise CorpusError(*where, "not_object", f"a JSON {type(info).__name__}, not an object; {SKIP_HINT}")
    return info


def _doc_id(info: dict, spec: FieldSpec, where: tuple[str, int]) -> str:
    """The id as Pyserini finds it (``info.get('id', info.get('_id', ...))``), as a string."""
    if spec.docid_field:
        key, value = spec.docid_field, info.get(spec.docid_field)
    else:
        key = next((k for k in ID_KEYS if k in info), "/".join(ID_KEYS))
        value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        found = "missing" if value is None else json.dumps(value, ensure_ascii=False)[:40]
        raise CorpusError(*where, "no_id", f"id key '{key}' is {found}, expected a non-empty string or "
                                           f"integer (set the id key with --docid-field); {SKIP_HINT}")
    return str(value)


def _field_values(info: dict, spec: FieldSpec, where: tuple[str, int]) -> list[str | None]:
    """Values of ``spec.fields`` from keys, or split from ``contents``, as Pyserini does."""
    if all(field in info for field in spec.fields):
        values = [info[field] for field in spec.fields]
        for field, value in zip(spec.fields, values):
            if value is not None and not isinstance(value, str):
                raise CorpusError(*where, "bad_fields", f"field '{field}' is a {type(value).__name__}, "
                                                        f"expected a string or null; {SKIP_HINT}")
        return [value.strip() if value else None for value in values]
    contents = info.get("contents")
    if not isinstance(contents, str):
        raise CorpusError(*where, "no_text", f"neither all of the keys {', '.join(spec.fields)} nor a string "
                                             f"'contents' (choose the keys with --fields); {SKIP_HINT}")
    return _split_contents(contents, spec, where)


def _split_contents(contents: str, spec: FieldSpec, where: tuple[str, int]) -> list[str | None]:
    if contents.count(spec.delimiter) == len(spec.fields) and contents.endswith(spec.delimiter):
        contents = contents[: -len(spec.delimiter)]
    parts = [part.strip(" ") for part in contents.split(spec.delimiter)]
    if len(parts) != len(spec.fields):
        raise CorpusError(*where, "bad_fields",
                          f"'contents' splits into {len(parts)} parts at delimiter {spec.delimiter!r}, "
                          f"but {len(spec.fields)} fields ({', '.join(spec.fields)}) are expected; "
                          f"fix --fields/--delimiter or {SKIP_HINT}")
    return parts


def parse_line(raw: bytes, spec: FieldSpec, source: str, line: int) -> Document:
    """One raw corpus line as a Document; a CorpusError (naming ``source:line``) if it is bad."""
    where = (source, line)
    decoded = _decode(raw, where)
    info = _load_object(decoded.removeprefix(_BOM) if line == 1 else decoded, where)
    doc_id = _doc_id(info, spec, where)
    values = _field_values(info, spec, where)
    text = " ".join(value for value in values if value and value.strip())
    if not text:
        raise CorpusError(*where, "no_text", f"document '{doc_id}' has only empty fields "
                                             f"({', '.join(spec.fields)}); {SKIP_HINT}")
    return Document(doc_id, dict(zip(spec.fields, values)), text, source, line)


class CorpusReader:
    """Streams a corpus as Documents, one shard at a time; see the module docstring.

    ``summary`` describes the latest iteration (reset when one starts). With ``skip_bad`` the
    lines rejected for a reason in :data:`REASONS` are skipped and counted, otherwise the first
    raises CorpusError. Unreadable files always raise.
    """

    def __init__(self, path: str | Path, fields: Sequence[str] = ("text",), docid_field: str | None = None,
                 delimiter: str = "\n", skip_bad: bool = False) -> None:
        self.files = corpus_files(path)
        self.spec = FieldSpec(tuple(fields), docid_field, delimiter)
        self.skip_bad = skip_bad
        self.summary = ReadSummary()
        self._line_counts: list[int] | None = None

    def line_counts(self) -> list[int]:
        """Lines per file (the cheap first pass, done once)."""
        if self._line_counts is None:
            self._line_counts = [count_file_lines(path) for path in self.files]
        return self._line_counts

    def shard_range(self, shard_id: int = 0, shard_num: int = 1) -> tuple[int, int]:
        """Global line positions ``[start, stop)`` of a shard (counts lines when needed)."""
        if shard_num == 1 and shard_id == 0:
            return 0, sys.maxsize
        return shard_bounds(sum(self.line_counts()), shard_id, shard_num)

    def shard_lines(self, shard_id: int = 0, shard_num: int = 1) -> int:
        """Lines in a shard (an upper bound of its documents), e.g. for a progress bar total."""
        start, stop = shard_bounds(sum(self.line_counts()), shard_id, shard_num)
        return stop - start

    def shard(self, shard_id: int = 0, shard_num: int = 1) -> Iterator[Document]:
        """The valid documents of one shard, in corpus order."""
        return self.documents(*self.shard_range(shard_id, shard_num))

    def documents(self, start: int = 0, stop: int = sys.maxsize) -> Iterator[Document]:
        """The valid documents at global line positions ``[start, stop)``."""
        self.summary = summary = ReadSummary()
        seen: set[str] = set()
        for path, line, raw in self._numbered_lines(start, stop):
            summary.lines += 1
            try:
                doc = parse_line(raw, self.spec, str(path), line)
                if doc.id in seen:
                    raise CorpusError(str(path), line, "duplicate_id",
                                      f"id '{doc.id}' appeared on an earlier line; {SKIP_HINT}")
            except CorpusError as err:
                if not self.skip_bad:
                    raise
                summary.skip(err)
                continue
            seen.add(doc.id)
            summary.documents += 1
            yield doc

    def _numbered_lines(self, start: int, stop: int) -> Iterator[tuple[Path, int, bytes]]:
        """(file, 1-based line, raw bytes) at global positions ``[start, stop)``; whole files
        before ``start`` are passed over using the line counts when they are known."""
        position = 0
        for index, path in enumerate(self.files):
            if position >= stop:
                return
            if self._line_counts is not None and position + self._line_counts[index] <= start:
                position += self._line_counts[index]
                continue
            for line, raw in enumerate(_file_lines(path), start=1):
                if position >= stop:
                    return
                if position >= start:
                    yield path, line, raw
                position += 1
