"""``python -m pyserini_milco.encode_queries``: pre-encode topics so search needs no model.

Writes one ``{"id", "contents", "vector"}`` line per query (atomically); the file works as
``--encoder FILE.jsonl`` for ``python -m pyserini.search.lucene --impact`` (Pyserini's cached
query encoder, keyed by the exact query text). Example::

    python -m pyserini_milco.encode_queries --topics topics.tsv --encoder milco-mini --output queries.jsonl
"""
from __future__ import annotations

import argparse
import json

from ..atomic import atomic_output
from .options import add_encoding_options, options_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.encode_queries", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", required=True, help="topics file (qid TAB text) or a Pyserini topic name")
    parser.add_argument("--topics-format", default="default", help="Pyserini topics format (default, kilt, ...)")
    parser.add_argument("--encoder", required=True, help="milco, milco-mini, a checkpoint folder or a hub id")
    parser.add_argument("--output", required=True, help="output .jsonl file")
    parser.add_argument("--batch-size", type=int, default=32, help="queries per forward pass")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per query")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    add_encoding_options(parser, documents=False)
    return parser


def read_topics(topics: str, topics_format: str) -> list[tuple[str, str]]:
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    return [(str(qid), text) for qid, text in get_query_iterator(topics, TopicsFormat(topics_format))]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from ..integration.plugin import MilcoQueryEncoder

    topics = read_topics(args.topics, args.topics_format)
    encoder = MilcoQueryEncoder(args.encoder, device=args.device or "cpu", options=options_from_args(args),
                                max_length=args.max_length)
    texts = [text for _, text in topics]
    encoder.prefetch(texts)
    with atomic_output(args.output) as handle:
        for qid, text in topics:
            vector = encoder.encode(text)
            handle.write(json.dumps({"id": qid, "contents": text, "vector": vector}, ensure_ascii=False) + "\n")
    print(f"wrote {len(topics)} queries to {args.output}")
