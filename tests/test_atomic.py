"""Atomic outputs: complete or absent, never half-written."""
from __future__ import annotations

import pytest

from pyserini_milco.atomic import _umask, atomic_directory, atomic_output, atomic_path


def test_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as handle:
        handle.write("done")
        assert not target.exists()
    assert target.read_text() == "done" and target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write("partial")
        raise RuntimeError("interrupted")
    assert target.read_text() == "done" and [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_path_for_other_writers_and_directory_swap(tmp_path):
    with atomic_path(tmp_path / "run.txt") as tmp:
        tmp.write_text("by another program")
    assert (tmp_path / "run.txt").read_text() == "by another program"
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "old").write_text("x")
    with atomic_directory(tmp_path / "index") as tmp:
        (tmp / "new").write_text("y")
        assert (tmp_path / "index" / "old").exists()
    assert [p.name for p in (tmp_path / "index").iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "run.txt"]
