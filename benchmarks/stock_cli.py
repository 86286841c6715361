"""End to end through the stock Pyserini search commands, timed from outside: topics in, run file out.

Each command runs as a user types it (``python -m pyserini.search.lucene --impact --encoder …`` or
``python -m pyserini.search.faiss --encoder …``), once with every query and once with a single
one. The process's wall time includes its start-up (Python, torch, the JVM, the model, the index);
the difference of the two runs is the time the queries themselves take, so the reported q/s is
``(N - 1) / (seconds for N - seconds for 1)`` (None where start-up noise hides the queries' time);
both wall times are kept beside it.
"""
from __future__ import annotations

import argparse
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


def stock_command(method: str, index: str | Path, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The stock search command (module, flags) that searches ``index`` as ``method`` does (``milco``:
    ``args.encoder``; ``bm25``; ``dense-flat`` / ``dense-hnsw``: ``args.dense_encoder``, HNSW with
    ``args.ef_search``), ``args.hits`` hits per query."""
    hits = ["--hits", str(args.hits)]
    if method == "milco":
        return "pyserini.search.lucene", ["--index", str(index), "--impact", "--encoder", args.encoder, *hits]
    if method == "bm25":
        return "pyserini.search.lucene", ["--index", str(index), "--bm25", *hits]
    beam = ["--ef-search", str(args.ef_search)] if method == "dense-hnsw" else []
    return "pyserini.search.faiss", ["--index", str(index), "--encoder", args.dense_encoder, *beam, *hits]


def time_stock_commands(chosen: dict[str, tuple[str, str | Path]], topics: Path, work: Path,
                        args: argparse.Namespace) -> dict[str, Any]:
    """``{name: speed}``: the stock command of every chosen ``name: (method, index)`` timed on every
    query of ``topics`` (:func:`stock_speed`), each printed as it finishes."""
    speeds = {}
    for name, (method, index) in chosen.items():
        module, flags = stock_command(method, index, args)
        speeds[name] = {"command": " ".join(["python -m", module, *flags]), "method": method,
                        **stock_speed(module, flags, topics, work / "stock-cli" / name.replace(" ", "-"))}
        print(stock_line(name, speeds[name]), flush=True)
    return speeds


def stock_line(name: str, speed: dict[str, Any]) -> str:
    """One printed line: the stock command's q/s beyond start-up and its wall times, per flag set."""
    def one(flags: str, measure: dict[str, Any]) -> str:
        qps = "n/a" if measure["qps"] is None else f"{measure['qps']:.1f} q/s"
        return f"{flags}: {qps} ({measure['seconds_all']:.1f} s for all, {measure['seconds_one']:.1f} s for one)"

    return (f"stock CLI {name} ({speed['queries']} queries): "
            + "; ".join(one(flags, measure) for flags, measure in speed["flag_sets"].items()))


def stock_ratios(speeds: dict[str, Any]) -> list[str]:
    """Each MILCO command's q/s over every other command's, per flag set (all in this run)."""
    lines = []
    milco = {name: speed for name, speed in speeds.items() if speed["method"] == "milco"}
    others = {name: speed for name, speed in speeds.items() if speed["method"] != "milco"}
    for name, speed in milco.items():
        for other, reference in others.items():
            parts = [f"{flags} {measure['qps'] / reference['flag_sets'][flags]['qps']:.2f}x"
                     for flags, measure in speed["flag_sets"].items()
                     if measure["qps"] and reference["flag_sets"][flags]["qps"]]
            lines.append(f"stock CLI {name} ÷ {other}: q/s " + (", ".join(parts) or "n/a (start-up noise hid the "
                                                                              "queries' time)"))
    return lines
