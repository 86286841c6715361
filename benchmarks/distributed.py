"""Scaling of distributed encoding: documents/s with 1, 2, ... Ray workers and without Ray, same run.

The corpus is the first ``--docs`` sentences of XQuAD-R's English pool (or ``--corpus``). Measured:

* ``single``: ``python -m pyserini_milco.encode``'s code in this process (model loading timed apart);
* ``ray-N``: ``python -m pyserini_milco.distributed`` with N CPU workers of one core each on a local
  Ray cluster started once (cluster start-up excluded; actor start-up and each actor's model
  loading included, as a user pays them), ``--shards`` shards in every configuration;
  ``actor_busy_seconds`` sums the time the actors spent encoding shards (no start-up).

Every configuration writes a fresh folder, and all must hold the same vectors (checked). On a
machine whose cores are shared with other work the speed-up says as much about that work as
about Ray; the machine line and ``os.getloadavg()`` before each run are printed with the numbers.

Example (from the repository root)::

    python -m benchmarks.distributed --work /tmp/milco-ray --docs 400 --workers 1 2
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from pyserini_milco.cli import distributed, encode
from pyserini_milco.collection.writer import ChunkedVectorWriter, read_vectors
from pyserini_milco.evaluation.xquadr import PIVOT, load_xquadr
from pyserini_milco.evaluation.xquadr_folder import write_corpus

from .common import default_encoder, machine, set_threads, timed, write_json


def prepare_corpus(work: Path, docs: int, data_dir: Path | None) -> Path:
    """The first ``docs`` English XQuAD-R sentences as a JsonCollection file."""
    candidates = load_xquadr(data_dir, [PIVOT])[PIVOT].candidates[:docs]
    path = work / "corpus.jsonl"
    write_corpus(candidates, path)
    return path


def encode_argv(corpus: Path, out: Path, encoder: str, batch_size: int) -> list[str]:
    """The ``input … output … encoder …`` arguments shared by every configuration."""
    return ["input", "--corpus", str(corpus), "output", "--embeddings", str(out), "--docs-per-file", "1000",
            "encoder", "--encoder", encoder, "--batch-size", str(batch_size)]


def fresh(folder: Path) -> Path:
    """``folder`` and its shards' manifests removed, so that nothing is resumed."""
    for path in {folder, ChunkedVectorWriter(folder).manifest_path.parent}:
        shutil.rmtree(path, ignore_errors=True)
    return folder


def run_single(argv: list[str]) -> dict[str, float]:
    """The single-process encoder: model loading and encoding timed apart."""
    args = encode.parse(argv + ["--device", "cpu", "--threads", "1"])
    load_seconds, encoder = timed(lambda: encode.load_encoder(args["encoder"]))
    seconds, manifest = timed(lambda: encode.encode_shard(args, encoder))
    return {"seconds": seconds, "model_loading_seconds": load_seconds, "docs": manifest["docs"]}


def run_ray(argv: list[str], workers: int, shards: int) -> dict[str, float]:
    """One distributed run with ``workers`` one-core CPU actors."""
    args, cluster = distributed.parse(argv + ["ray", "--workers", str(workers), "--shards", str(shards)])
    summary = distributed.run(args, cluster)
    return {"seconds": summary["seconds"], "docs": summary["docs"],
            "actor_busy_seconds": round(sum(summary["shard_seconds"].values()), 2)}


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpus, outputs and results")
    parser.add_argument("--encoder", default=None, help="checkpoint (default: milco-mini-base, built offline)")
    parser.add_argument("--corpus", type=Path, default=None, help="JsonCollection to encode (default: XQuAD-R en)")
    parser.add_argument("--docs", type=int, default=400, help="sentences of XQuAD-R's English pool to encode")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to time")
    parser.add_argument("--shards", type=int, default=8, help="shards in every Ray configuration")
    parser.add_argument("--batch-size", type=int, default=32, help="documents per forward pass")
    parser.add_argument("--data-dir", type=Path, default=None, help="XQuAD-R folder (default: ../shared/data/xquad-r)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when every configuration wrote the single-process vectors."""
    args = build_parser().parse_args(argv)
    ray = distributed.import_ray()
    set_threads(1)
    encoder = args.encoder or default_encoder()
    corpus = args.corpus or prepare_corpus(args.work, args.docs, args.data_dir)
    outputs = {"single": fresh(args.work / "single")}
    rows = {"single": {**run_single(encode_argv(corpus, outputs["single"], encoder, args.batch_size)),
                       "load": os.getloadavg()[0]}}
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    try:
        for workers in args.workers:
            name = f"ray-{workers}"
            outputs[name] = fresh(args.work / name)
            load = os.getloadavg()[0]
            rows[name] = {**run_ray(encode_argv(corpus, outputs[name], encoder, args.batch_size), workers,
                                    args.shards), "load": load}
    finally:
        ray.shutdown()
    reference = read_vectors(outputs["single"])
    for name, row in rows.items():
        row["docs_per_s"] = row["docs"] / row["seconds"]
        row["same_vectors"] = read_vectors(outputs[name]) == reference
        print(f"{name:>7}: {row['docs']} docs in {row['seconds']:.1f} s = {row['docs_per_s']:.1f} docs/s "
              f"(load average {row['load']:.2f} before), same vectors: {row['same_vectors']}")
    first = rows[f"ray-{args.workers[0]}"]["docs_per_s"]
    for workers in args.workers[1:]:
        print(f"speed-up ray-{workers} / ray-{args.workers[0]}: {rows[f'ray-{workers}']['docs_per_s'] / first:.2f}x")
    write_json(args.work / "distributed.json", {"machine": machine("cpu"), "encoder": encoder, "rows": rows})
    return 0 if all(row["same_vectors"] for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
