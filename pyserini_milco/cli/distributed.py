"""``python -m pyserini_milco.distributed``: encode a corpus on a Ray cluster, one encoder per worker.

Takes the ``input``/``output``/``encoder`` sub-commands of ``python -m pyserini_milco.encode``
(the same flags, the same meaning) plus a ``ray`` sub-command. The corpus is split into
``ray --shards`` shards with Pyserini's ranges; Ray Data's ``map_batches`` hands the shard ids, one
per batch, to a pool of ``ray --workers`` actors, each holding one loaded encoder (on one GPU, or
on ``--cpus-per-worker`` CPU cores). An actor encodes a whole shard exactly as ``python -m
pyserini_milco.encode --shard-id I --shard-num N`` does (streaming read, validation, atomic chunk
files ``embeddings-s{I:03d}-{CHUNK:05d}.jsonl`` and the shard's manifest), so the output folder is
the same JsonVectorCollection and indexes with ``python -m pyserini.index.lucene --collection
JsonVectorCollection --impact --pretokenized``. (``input --shard-id/--shard-num`` are not used
here: the runner picks the shards.)

Every worker reads the corpus and writes the output folder itself: on a multi-machine cluster
both must be on a shared file system. Resuming: a shard whose manifest exists is finished and not
submitted again; an unfinished shard keeps its finished chunks (see
:class:`pyserini_milco.collection.writer.ChunkedVectorWriter`). Rerun the same command after a crash. More
shards than workers (the default is 4 per worker) balance the load and lose less work on a crash.

Needs the optional extra: ``pip install 'pyserini-milco[ray]'``. Example (2 GPUs)::

    python -m pyserini_milco.distributed input --corpus corpus.jsonl --fields title text \\
        output --embeddings encoded/ encoder --encoder milco --batch-size 64 \\
        ray --workers 2 --gpus-per-worker 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..collection.corpus import CorpusError, check_shard
from ..collection.writer import ChunkedVectorWriter
from . import encode

RAY_COMMAND = "ray"
SHARDS_PER_WORKER = 4


def import_ray():
    """``ray`` and ``ray.data``, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise SystemExit("error: distributed encoding needs Ray Data: pip install 'pyserini-milco[ray]' "
                         f"(or pip install 'ray[data]'); importing it failed: {err}") from err
    return ray


def ray_parser() -> argparse.ArgumentParser:
    """Flags of the ``ray`` sub-command."""
    parser = argparse.ArgumentParser(prog="... ray", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (e.g. auto, or ray://HOST:10001); default: start a local cluster")
    parser.add_argument("--workers", type=int, default=None,
                        help="encoder actors, each loading the model once (default: the local cluster's GPUs "
                             "when --gpus-per-worker > 0, else its CPUs / --cpus-per-worker)")
    parser.add_argument("--gpus-per-worker", type=float, default=0,
                        help="GPUs per actor; above 0 the encoder runs on the GPU Ray assigns (device cuda)")
    parser.add_argument("--cpus-per-worker", type=int, default=1,
                        help="CPU cores per actor; CPU actors give torch this many threads unless encoder --threads")
    parser.add_argument("--shards", type=int, default=None,
                        help=f"shards the corpus is split into: units of work and of resuming "
                             f"(default: {SHARDS_PER_WORKER} per worker)")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs of a local cluster (default: all cores of this machine)")
    return parser


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(``input … output … encoder …`` arguments, ``ray …`` arguments)."""
    argv = list(argv)
    if RAY_COMMAND not in argv:
        return argv, []
    at = argv.index(RAY_COMMAND)
    return argv[:at], argv[at + 1:]


def print_help() -> None:
    """This module's description and every sub-command's flags."""
    print(__doc__)
    for name, parser in {**encode.build_parsers(), RAY_COMMAND: ray_parser()}.items():
        print(f"\n== {name} ==")
        parser.print_help()


def parse(argv: Sequence[str]) -> tuple[dict[str, argparse.Namespace], argparse.Namespace]:
    """(the encode sub-commands' namespaces, the ``ray`` namespace), checked."""
    if not argv or argv[0] in ("-h", "--help"):
        print_help()
        raise SystemExit(0)
    encode_argv, ray_argv = split_argv(argv)
    args, cluster = encode.parse(encode_argv), ray_parser().parse_args(ray_argv)
    inp, enc = args["input"], args["encoder"]
    if inp.shard_id != 0 or inp.shard_num != 1:
        raise SystemExit("error: input --shard-id/--shard-num are chosen by the distributed runner; "
                         "set the number of shards with ray --shards N")
    if cluster.gpus_per_worker > 0 and enc.device not in (None, "cuda"):
        raise SystemExit(f"error: encoder --device {enc.device} with ray --gpus-per-worker "
                         f"{cluster.gpus_per_worker}: GPU actors run on the GPU Ray assigns (leave --device out)")
    if cluster.gpus_per_worker == 0 and enc.device not in (None, "cpu"):
        raise SystemExit(f"error: encoder --device {enc.device} needs GPUs from Ray: add ray --gpus-per-worker 1")
    return args, cluster


def worker_args(args: dict[str, argparse.Namespace], cluster: argparse.Namespace) -> dict[str, argparse.Namespace]:
    """The encode namespaces as each actor uses them: absolute paths (Ray workers do not run in the
    driver's folder), device and CPU threads set from the Ray resources."""
    inp = argparse.Namespace(**{**vars(args["input"]), "corpus": str(Path(args["input"].corpus).resolve())})
    out = argparse.Namespace(**{**vars(args["output"]), "embeddings": str(Path(args["output"].embeddings).resolve())})
    enc = argparse.Namespace(**vars(args["encoder"]))
    if Path(enc.encoder).exists():
        enc.encoder = str(Path(enc.encoder).resolve())
    enc.device = "cuda" if cluster.gpus_per_worker > 0 else "cpu"
    if enc.device == "cpu" and not enc.threads:
        enc.threads = cluster.cpus_per_worker
    return {"input": inp, "output": out, "encoder": enc}


def shard_args(args: dict[str, argparse.Namespace], shard_id: int, shard_num: int) -> dict[str, argparse.Namespace]:
    """The encode namespaces for one shard."""
    inp = argparse.Namespace(**{**vars(args["input"]), "shard_id": shard_id, "shard_num": shard_num})
    return {**args, "input": inp}


def shard_writer(args: dict[str, argparse.Namespace], shard_id: int, shard_num: int) -> ChunkedVectorWriter:
    """The writer a shard's encoding uses (to find its manifest without encoding)."""
    out = args["output"]
    return ChunkedVectorWriter(out.embeddings, out.docs_per_file, shard_id=shard_id, shard_num=shard_num)


def finished(args: dict[str, argparse.Namespace], shard_id: int, shard_num: int) -> bool:
    """Whether a shard's manifest exists; one written for another split of the corpus is an error."""
    writer = shard_writer(args, shard_id, shard_num)
    if not writer.manifest_path.is_file():
        return False
    manifest = json.loads(writer.manifest_path.read_text(encoding="utf-8"))
    if (manifest.get("shard_num"), manifest.get("docs_per_file")) != (shard_num, writer.docs_per_file):
        raise SystemExit(f"error: {writer.manifest_path} was written with {manifest.get('shard_num')} shards of "
                         f"{manifest.get('docs_per_file')} docs per file, this run asks for {shard_num} and "
                         f"{writer.docs_per_file}: rerun with the first run's ray --shards and output "
                         f"--docs-per-file, or use a new output folder")
    return True


class ShardEncoder:
    """A Ray Data actor: loads the encoder once, then encodes whole shards, one per batch row."""

    def __init__(self, args: dict[str, argparse.Namespace], shard_num: int) -> None:
        self.args = args
        self.shard_num = shard_num
        self.encoder = encode.load_encoder(args["encoder"])

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        """Encode the shards of ``batch['shard_id']``; one summary row per shard. A bad corpus line
        fails its shard only (reported in ``error``; the other shards go on)."""
        rows: dict[str, list] = {"shard_id": [], "docs_written": [], "seconds": [], "error": []}
        for shard_id in (int(i) for i in batch["shard_id"]):
            started = time.perf_counter()
            try:
                manifest, error = encode.encode_shard(shard_args(self.args, shard_id, self.shard_num), self.encoder), ""
            except CorpusError as err:
                manifest, error = {"docs_written": 0}, f"shard {shard_id}: {err}"
            rows["shard_id"].append(shard_id)
            rows["docs_written"].append(manifest["docs_written"])
            rows["seconds"].append(time.perf_counter() - started)
            rows["error"].append(error)
        return rows


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a run splits the work: workers, shards, and the shards still to do."""

    workers: int
    shards: int
    todo: list[int]


def plan(args: dict[str, argparse.Namespace], cluster: argparse.Namespace, resources: dict[str, float]) -> Plan:
    """Workers from the flags or the cluster's resources, shards, and the unfinished shards."""
    if cluster.workers is not None:
        workers = cluster.workers
    elif cluster.gpus_per_worker > 0:
        workers = int(resources.get("GPU", 0) // cluster.gpus_per_worker)
    else:
        workers = int(resources.get("CPU", 1) // cluster.cpus_per_worker)
    if workers < 1:
        raise SystemExit(f"error: the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) "
                         "has room for no worker with the resources asked; lower --gpus-per-worker/--cpus-per-worker")
    shards = cluster.shards or SHARDS_PER_WORKER * workers
    check_shard(0, shards)
    return Plan(workers, shards, [i for i in range(shards) if not finished(args, i, shards)])


def run(args: dict[str, argparse.Namespace], cluster: argparse.Namespace) -> dict[str, Any]:
    """Encode every unfinished shard on the Ray cluster; a summary of the run."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=cluster.address, num_cpus=cluster.num_cpus if cluster.address is None else None,
                 include_dashboard=False)
    work = plan(args, cluster, ray.cluster_resources())
    print(f"{work.shards} shards, {len(work.todo)} to encode, {work.workers} worker(s)", file=sys.stderr)
    started = time.perf_counter()
    rows: list[dict] = []
    if work.todo:
        shards = ray.data.from_items([{"shard_id": i} for i in work.todo], override_num_blocks=len(work.todo))
        encoded = shards.map_batches(
            ShardEncoder, fn_constructor_args=(worker_args(args, cluster), work.shards), batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(work.workers, len(work.todo))),
            num_gpus=cluster.gpus_per_worker or None, num_cpus=cluster.cpus_per_worker)
        rows = encoded.take_all()
    errors = [str(r["error"]) for r in rows if r["error"]]
    return {"shards": work.shards, "workers": work.workers, "encoded_shards": len(rows) - len(errors),
            "skipped_shards": work.shards - len(work.todo), "docs": sum(int(r["docs_written"]) for r in rows),
            "seconds": round(time.perf_counter() - started, 2),
            "shard_seconds": {int(r["shard_id"]): round(float(r["seconds"]), 2) for r in rows}, "errors": errors}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point; prints the run's summary as JSON, and exits with the corpus errors if any."""
    args, cluster = parse(sys.argv[1:] if argv is None else argv)
    summary = run(args, cluster)
    print(json.dumps(summary))
    if summary["errors"]:
        raise SystemExit("error: " + "\n".join(summary["errors"]) + "\nthe other shards are done; fix the corpus "
                         "(or add input --skip-bad-lines) and rerun the same command to encode the failed shards")
