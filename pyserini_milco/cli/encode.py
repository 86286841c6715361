"""``python -m pyserini_milco.encode``: encode a corpus with MILCO into a JsonVectorCollection.

Takes the arguments of ``python -m pyserini.encode`` (``input ... output ... encoder ...``) plus
MILCO's own. Unlike the stock command it streams the corpus, validates every line (or skips and
counts bad lines), writes the output in atomically renamed chunks
(``embeddings-s{SHARD}-{CHUNK}.jsonl``, with a manifest beside the folder), and resumes after a crash without
redoing finished chunks; ``--shard-id/--shard-num`` split the corpus as Pyserini does.

Example::

    python -m pyserini_milco.encode input --corpus corpus.jsonl --fields title text \\
        output --embeddings encoded/ encoder --encoder milco-mini --batch-size 32
"""
from __future__ import annotations

import argparse
import sys

from ..collection.corpus import CorpusReader, batched, progress_bar
from ..collection.writer import ChunkedVectorWriter
from .options import add_encoding_options, options_from_args

COMMANDS = ("input", "output", "encoder")


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    inp = argparse.ArgumentParser(prog="... input", formatter_class=fmt)
    inp.add_argument("--corpus", required=True, help="a .jsonl/.jsonl.gz file or a folder of them (Pyserini JsonCollection)")
    inp.add_argument("--fields", nargs="+", default=["text"], help="fields of each document, in order (e.g. title text)")
    inp.add_argument("--docid-field", default=None, help="id field when it is not id, _id or docid")
    inp.add_argument("--delimiter", default="\\n", help="separator of the fields inside 'contents' (\\n: newline)")
    inp.add_argument("--shard-id", type=int, default=0, help="0-based shard to encode")
    inp.add_argument("--shard-num", type=int, default=1, help="number of shards the corpus is split into")
    inp.add_argument("--skip-bad-lines", action="store_true",
                     help="skip (and count) lines that are not valid documents instead of stopping at the first")
    out = argparse.ArgumentParser(prog="... output", formatter_class=fmt)
    out.add_argument("--embeddings", required=True, help="output folder (JsonVectorCollection, index it with --impact --pretokenized)")
    out.add_argument("--docs-per-file", type=int, default=100_000, help="documents per output chunk (the unit of resuming)")
    enc = argparse.ArgumentParser(prog="... encoder", formatter_class=fmt)
    enc.add_argument("--encoder", required=True, help="milco (omai-research/milco-650m), milco-mini, a checkpoint folder or a hub id")
    enc.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (sorted by length)")
    enc.add_argument("--max-length", type=int, default=512, help="tokens per document, special tokens included")
    enc.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    enc.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    enc.add_argument("--fp16", action="store_true", help="accepted for compatibility: CUDA always runs in bf16")
    enc.add_argument("--fields", nargs="+", default=None, help="accepted for compatibility: input --fields decides")
    add_encoding_options(enc, documents=True)
    return {"input": inp, "output": out, "encoder": enc}


def split_commands(argv: list[str]) -> dict[str, list[str]]:
    """``input A.. output B.. encoder C..`` → per-command argument lists (as Pyserini splits them)."""
    parts: dict[str, list[str]] = {}
    current = None
    for token in argv:
        if token in COMMANDS:
            current = token
            parts[current] = []
        elif current is None:
            raise SystemExit(f"expected one of {', '.join(COMMANDS)} before {token!r}; see --help")
        else:
            parts[current].append(token)
    missing = [c for c in COMMANDS if c not in parts]
    if missing:
        raise SystemExit(f"missing sub-command(s): {', '.join(missing)}; see --help")
    return parts


def parse(argv: list[str]) -> dict[str, argparse.Namespace]:
    parsers = build_parsers()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        for name, parser in parsers.items():
            print(f"\n== {name} ==")
            parser.print_help()
        raise SystemExit(0)
    return {name: parsers[name].parse_args(args) for name, args in split_commands(argv).items()}


def load_encoder(enc: argparse.Namespace):
    """The document encoder that the ``encoder`` flags describe (loaded once, reused for every shard)."""
    import torch

    from ..integration.plugin import MilcoDocumentEncoder

    if enc.threads:
        torch.set_num_threads(enc.threads)
    return MilcoDocumentEncoder(enc.encoder, device=enc.device, options=options_from_args(enc),
                                batch_size=enc.batch_size)


def encode_shard(args: dict[str, argparse.Namespace], encoder) -> dict:
    """Encode the shard that ``args['input']`` names with a loaded ``encoder``; returns the shard's manifest."""
    inp, out, enc = args["input"], args["output"], args["encoder"]
    reader = CorpusReader(inp.corpus, inp.fields, inp.docid_field, inp.delimiter.replace("\\n", "\n"),
                          skip_bad=inp.skip_bad_lines)
    arguments = {name: {k: str(v) for k, v in vars(ns).items()} for name, ns in args.items()}
    writer = ChunkedVectorWriter(out.embeddings, out.docs_per_file, shard_id=inp.shard_id,
                                 shard_num=inp.shard_num, arguments=arguments)
    documents = writer.pending(reader.shard(inp.shard_id, inp.shard_num))
    with writer, progress_bar(reader.shard_lines(inp.shard_id, inp.shard_num), writer.resumed_docs) as bar:
        for batch in batched(documents, enc.batch_size * 4):
            writer.write_batch(batch, encoder.encode([d.text for d in batch], max_length=enc.max_length))
            bar.update(len(batch))
    print(reader.summary, file=sys.stderr)
    return writer.manifest()


def run(args: dict[str, argparse.Namespace]) -> dict:
    """Encode one shard; returns the shard's manifest."""
    return encode_shard(args, load_encoder(args["encoder"]))


def main(argv: list[str] | None = None) -> None:
    """Encode the shard the command line names; a bad corpus line stops it with a
    :class:`~pyserini_milco.collection.corpus.CorpusError` naming the file and line."""
    args = parse(sys.argv[1:] if argv is None else argv)
    manifest = run(args)
    terms = manifest.get("terms_per_doc", {}).get("mean_terms", 0.0)
    print(f"wrote {manifest.get('docs', 0)} documents to {args['output'].embeddings}, "
          f"{terms:.1f} terms per document on average", file=sys.stderr)
