"""``python -m pyserini_milco.train align ...``: stage-1 sparse alignment pretraining."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .align import AlignSettings, AlignTrainer
from .data import XQUAD_LANGUAGES, default_ntrex_dir


def _int_list(text: str) -> list[int]:
    if "-" in text and "," not in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(x) for x in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    align = sub.add_parser("align", help="stage 1: align the student's pivot view to an English SPLADE teacher",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    align.add_argument("--student", required=True, help="MILCO checkpoint to start from (folder, hub id, or 'milco-mini-base')")
    align.add_argument("--teacher", required=True, help="English SPLADE masked-LM folder (transformers layout), or 'splade-tiny'")
    align.add_argument("--out", type=Path, required=True, help="output folder: log, trainer state, delta, merged model")
    align.add_argument("--ntrex-dir", type=Path, default=default_ntrex_dir(), help="NTREX-128 folder (parallel text)")
    align.add_argument("--languages", default=",".join(XQUAD_LANGUAGES), help="comma-separated languages paired with English")
    align.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    align.add_argument("--batch-size", type=int, default=8, help="English sentences per step")
    align.add_argument("--translations-per-sentence", type=int, default=2, help="foreign versions of each English sentence per step")
    align.add_argument("--adapter-layers", type=_int_list, default=list(range(6, 12)), help="backbone layers with adapters, e.g. 6-11 or 0,5,11")
    align.add_argument("--rank", type=int, default=8, help="adapter rank")
    align.add_argument("--alpha", type=float, default=16.0, help="adapter scaling numerator (alpha / rank)")
    align.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (warm-up then cosine)")
    align.add_argument("--warmup", type=int, default=50, help="warm-up steps")
    align.add_argument("--max-length", type=int, default=96, help="tokens per sentence")
    align.add_argument("--validation-documents", type=int, default=12, help="NTREX documents held out for validation")
    align.add_argument("--validate-every", type=int, default=250, help="steps between validations")
    align.add_argument("--save-every", type=int, default=100, help="steps between resumable checkpoints")
    align.add_argument("--seed", type=int, default=0, help="seed for initialisation and data order")
    align.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    align.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    align.add_argument("--connector-init-sentences", type=int, default=400,
                       help="English sentences whose aligned token states warm-start the connector (0: no warm start)")
    align.add_argument("--resume", action="store_true", help="continue from OUT/trainer-state.pt if present")
    return parser


def resolve_named_parts(args: argparse.Namespace) -> None:
    """``milco-mini-base`` / ``splade-tiny`` name the assembled, untrained mini parts."""
    if args.student == "milco-mini-base" or args.teacher == "splade-tiny":
        from ..mini.build import base_model_folder, teacher_folder

        if args.student == "milco-mini-base":
            args.student = str(base_model_folder())
        if args.teacher == "splade-tiny":
            args.teacher = str(teacher_folder())


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    resolve_named_parts(args)
    settings = AlignSettings(
        student=args.student, teacher=args.teacher, ntrex_dir=args.ntrex_dir, out=args.out,
        languages=args.languages.split(","), steps=args.steps, batch_size=args.batch_size,
        translations_per_sentence=args.translations_per_sentence, adapter_layers=args.adapter_layers,
        rank=args.rank, alpha=args.alpha, lr=args.lr, warmup=args.warmup, max_length=args.max_length,
        validation_documents=args.validation_documents, validate_every=args.validate_every,
        save_every=args.save_every, seed=args.seed, device=args.device, threads=args.threads,
        connector_init_sentences=args.connector_init_sentences,
    )
    print(json.dumps(AlignTrainer(settings).train(resume=args.resume), indent=2))


if __name__ == "__main__":
    main()
