"""Command-line flags shared by the MILCO wrappers (encode, search, encode_queries)."""
from __future__ import annotations

import argparse

from ..encoding.pruning import PruneSpec
from ..encoding.terms import DEFAULT_QUANTIZATION_SCALE
from ..encoding.options import DEFAULT_QUERY_PRUNE, PRECISIONS, EncodingOptions, optional_prune_label, parse_optional_prune


def on_off(text: str) -> bool:
    if text.lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"{text!r}: use on or off")
    return text.lower() == "on"


def add_encoding_options(parser: argparse.ArgumentParser, documents: bool) -> None:
    """Flags that decide how weights become index terms (documents and queries must agree)."""
    parser.add_argument("--quantization-scale", type=float, default=DEFAULT_QUANTIZATION_SCALE,
                        help="integer weight = round(weight x scale); 0 after rounding is dropped. "
                             "Use the same scale for documents and queries")
    parser.add_argument("--source-view", type=on_off, default=True, metavar="on|off",
                        help="include the LexEcho source view (m_ terms); off gives the pivot view only")
    parser.add_argument("--lowercase", type=on_off, default=False, metavar="on|off",
                        help="lowercase texts before encoding (the authors' MIRACL evaluation does)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="weights' precision: auto = bf16 on CUDA, fp32 on the CPU; bf16 on a CPU with "
                             "AVX512-BF16 or AMX encodes 2-3x faster but moves the weights by about 3-4%%")
    methods = ("topk:K, mass:P (keep the heaviest terms holding a fraction P of the weight) or quantile:P (drop "
               "the lightest fraction P of the terms); VIEW is pivot, source or both (default)")
    if documents:
        parser.add_argument("--prune", type=PruneSpec.parse, default=None, metavar="METHOD:VALUE[:VIEW]",
                            help=f"prune each document: {methods}")
    else:
        parser.add_argument("--prune", dest="query_prune", type=lambda text: parse_optional_prune(text, None),
                            default=DEFAULT_QUERY_PRUNE, metavar="METHOD:VALUE[:VIEW]|none",
                            help=f"prune each query: {methods}; none keeps every term (default: {optional_prune_label(DEFAULT_QUERY_PRUNE)})")


def options_from_args(args: argparse.Namespace) -> EncodingOptions:
    return EncodingOptions(scale=args.quantization_scale, prune=getattr(args, "prune", None),
                           query_prune=getattr(args, "query_prune", DEFAULT_QUERY_PRUNE), source_view=args.source_view, lowercase=args.lowercase, precision=args.precision)


def options_to_env(options: EncodingOptions) -> dict[str, str]:
    """The environment variables that carry ``options`` into the stock Pyserini CLIs."""
    env = {"PYSERINI_MILCO_SCALE": repr(options.scale),
           "PYSERINI_MILCO_SOURCE_VIEW": "on" if options.source_view else "off",
           "PYSERINI_MILCO_LOWERCASE": "on" if options.lowercase else "off",
           "PYSERINI_MILCO_PRECISION": options.precision}
    if options.prune is not None:
        env["PYSERINI_MILCO_PRUNE"] = optional_prune_label(options.prune)
    env["PYSERINI_MILCO_QUERY_PRUNE"] = optional_prune_label(options.query_prune)
    return env
