"""End to end through the stock Pyserini search commands, timed from outside: topics in, run file out.

Each command runs as a user types it (``python -m pyserini.search.lucene --impact --encoder …`` or
``python -m pyserini.search.faiss --encoder …``), once with every query and once with a single
one. The process's wall time includes its start-up (Python, torch, the JVM, the model, the index);
the difference of the two runs is the time the queries themselves take, so the reported q/s is
``(N - 1) / (seconds for N - seconds for 1)`` (None where start-up noise hides the queries' time);
both wall times are kept beside it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .common import timed

#: Flag sets timed for every command: Pyserini's defaults, and batches on the machine's two cores.
FLAG_SETS: dict[str, tuple[str, ...]] = {"defaults": (),
                                          "batch 64, 2 threads": ("--batch-size", "64", "--threads", "2")}


def first_topics(topics: Path, count: int, out: Path) -> Path:
    """The first ``count`` lines of a ``qid<TAB>text`` topics file, written to ``out``."""
    lines = topics.read_text(encoding="utf-8").splitlines(keepends=True)[:count]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines), encoding="utf-8")
    return out


def wall_seconds(module: str, args: Sequence[str | Path], log: Path) -> float:
    """Seconds that ``python -m module args`` takes, start-up included."""
    from pyserini_milco.integration import pyserini_cli

    seconds, _ = timed(lambda: pyserini_cli.run(module, list(args), log=log))
    return seconds


def stock_speed(module: str, args: Sequence[str | Path], topics: Path, work: Path,
                flag_sets: dict[str, tuple[str, ...]] = FLAG_SETS) -> dict[str, Any]:
    """``{"queries": N, "flag_sets": {name: measure}}``: per flag set, the wall seconds of ``module args``
    on all of ``topics`` and on its first query, and the q/s of the queries beyond start-up; ``args``
    are the command's flags other than the topics, the output and the flag set's."""
    count = sum(1 for _ in topics.open(encoding="utf-8"))
    one = first_topics(topics, 1, work / "one-query.tsv")
    speeds: dict[str, Any] = {}
    for name, flags in flag_sets.items():
        slug = name.replace(" ", "-").replace(",", "")
        single = wall_seconds(module, [*args, *flags, "--topics", one, "--output", work / f"{slug}-one.txt"],
                              work / f"{slug}-one.log")
        every = wall_seconds(module, [*args, *flags, "--topics", topics, "--output", work / f"{slug}.txt"],
                             work / f"{slug}.log")
        speeds[name] = {"flags": " ".join(flags) or "(none)", "seconds_all": round(every, 2),
                        "seconds_one": round(single, 2),
                        "qps": (count - 1) / (every - single) if count > 1 and every > single else None}
    return {"queries": count, "flag_sets": speeds}
