"""JsonVectorCollection output, written atomically and resumably.

Every output file is written as ``NAME.tmp-<pid>`` and renamed (``os.replace``) to ``NAME`` only
once complete and flushed to disk, so a killed run never leaves a file that looks complete.

:class:`ChunkedVectorWriter` writes one shard as chunks of ``docs_per_file`` documents::

    OUT/{prefix}-s{shard_id:03d}-{chunk:05d}.jsonl            e.g. embeddings-s000-00000.jsonl
    OUT.manifests/{prefix}-s{shard_id:03d}.json               summary, written when the shard is done

(chunk numbers count within the shard, from 0; a single-shard, single-chunk run therefore always
gives ``embeddings-s000-00000.jsonl``). Manifests live BESIDE the output folder, not in it:
Anserini's JsonVectorCollection reads every file under its input folder, hidden files and
subfolders included, whatever the name (a manifest inside made indexing fail), so the folder holds
documents only and can be indexed as it is. Several shards can write into one folder.

Resume: a chunk whose final file exists is complete. On restart :meth:`ChunkedVectorWriter.pending`
passes over the documents of complete chunks without yielding them (the reader still parses
them, which is cheap next to encoding), after checking that the first document's id is the one
at the head of the chunk file (a changed corpus or ``docs_per_file`` raises). Only one writer may
run per shard and output directory at a time: stale temporary files of the shard are deleted.

:class:`AtomicJsonlRepresentationWriter` is a drop-in for Pyserini's ``JsonlRepresentationWriter``
(same ``write(batch_info, fields)``) with atomic output and one file name per shard.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..atomic import AtomicFile
from ..errors import MilcoError, OptionError
from .corpus import Document, check_shard, count_file_lines


class ResumeError(MilcoError, ValueError):
    """The finished chunks of an output folder do not fit this run (another corpus, sharding or chunk size)."""


def contents_of(values: Iterable[str | None]) -> str:
    """The ``contents`` Pyserini writes: the fields joined by newlines, None as empty."""
    return "\n".join(value if value is not None else "" for value in values)


def vector_line(doc_id: str, contents: str, vector: Any) -> str:
    """One JsonVectorCollection line (non-ASCII kept as is)."""
    return json.dumps({"id": doc_id, "contents": contents, "vector": vector}, ensure_ascii=False) + "\n"


def check_vector(doc_id: str, vector: Mapping[str, int]) -> None:
    """Refuse weights that are not Python ints: Anserini truncates floats (2.7 becomes 2) and
    JSON cannot write numpy integers, so quantize before writing."""
    for term, weight in vector.items():
        if type(weight) is not int:
            raise TypeError(f"document '{doc_id}': weight of term {term!r} is {type(weight).__name__} "
                            f"{weight!r}; quantize vectors to Python ints before writing")


# --- Pyserini drop-in --------------------------------------------------------------------------

def read_vectors(folder: str | Path) -> dict[str, dict[str, int]]:
    """``{id: vector}`` over every ``*.jsonl`` file of a JsonVectorCollection folder, whoever wrote
    it (for comparing outputs and for small demos: the whole folder is held in memory)."""
    vectors = {}
    for chunk in sorted(Path(folder).glob("*.jsonl")):
        with open(chunk, encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                vectors[record["id"]] = record["vector"]
    return vectors


def shard_file_name(shard_id: int = 0, shard_num: int = 1) -> str:
    """``embeddings.jsonl`` (Pyserini's name) for one shard, else ``embeddings-shard{ID}of{NUM}.jsonl``
    so that shards writing into one directory do not overwrite each other."""
    return "embeddings.jsonl" if shard_num == 1 else f"embeddings-shard{shard_id}of{shard_num}.jsonl"


class AtomicJsonlRepresentationWriter:
    """Pyserini's ``JsonlRepresentationWriter`` interface, written atomically, one name per shard."""

    def __init__(self, dir_path: str, shard_id: int = 0, shard_num: int = 1) -> None:
        self.dir_path = dir_path
        self.filename = shard_file_name(shard_id, shard_num)
        self.file: AtomicFile | None = None

    def __enter__(self) -> "AtomicJsonlRepresentationWriter":
        """Start the temporary file (Pyserini's writer opens its file here too)."""
        self.file = AtomicFile(Path(self.dir_path) / self.filename)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Rename into place on success; on an exception delete the temporary file."""
        self.file.__exit__(exc_type, exc, tb)

    def write(self, batch_info: Mapping[str, Sequence], fields: Sequence[str] | None = None) -> None:
        """Write a batch (``batch_info['id'|field|'vector'][i]``); ``fields`` default to Pyserini's
        default ``--fields text``."""
        for i, doc_id in enumerate(batch_info["id"]):
            vector = batch_info["vector"][i]
            vector = vector.tolist() if hasattr(vector, "tolist") else vector
            contents = contents_of(batch_info[key][i] for key in (fields or ("text",)))
            self.file.write(vector_line(doc_id, contents, vector))


# --- chunked, resumable output -----------------------------------------------------------------

@dataclasses.dataclass
class TermStats:
    """Terms per document over a shard; ``empty_docs`` have no positive weight (Anserini does
    not index them)."""

    docs: int = 0
    terms: int = 0
    min_terms: int | None = None
    max_terms: int = 0
    empty_docs: int = 0

    def add(self, vector: Mapping[str, int]) -> None:
        n = len(vector)
        self.docs += 1
        self.terms += n
        self.min_terms = n if self.min_terms is None else min(self.min_terms, n)
        self.max_terms = max(self.max_terms, n)
        self.empty_docs += not any(weight > 0 for weight in vector.values())

    def add_file(self, path: Path) -> None:
        """Add the vectors of a finished chunk file (on resume)."""
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                self.add(json.loads(line)["vector"])

    def as_dict(self) -> dict[str, Any]:
        """The counts plus the mean, for the manifest."""
        mean = self.terms / self.docs if self.docs else 0.0
        return {**dataclasses.asdict(self), "mean_terms": round(mean, 3)}


def chunk_name(prefix: str, shard_id: int, chunk: int) -> str:
    """``{prefix}-s{shard:03d}-{chunk:05d}.jsonl``: sorts in corpus order within a shard."""
    return f"{prefix}-s{shard_id:03d}-{chunk:05d}.jsonl"


def manifest_name(prefix: str, shard_id: int) -> str:
    """``{prefix}-s{shard:03d}.json``."""
    return f"{prefix}-s{shard_id:03d}.json"


def manifest_dir(out_dir: str | Path) -> Path:
    """``OUT.manifests``, beside the output folder (Anserini would read anything inside it)."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.manifests"


def _chunk_pattern(prefix: str, shard_id: int) -> re.Pattern:
    """Matches the chunk names of one shard (chunk numbers may outgrow five digits)."""
    return re.compile(rf"{re.escape(prefix)}-s{shard_id:03d}-(\d{{5,}})\.jsonl")


def completed_chunks(out_dir: str | Path, prefix: str = "embeddings", shard_id: int = 0) -> dict[int, int]:
    """Finished chunks of a shard: chunk number → documents in its file (lines)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return {}
    pattern = _chunk_pattern(prefix, shard_id)
    found = {int(m.group(1)): out_dir / m.group(0) for m in map(pattern.fullmatch, os.listdir(out_dir)) if m}
    return {chunk: count_file_lines(path) for chunk, path in sorted(found.items())}


def _first_id(path: Path) -> str:
    """The id on the first line of a finished chunk file."""
    with open(path, encoding="utf-8") as lines:
        return json.loads(next(lines))["id"]


class ChunkedVectorWriter:
    """Writes one shard as atomic chunk files plus a manifest; resumes after a crash.

    Use as a context manager around the encoding loop; feed it the documents that
    :meth:`pending` yields, all of them, in order (see :mod:`pyserini_milco.collection.corpus`). On an
    exception the chunk in progress is dropped and no manifest is written; finished chunks stay.
    ``arguments`` (JSON-serializable) are recorded in the manifest.
    """

    def __init__(self, out_dir: str | Path, docs_per_file: int = 100_000, prefix: str = "embeddings",
                 shard_id: int = 0, shard_num: int = 1, arguments: Mapping[str, Any] | None = None) -> None:
        if docs_per_file < 1:
            raise OptionError(f"docs_per_file must be >= 1, got {docs_per_file}")
        check_shard(shard_id, shard_num)
        self.out_dir = Path(out_dir)
        self.docs_per_file = docs_per_file
        self.prefix, self.shard_id, self.shard_num = prefix, shard_id, shard_num
        self.arguments = dict(arguments or {})
        self.resumed = completed_chunks(out_dir, prefix, shard_id)
        self._check_resumed()
        self.resumed_docs = sum(self.resumed.values())
        self.finished: dict[int, int] = {}
        self.written_docs = 0
        self._position = 0
        self._chunk: tuple[int, AtomicFile] | None = None
        self._stats = TermStats()

    def chunk_path(self, chunk: int) -> Path:
        """Final path of a chunk of this shard."""
        return self.out_dir / chunk_name(self.prefix, self.shard_id, chunk)

    @property
    def manifest_path(self) -> Path:
        """Final path of this shard's manifest."""
        return manifest_dir(self.out_dir) / manifest_name(self.prefix, self.shard_id)

    def _restart_hint(self) -> str:
        """What to do when the finished chunks do not fit this run."""
        return (f"resume with the corpus, sharding and docs_per_file of the first run, or delete the "
                f"{self.prefix}-s{self.shard_id:03d}-* files in {self.out_dir} to start over")

    def _check_resumed(self) -> None:
        """Only the last finished chunk may be short, and none may be long."""
        last = max(self.resumed, default=None)
        for chunk, docs in self.resumed.items():
            if docs > self.docs_per_file or (docs < self.docs_per_file and chunk != last):
                raise ResumeError(f"{self.chunk_path(chunk)} holds {docs} documents, which does not fit "
                                 f"docs_per_file={self.docs_per_file}; {self._restart_hint()}")

    def pending(self, docs: Iterable[Document]) -> Iterator[Document]:
        """The documents still to encode: those of finished chunks are checked and passed over."""
        for position, doc in enumerate(docs):
            chunk, offset = divmod(position, self.docs_per_file)
            if chunk not in self.resumed:
                yield doc
                continue
            if offset >= self.resumed[chunk]:
                raise ResumeError(f"{doc.source}:{doc.line}: the shard has more documents than the first run "
                                 f"wrote to the finished {self.chunk_path(chunk)}; {self._restart_hint()}")
            if offset == 0:
                self._check_head(chunk, doc)

    def _check_head(self, chunk: int, doc: Document) -> None:
        path = self.chunk_path(chunk)
        if _first_id(path) != doc.id:
            raise ResumeError(f"{doc.source}:{doc.line}: document '{doc.id}' should head the finished {path}, "
                             f"which starts with another id; {self._restart_hint()}")

    def write(self, doc: Document, vector: Mapping[str, int]) -> None:
        """Append one encoded document to the current chunk, finishing it when full."""
        check_vector(doc.id, vector)
        self._open_chunk().write(vector_line(doc.id, contents_of(doc.fields.values()), vector))
        self._stats.add(vector)
        self.written_docs += 1
        self._position += 1
        if self._position % self.docs_per_file == 0:
            self._finish_chunk()

    def write_batch(self, docs: Sequence[Document], vectors: Sequence[Mapping[str, int]]) -> None:
        """Write a batch and the encoder's vectors for it, in order."""
        if len(docs) != len(vectors):
            raise ValueError(f"{len(docs)} documents but {len(vectors)} vectors: the encoder must return one per text")
        for doc, vector in zip(docs, vectors):
            self.write(doc, vector)

    def _open_chunk(self) -> AtomicFile:
        """The chunk file for the next position, past finished chunks (as ``pending`` skipped them)."""
        if self._chunk is None:
            while self._position // self.docs_per_file in self.resumed:
                self._position += self.docs_per_file
            chunk = self._position // self.docs_per_file
            self._chunk = (chunk, AtomicFile(self.chunk_path(chunk)))
        return self._chunk[1]

    def _finish_chunk(self) -> None:
        """Rename the current chunk into place and record its documents."""
        chunk, file = self._chunk
        file.commit()
        self.finished[chunk] = self._position - chunk * self.docs_per_file
        self._chunk = None

    def __enter__(self) -> "ChunkedVectorWriter":
        """Create the output directory and clear what a killed run of this shard left."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path.parent.mkdir(exist_ok=True)
        self._remove_stale_temps()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """On success finish the last chunk and write the manifest; on error drop the open chunk."""
        if exc_type is not None:
            if self._chunk is not None:
                self._chunk[1].abort()
            return
        if self._chunk is not None:
            self._finish_chunk()
        with AtomicFile(self.manifest_path) as manifest:
            manifest.write(json.dumps(self.manifest(), indent=2, ensure_ascii=False) + "\n")

    def _remove_stale_temps(self) -> None:
        """Temporary files a killed run of this shard left behind."""
        stem = glob.escape(f"{self.prefix}-s{self.shard_id:03d}")
        for folder, pattern in ((self.out_dir, f"{stem}-*.jsonl.tmp-*"),
                                (self.manifest_path.parent, f"{stem}.json.tmp-*")):
            for path in folder.glob(pattern):
                path.unlink(missing_ok=True)

    def manifest(self) -> dict[str, Any]:
        """The shard's summary: documents, chunks, terms per document (finished chunks of an
        earlier run are read back for it), arguments."""
        stats = dataclasses.replace(self._stats)
        for chunk in sorted(self.resumed):
            stats.add_file(self.chunk_path(chunk))
        chunks = sorted({**self.resumed, **self.finished}.items())
        return {
            "prefix": self.prefix, "shard_id": self.shard_id, "shard_num": self.shard_num,
            "docs_per_file": self.docs_per_file, "docs": stats.docs,
            "docs_resumed": self.resumed_docs, "docs_written": self.written_docs,
            "chunks": [{"file": self.chunk_path(c).name, "docs": n} for c, n in chunks],
            "terms_per_doc": stats.as_dict(), "arguments": self.arguments,
        }
