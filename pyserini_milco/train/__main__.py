"""``python -m pyserini_milco.train align|groups|devset|distill|echo``: MILCO's two training stages.

* ``align``: stage 1, sparse alignment pretraining against an English SPLADE teacher;
* ``groups``: stage-2 training groups (query, positive, negatives, teacher scores) and a development
  set from NTREX-128, scored and mined by multilingual-e5-small;
* ``devset``: only a development set, optionally a variant asking with another sentence of each passage;
* ``distill``: stage 2, KL distillation from a teacher over each group, with a sparsity penalty;
* ``echo``: stage 2 above the frozen backbone (LexEcho; with flags the decoder bias, the connector and
  the head's transform), on cached backbone states (fast on a CPU).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .align import AlignSettings, AlignTrainer
from .data import XQUAD_LANGUAGES, default_ntrex_dir
from .devset import DEFAULT_SETTINGS
from .teachers import DEFAULT_TEMPERATURE, E5_TEACHER, FILE_TEACHER


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
    add_groups_parser(sub)
    add_devset_parser(sub)
    add_distill_parser(sub)
    add_echo_parser(sub)
    return parser


def add_groups_parser(sub) -> None:
    groups = sub.add_parser("groups", help="stage-2 training groups and a development set from NTREX-128 (teacher: e5-small)",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    groups.add_argument("--out", type=Path, required=True, help="output folder: OUT/train.jsonl and the development set OUT/dev/")
    add_ntrex_split_arguments(groups)
    groups.add_argument("--groups", type=int, default=20000, help="training groups to sample")
    groups.add_argument("--negatives", type=int, default=7, help="negatives per group, mined by the teacher")
    groups.add_argument("--ict-share", type=float, default=0.5,
                        help="share of inverse-cloze groups (the positive passage lacks the query's sentence); the rest hold its translation")
    groups.add_argument("--english-passage-share", type=float, default=0.4, help="share of groups whose passages are English")
    groups.add_argument("--same-language-share", type=float, default=0.4,
                        help="share of groups whose passages are in the query's language (the rest: a third language)")
    groups.add_argument("--mine-depth", type=int, default=30, help="negatives are drawn from the teacher's top passages to this depth")
    groups.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help="teacher logits are cosine / temperature")
    groups.add_argument("--seed", type=int, default=0, help="seed for the held-out documents and the sampling")
    groups.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def add_ntrex_split_arguments(parser: argparse.ArgumentParser) -> None:
    """What decides the passages and the held-out documents, shared by ``groups`` and ``devset``."""
    parser.add_argument("--ntrex-dir", type=Path, default=default_ntrex_dir(), help="NTREX-128 folder (parallel text)")
    parser.add_argument("--languages", default=",".join(XQUAD_LANGUAGES), help="comma-separated languages besides English")
    parser.add_argument("--chunk-sentences", type=int, default=4, help="consecutive sentences per passage")
    parser.add_argument("--validation-documents", type=int, default=12,
                        help="NTREX documents held out for the development set (the same as stage 1's with the same seed)")


def add_devset_parser(sub) -> None:
    devset = sub.add_parser("devset", help="only a development set from NTREX-128's held-out documents (no teacher; seconds)",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    devset.add_argument("--out", type=Path, required=True, help="output folder of the development set")
    add_ntrex_split_arguments(devset)
    devset.add_argument("--query-sentence", type=int, default=2,
                        help="which sentence of each held-out passage is the query (1-based); 2 is what `groups` writes, "
                             "1 and 3 are variants to pool with it (query ids get -s1 / -s3)")
    devset.add_argument("--seed", type=int, default=0, help="seed for the held-out documents (as `groups` used)")


def add_distill_parser(sub) -> None:
    distill = sub.add_parser("distill", help="stage 2: KL distillation over groups of 1 positive + k negatives",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    distill.add_argument("--student", required=True, help="MILCO checkpoint to start from: a folder, a hub id or 'milco-mini'")
    distill.add_argument("--train", type=Path, required=True,
                         help="training groups, JSONL: {query, positive, negatives[, scores]} (see pyserini_milco/train/groups.py)")
    distill.add_argument("--out", type=Path, required=True, help="output folder: log, trainer state, delta, merged model")
    distill.add_argument("--dev", type=Path, help="development set folder (from `groups`: OUT/dev); chooses the exported checkpoint")
    distill.add_argument("--teacher", default=FILE_TEACHER,
                         help=f"'{FILE_TEACHER}' (the groups' own scores), '{E5_TEACHER}', or a cross-encoder folder / hub id")
    distill.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help=f"{E5_TEACHER} teacher: cosine / temperature")
    distill.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    distill.add_argument("--batch-size", type=int, default=4, help="groups per step")
    distill.add_argument("--negatives", type=int, default=7, help="negatives per group (the file may hold more)")
    distill.add_argument("--adapter-layers", type=_int_list, default=list(range(6, 12)), help="backbone layers with adapters")
    distill.add_argument("--rank", type=int, default=16, help="adapter rank")
    distill.add_argument("--alpha", type=float, default=32.0, help="adapter scaling numerator (alpha / rank)")
    distill.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of adapters, connector and head")
    distill.add_argument("--echo-lr", type=float, default=2e-3, help="peak learning rate of the new LexEcho head and its scale")
    distill.add_argument("--warmup", type=int, default=-1, help="warm-up steps (-1: 3%% of the steps, as the paper)")
    distill.add_argument("--query-max-length", type=int, default=64, help="tokens per query")
    distill.add_argument("--passage-max-length", type=int, default=256, help="tokens per passage")
    distill.add_argument("--micro-batch", type=int, default=8,
                         help="texts run through the model together, grouped by length (less padding; same gradients)")
    distill.add_argument("--regularizer", choices=("l1", "flops"), default="l1", help="sparsity penalty on the vectors")
    distill.add_argument("--lambda-q", type=float, default=1e-3, help="penalty weight on queries (paper: 1e-3)")
    distill.add_argument("--lambda-d", type=float, default=1e-5, help="penalty weight on passages (paper: 1e-5)")
    distill.add_argument("--reg-warmup", type=int, default=500, help="steps over which the penalty ramps up quadratically")
    distill.add_argument("--regularize-source", choices=("on", "off"), default="off",
                         help="also penalise the source (LexEcho) view, as the paper does not (on milco-mini it "
                              "silenced the LexEcho head for good)")
    distill.add_argument("--train-head", action="store_true", help="also train the English head's transform and bias")
    distill.add_argument("--dev-settings", default=",".join(DEFAULT_SETTINGS),
                         help="development settings QUERY-POOL languages, e.g. de-en,zh-zh")
    distill.add_argument("--select-max-query-terms", type=float,
                         help="export only a checkpoint whose development queries average at most this many terms")
    distill.add_argument("--select-max-passage-terms", type=float,
                         help="export only a checkpoint whose development passages average at most this many terms")
    distill.add_argument("--validate-every", type=int, default=200, help="steps between development-set validations")
    distill.add_argument("--save-every", type=int, default=50, help="steps between resumable checkpoints")
    distill.add_argument("--seed", type=int, default=0, help="seed for initialisation and data order")
    distill.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    distill.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    distill.add_argument("--resume", action="store_true", help="continue from OUT/trainer-state.pt if present")


def add_echo_parser(sub) -> None:
    echo = sub.add_parser("echo", help="stage 2 above the frozen backbone: LexEcho, and optionally the decoder bias and the connector",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    echo.add_argument("--student", required=True,
                      help="MILCO checkpoint whose heads are trained: a folder, a hub id, 'milco-mini' or 'milco-mini-stage1' "
                           "(milco-mini before its heads were trained: what the shipped heads start from)")
    echo.add_argument("--train", type=Path, required=True,
                      help="training groups, JSONL: {query, positive, negatives[, scores]} (see pyserini_milco/train/groups.py)")
    echo.add_argument("--out", type=Path, required=True, help="output folder: log, trainer state, delta (echo tensors), merged model")
    echo.add_argument("--dev", type=Path, help="development set folder (from `groups`: OUT/dev); chooses the exported checkpoint")
    echo.add_argument("--teacher", default=FILE_TEACHER,
                      help=f"'{FILE_TEACHER}' (the groups' own scores), '{E5_TEACHER}', or a cross-encoder folder / hub id")
    echo.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help=f"{E5_TEACHER} teacher: cosine / temperature")
    echo.add_argument("--groups", type=int, default=4000,
                      help="groups drawn (seeded) from the file; each distinct text runs through the frozen model once")
    echo.add_argument("--steps", type=int, default=400, help="optimizer steps")
    echo.add_argument("--batch-size", type=int, default=32, help="groups per step")
    echo.add_argument("--negatives", type=int, default=7, help="negatives per group (the file may hold more)")
    echo.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (warm-up then cosine)")
    echo.add_argument("--warmup", type=int, default=50, help="warm-up steps")
    echo.add_argument("--source-l1-q", type=float, default=0.0,
                      help="L1 weight on the queries' source view (1e-3 already silenced the head on milco-mini)")
    echo.add_argument("--source-l1-d", type=float, default=0.0, help="L1 weight on the passages' source view")
    echo.add_argument("--train-bias", action="store_true",
                      help="also train the English decoder's bias: a per-term threshold on the pivot view")
    echo.add_argument("--bias-lr", type=float, default=1e-2, help="peak learning rate of the decoder bias")
    echo.add_argument("--pivot-l1-q", type=float, default=0.0,
                      help="L1 weight on the queries' pivot view (with --train-bias or --train-connector)")
    echo.add_argument("--pivot-l1-d", type=float, default=0.0,
                      help="L1 weight on the passages' pivot view (with --train-bias or --train-connector)")
    echo.add_argument("--train-connector", action="store_true",
                      help="also train the connector and the English head's transform, on the cached backbone states "
                           "(logits recomputed at each text's cached terms; the development set over the whole vocabulary)")
    echo.add_argument("--connector-lr", type=float, default=3e-4, help="peak learning rate of the connector and head transform")
    echo.add_argument("--logit-margin", type=float, default=1.0,
                      help="cache each text's decoder logits above -MARGIN: how far the bias may rise (with the "
                           "connector frozen), or the candidate terms of --train-connector (smaller is faster)")
    echo.add_argument("--freeze-multiplier", action="store_true",
                      help="keep the loss's multiplier on the student's scores at its starting value (matched to the "
                           "teacher's spread) instead of training it")
    echo.add_argument("--init", choices=("uniform", "keep"), default="uniform",
                      help="uniform: start every token at weight `scale` (echo weight 0, bias 1); keep: the checkpoint's head")
    echo.add_argument("--query-max-length", type=int, default=64, help="tokens per query")
    echo.add_argument("--passage-max-length", type=int, default=256, help="tokens per passage")
    echo.add_argument("--dev-settings", default=",".join(DEFAULT_SETTINGS),
                      help="development settings QUERY-POOL languages, e.g. de-en,zh-zh")
    echo.add_argument("--dev-query-prune",
                      help="prune development queries, e.g. topk:20 or 'none' (default: as the stock search does, topk:20)")
    echo.add_argument("--validate-every", type=int, default=50, help="steps between development-set validations")
    echo.add_argument("--save-every", type=int, default=50, help="steps between resumable checkpoints")
    echo.add_argument("--seed", type=int, default=0, help="seed for the group sample and data order")
    echo.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    echo.add_argument("--resume", action="store_true", help="continue from OUT/trainer-state.pt if present")


def resolve_named_parts(args: argparse.Namespace) -> None:
    """``milco-mini-base`` / ``splade-tiny`` name the assembled, untrained mini parts."""
    if args.student == "milco-mini-base" or args.teacher == "splade-tiny":
        from ..mini.build import base_model_folder, teacher_folder

        if args.student == "milco-mini-base":
            args.student = str(base_model_folder())
        if args.teacher == "splade-tiny":
            args.teacher = str(teacher_folder())


def run_devset(args: argparse.Namespace) -> dict:
    """Write the development set OUT/ alone (see :func:`.ntrex_groups.write_devset`)."""
    from .data import load_ntrex
    from .ntrex_groups import GroupSettings, write_devset

    settings = GroupSettings(languages=args.languages.split(","), chunk_sentences=args.chunk_sentences,
                             validation_documents=args.validation_documents, seed=args.seed)
    corpus = load_ntrex(args.ntrex_dir, settings.languages)
    return {"dev": str(args.out), **write_devset(corpus, settings, args.out, args.query_sentence)}


def run_groups(args: argparse.Namespace) -> dict:
    """Write OUT/train.jsonl and OUT/dev/ (see :mod:`.ntrex_groups`)."""
    import torch

    from ..mini.e5 import E5Embedder
    from .data import load_ntrex
    from .ntrex_groups import GroupBuilder, GroupSettings, write_devset

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = GroupSettings(
        languages=args.languages.split(","), groups=args.groups, negatives=args.negatives,
        chunk_sentences=args.chunk_sentences, ict_share=args.ict_share,
        english_passage_share=args.english_passage_share, same_language_share=args.same_language_share,
        mine_depth=args.mine_depth, temperature=args.temperature,
        validation_documents=args.validation_documents, seed=args.seed,
    )
    corpus = load_ntrex(args.ntrex_dir, settings.languages)
    dev = write_devset(corpus, settings, args.out / "dev")
    embedder = E5Embedder()
    written = GroupBuilder(corpus, settings, embedder.embed).write(args.out / "train.jsonl")
    return {"train": str(args.out / "train.jsonl"), "groups": written, "dev": str(args.out / "dev"), **dev}


def resolve_mini_student(args: argparse.Namespace) -> None:
    """``milco-mini`` names the shipped model, ``milco-mini-stage1`` the shipped model up to stage 1
    (what the shipped heads were trained from); both are built on first use."""
    if args.student in ("milco-mini", "milco-mini-stage1"):
        from ..mini.build import DELTA_FILES, STAGE1_DELTAS, ensure_mini_model

        args.student = str(ensure_mini_model(DELTA_FILES if args.student == "milco-mini" else STAGE1_DELTAS))


def run_distill(args: argparse.Namespace) -> dict:
    from .distill import DistillSettings, DistillTrainer

    resolve_mini_student(args)
    settings = DistillSettings(
        student=args.student, train=args.train, out=args.out, dev=args.dev, teacher=args.teacher,
        temperature=args.temperature, steps=args.steps, batch_size=args.batch_size, negatives=args.negatives,
        adapter_layers=args.adapter_layers, rank=args.rank, alpha=args.alpha, lr=args.lr, echo_lr=args.echo_lr,
        warmup=args.warmup, query_max_length=args.query_max_length, passage_max_length=args.passage_max_length,
        micro_batch=args.micro_batch, regularizer=args.regularizer, lambda_q=args.lambda_q, lambda_d=args.lambda_d, reg_warmup=args.reg_warmup,
        regularize_source=args.regularize_source == "on", train_head=args.train_head,
        dev_settings=args.dev_settings.split(","), select_max_query_terms=args.select_max_query_terms,
        select_max_passage_terms=args.select_max_passage_terms, validate_every=args.validate_every, save_every=args.save_every,
        seed=args.seed, device=args.device, threads=args.threads,
    )
    return DistillTrainer(settings).train(resume=args.resume)


def run_echo(args: argparse.Namespace) -> dict:
    from ..encoding.options import DEFAULT_QUERY_PRUNE, parse_optional_prune
    from .echo import EchoSettings, EchoTrainer

    resolve_mini_student(args)
    settings = EchoSettings(
        student=args.student, train=args.train, out=args.out, dev=args.dev, teacher=args.teacher,
        temperature=args.temperature, groups=args.groups, steps=args.steps, batch_size=args.batch_size,
        negatives=args.negatives, lr=args.lr, warmup=args.warmup, source_l1_q=args.source_l1_q,
        source_l1_d=args.source_l1_d, train_bias=args.train_bias, bias_lr=args.bias_lr, pivot_l1_q=args.pivot_l1_q,
        pivot_l1_d=args.pivot_l1_d, train_connector=args.train_connector, connector_lr=args.connector_lr,
        logit_margin=args.logit_margin, train_multiplier=not args.freeze_multiplier,
        uniform_init=args.init == "uniform", query_max_length=args.query_max_length,
        passage_max_length=args.passage_max_length, dev_settings=args.dev_settings.split(","),
        dev_query_prune=parse_optional_prune(args.dev_query_prune, DEFAULT_QUERY_PRUNE), validate_every=args.validate_every,
        save_every=args.save_every, seed=args.seed, threads=args.threads,
    )
    return EchoTrainer(settings).train(resume=args.resume)


def run_align(args: argparse.Namespace) -> dict:
    """Stage 1 (see :mod:`.align`)."""
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
    return AlignTrainer(settings).train(resume=args.resume)


#: each subcommand's runner; each returns the summary printed as JSON
RUNNERS = {"align": run_align, "groups": run_groups, "devset": run_devset, "distill": run_distill, "echo": run_echo}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print(json.dumps(RUNNERS[args.command](args), indent=2))

if __name__ == "__main__":
    from ..errors import run

    run(main)
