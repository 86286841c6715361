"""Pyserini's corpus-iterator and writer contracts over our streaming reader and atomic writer.

``python -m pyserini.encode`` builds ``JsonlCollectionIterator(path, fields, docid_field,
delimiter)`` (which reads the whole corpus into memory) and ``JsonlRepresentationWriter(dir)``
(which writes ``embeddings.jsonl`` in place, the same name for every shard). For MILCO runs the
hook swaps in these two classes: documents stream with validation (errors name file and line;
``PYSERINI_MILCO_SKIP_BAD=1`` skips and counts bad lines instead), progress shows documents/s,
and the output appears atomically, one file per ``--shard-id`` (``embeddings-shard{ID}of{NUM}.jsonl``).
The writer is opened before the iterator learns its shard, so the two share a :class:`ShardInfo`.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..atomic import AtomicFile
from ..collection.corpus import CorpusReader, batched, progress_bar
from ..collection.writer import AtomicJsonlRepresentationWriter, shard_file_name


@dataclasses.dataclass
class ShardInfo:
    shard_id: int = 0
    shard_num: int = 1


def skip_bad_from_env() -> bool:
    return os.environ.get("PYSERINI_MILCO_SKIP_BAD", "").lower() in ("1", "true", "yes", "on")


class StreamingCollectionIterator:
    """``JsonlCollectionIterator``'s contract: ``it(batch_size, shard_id, shard_num)`` yields dicts of lists."""

    def __init__(self, collection_path: str, fields: Sequence[str] | None = None, docid_field: str | None = None,
                 delimiter: str = "\n", shard: ShardInfo | None = None):
        self.fields = list(fields or ["text"])
        self.reader = CorpusReader(collection_path, self.fields, docid_field, delimiter, skip_bad=skip_bad_from_env())
        self.shard = shard or ShardInfo()
        self.batch_size = 1

    def __call__(self, batch_size: int = 1, shard_id: int = 0, shard_num: int = 1) -> "StreamingCollectionIterator":
        self.batch_size = batch_size
        self.shard.shard_id, self.shard.shard_num = shard_id, shard_num
        return self

    def __iter__(self) -> Iterator[dict[str, list]]:
        shard_id, shard_num = self.shard.shard_id, self.shard.shard_num
        documents = self.reader.shard(shard_id, shard_num)
        with progress_bar(self.reader.shard_lines(shard_id, shard_num)) as bar:
            for batch in batched(documents, self.batch_size):
                info = {field: [doc.fields.get(field) for doc in batch] for field in self.fields}
                info["id"] = [doc.id for doc in batch]
                yield info
                bar.update(len(batch))
        print(self.reader.summary, file=sys.stderr)


class ShardFileWriter(AtomicJsonlRepresentationWriter):
    """The atomic writer, opened at the first batch so that the shard's own file name is known."""

    def __init__(self, dir_path: str, shard: ShardInfo | None = None):
        super().__init__(dir_path)
        self.shard = shard or ShardInfo()
        self.documents = 0
        self.terms = 0

    def __enter__(self) -> "ShardFileWriter":
        return self

    def _open(self) -> AtomicFile:
        if self.file is None:
            self.filename = shard_file_name(self.shard.shard_id, self.shard.shard_num)
            self.file = AtomicFile(Path(self.dir_path) / self.filename)
        return self.file

    def write(self, batch_info: Mapping[str, Sequence], fields: Sequence[str] | None = None) -> None:
        self._open()
        super().write(batch_info, fields)
        self.documents += len(batch_info["vector"])
        self.terms += sum(len(vector) for vector in batch_info["vector"])

    def __exit__(self, exc_type, exc, tb) -> None:
        self._open()  # an empty shard still gets its (empty) file
        super().__exit__(exc_type, exc, tb)
        if exc_type is None:
            average = self.terms / self.documents if self.documents else 0.0
            print(f"MILCO: wrote {self.documents} documents to {Path(self.dir_path) / self.filename}, "
                  f"{average:.1f} terms per document on average", file=sys.stderr)
