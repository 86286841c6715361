"""Helpers shared by the benchmarks: thread settings, timing, machine description, result files, and
the search measures (queries/s, index size, nDCG@10) that the impact, BM25 and dense rows share."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pyserini_milco.atomic import atomic_output
from pyserini_milco.encoding.options import optional_prune_label as level_name
from pyserini_milco.encoding.pruning import PruneSpec
from pyserini_milco.evaluation.metrics import Run, evaluate, read_qrels
from pyserini_milco.evaluation.xquadr import Setting
from pyserini_milco.evaluation.xquadr_folder import Prepared

NDCG = "ndcg_cut_10"


def set_threads(threads: int) -> None:
    """Give torch ``threads`` CPU threads (1 is fastest on a shared 2-core machine: less contention)."""
    import torch

    torch.set_num_threads(threads)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timer measures the work and not its launch."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(function: Callable[[], Any], device: str = "cpu") -> tuple[float, Any]:
    """(wall-clock seconds, result) of one call, the device synchronized before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    """Median of the repeats: robust to one run slowed by another process on a shared machine."""
    return statistics.median(values)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what the platform module knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(device: str) -> str:
    """One line naming the hardware and software a number was measured on, and the load average
    (other processes sharing the cores slow every measure down)."""
    import torch

    cores = os.cpu_count()
    where = (f"{cpu_name()}, {cores} cores (load average {os.getloadavg()[0]:.2f}), torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch thread(s)")
    if device.startswith("cuda"):
        where = f"{torch.cuda.get_device_name(torch.device(device))}; host {where}"
    return where


def write_json(path: str | os.PathLike | None, results: dict[str, Any]) -> None:
    """Save results atomically when a path is given."""
    if path is None:
        return
    with atomic_output(path) as handle:
        json.dump(results, handle, indent=1)
        handle.write("\n")


def default_encoder() -> str:
    """milco-mini-base's folder (built offline on first use; untrained)."""
    from pyserini_milco.mini.build import base_model_folder

    return str(base_model_folder())


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (an index's size on disk)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def to_run(results: dict[str, list]) -> Run:
    """Pyserini's ``batch_search`` output as ``{qid: {docid: score}}``."""
    return {qid: {hit.docid: hit.score for hit in hits} for qid, hits in results.items()}


def java_queries(searcher, texts: Sequence[str], number: str = "java.lang.Integer"):
    """The Java query maps that ``LuceneImpactSearcher.batch_search`` builds (weights as ``number``:
    Anserini's search takes Integer, its ``BagOfWordsQueryGenerator`` Float), built once up front."""
    from pyserini.pyclass import autoclass

    from pyserini_milco.integration.impact_search import query_vector

    array, hash_map, boxed = autoclass("java.util.ArrayList"), autoclass("java.util.HashMap"), autoclass(number)
    queries = array()
    for text in texts:
        query = hash_map()
        for term, weight in query_vector(searcher, text).items():
            query.put(term, boxed(int(weight)))  # Pyserini's JInt(weight)
        queries.add(query)
    return queries


def java_qids(qids: Sequence[str]):
    """Query ids as a Java list."""
    from pyserini.pyclass import autoclass

    ids = autoclass("java.util.ArrayList")()
    for qid in qids:
        ids.add(qid)
    return ids


#: Seconds each measure runs untimed first (``--warm-up``): Java compiles a hot path only after many
#: calls, so the first measure of a run was up to 3x slower than the same measure repeated.
WARM_UP_SECONDS = 1.0


def add_warm_up_argument(parser: argparse.ArgumentParser) -> None:
    """``--warm-up SECONDS``, read by :func:`search_speed`."""
    parser.add_argument("--warm-up", type=float, default=WARM_UP_SECONDS,
                        help="seconds each speed measure runs untimed before it is timed (Java compiles a hot path "
                             f"only after many calls; default {WARM_UP_SECONDS:g})")


def qps(search, count: int, repeats: int, warm_up: float) -> float:
    """Queries per second: median of ``repeats`` timed calls, after calls untimed for ``warm_up`` seconds."""
    deadline = time.perf_counter() + warm_up
    while time.perf_counter() < deadline:
        search()
    return count / median([timed(search)[0] for _ in range(repeats)])


def evenly(items: Sequence, count: int) -> Sequence:
    """About ``count`` items spread over ``items`` (every k-th), so that every language is in a sample
    (query vectors stay one array: ``FaissSearcher.batch_search`` takes them so)."""
    picked = items[::max(1, len(items) // count)]
    return picked if hasattr(picked, "shape") else list(picked)


def parallel_map(function: Callable, items: Sequence, threads: int) -> list:
    """``[function(item) for item in items]`` on up to ``threads`` threads (which leave the JVM when
    done, as pyjnius asks); the first error is raised in the caller."""
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    from jnius import detach

    results: list = [None] * len(items)
    errors: list[BaseException] = []
    counter = itertools.count()

    def work() -> None:
        try:
            for i in iter(lambda: next(counter), None):
                if i >= len(items) or errors:
                    break
                results[i] = function(items[i])
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            errors.append(error)
        finally:
            detach()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(min(threads, len(items)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results


def lucene_alone(searcher, texts: Sequence[str]) -> Callable[[int, int], None]:
    """``search(k, threads)``: Lucene's own top-k (``IndexSearcher.search(query, k)``, the index's
    impact similarity) of ``texts``' queries, built up front as Anserini builds them
    (``BagOfWordsQueryGenerator`` over the Java maps of :func:`java_queries`): the floor under any
    path from Python, with no conversion, sort by docid, stored document or hit object."""
    from pyserini.pyclass import autoclass

    generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
    maps = java_queries(searcher, texts, "java.lang.Float")
    queries = [generator.buildQuery("contents", maps.get(i)) for i in range(maps.size())]
    index_searcher = autoclass("org.apache.lucene.search.IndexSearcher")(searcher.object.reader)
    index_searcher.setSimilarity(searcher.object.get_similarity())

    def search(k: int, threads: int) -> None:
        parallel_map(lambda query: index_searcher.search(query, k), queries, threads)

    return search


def search_speed(searcher, qids: list[str], texts: list[str], args: argparse.Namespace,
                 impact: bool) -> tuple[Run, dict[str, dict[int, float]]]:
    """The run of every query, and queries/s on ``--speed-queries`` of them at each ``--threads``:
    Pyserini end to end, and for impact search also Anserini's search alone (``java_qps``: the
    queries handed over as Java maps, as Pyserini's own path does) and Lucene's top-k alone
    (``lucene_qps``: :func:`lucene_alone`). Each measure is warmed up first (:func:`qps`)."""
    run = to_run(searcher.batch_search(texts, qids, k=args.hits, threads=args.threads[0]))
    ids, queries = evenly(qids, args.speed_queries), evenly(texts, args.speed_queries)
    speed: dict[str, dict[int, float]] = {"qps": {}, "java_qps": {}, "lucene_qps": {}} if impact else {"qps": {}}
    if impact:
        converted = (java_queries(searcher, queries), java_qids(ids))
        lucene = lucene_alone(searcher, queries)
    for count in args.threads:
        speed["qps"][count] = qps(lambda: searcher.batch_search(queries, ids, k=args.hits, threads=count), len(ids),
                                  args.repeats, args.warm_up)
        if impact:
            speed["java_qps"][count] = qps(lambda: searcher.object.batch_search(*converted, args.hits, count),
                                           len(ids), args.repeats, args.warm_up)
            speed["lucene_qps"][count] = qps(lambda: lucene(args.hits, count), len(ids), args.repeats, args.warm_up)
    return run, speed


def ndcg_by_setting(run: Run, prepared: Prepared, settings: Sequence[Setting], qids: set[str]) -> dict[str, float]:
    """nDCG@10 of every setting over the questions asked (``qids``), and their mean (``mean``)."""
    scores = {}
    for setting in settings:
        qrels = {qid: judged for qid, judged in read_qrels(prepared.qrels(setting)).items() if qid in qids}
        scores[setting.name] = evaluate(qrels, run, ["ndcg_cut.10"])[NDCG]
    return {**{name: round(value, 4) for name, value in scores.items()},
            "mean": round(sum(scores.values()) / len(scores), 4)}


def latency_ms(search_one, items: Sequence) -> dict[str, float]:
    """p50 and p99 of the milliseconds that ``search_one(item)`` takes, one item at a time."""
    import numpy as np

    seconds = [timed(lambda: search_one(item))[0] for item in items]
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}


def end_to_end(make_searcher, qids: list[str], texts: list[str], threads: Sequence[int], hits: int) -> dict[str, Any]:
    """Queries/s (``batch_search``, each of ``threads``) and per-query latency (``search``, one at a
    time) with query encoding included: text in, hits out. Every measure gets a fresh searcher from
    ``make_searcher`` (an encoder may keep the queries it encoded), warmed on a query outside the
    set and not timed with its loading; one timed call per measure."""
    warm = "a warm-up question outside the query set"

    def fresh():
        searcher = make_searcher()
        searcher.search(warm, k=hits)
        return searcher

    speed: dict[str, Any] = {"qps": {}}
    for count in threads:
        searcher = fresh()
        seconds, _ = timed(lambda: searcher.batch_search(texts, qids, k=hits, threads=count))
        speed["qps"][count] = len(qids) / seconds
    searcher = fresh()
    speed["latency_ms"] = latency_ms(lambda text: searcher.search(text, k=hits), texts)
    return speed


def parse_level(text: str) -> PruneSpec | None:
    """``none`` or a ``--prune`` value (``topk:K``, ``mass:P``, ``quantile:P``)."""
    return None if text == "none" else PruneSpec.parse(text)


def encode_queries(encoder_name: str, topics: Path, out: Path, max_length: int, prune: PruneSpec | None) -> float:
    """Pre-encode ``topics`` with ``python -m pyserini_milco.encode_queries --prune``; returns the wall time."""
    from pyserini_milco.integration import pyserini_cli

    args = ["--topics", topics, "--encoder", encoder_name, "--output", out, "--device", "cpu",
            "--max-length", str(max_length), "--prune", level_name(prune)]
    seconds, _ = timed(lambda: pyserini_cli.run("pyserini_milco.encode_queries", args, log=out.with_suffix(".log")))
    return seconds
