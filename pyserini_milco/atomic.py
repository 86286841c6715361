"""Atomic outputs: a reader never sees a half-written file or index.

Everything is first written to a temporary name in the target's own folder (same file system, so
``os.replace`` is an atomic rename) and only moved into place once complete. An interrupted run
leaves the previous output, or nothing, never a truncated one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary file name next to ``path`` for a writer (possibly another program);
    on success rename it to ``path``, on error delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it to ``path``, on error delete it."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
        yield handle


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; on success it replaces ``path``.

    An existing ``path`` is set aside only once the new folder is complete, and deleted after the
    new one took its name (two renames: a crash between them leaves both folders, never a mix).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a normal folder's mode
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def temp_path(path: Path) -> Path:
    """Where ``path`` is written before it is complete: ``NAME.tmp-<pid>``."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


class AtomicFile:
    """A UTF-8 text file that appears under its name only on :meth:`commit`.

    As a context manager it commits on success and aborts (deletes the temporary file, leaves
    any earlier final file alone) on an exception.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.temp = temp_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.temp, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        """Append text to the temporary file."""
        self.file.write(text)

    def commit(self) -> None:
        """Flush to disk, then rename into place (atomic on POSIX file systems)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        """Drop what was written."""
        self.file.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
