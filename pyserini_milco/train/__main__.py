"""``python -m pyserini_milco.train align|groups|devset|distill|echo|layers``: MILCO's two training stages.

* ``align``: stage 1, sparse alignment pretraining against an English SPLADE teacher;
* ``groups``: stage-2 training groups (query, positive, negatives, teacher scores) and a development
  set from NTREX-128, scored and mined by multilingual-e5-small;
* ``devset``: only a development set, optionally a variant asking with another sentence of each passage;
* ``distill``: stage 2, KL distillation from a teacher over each group, with a sparsity penalty;
* ``echo``: stage 2 above the frozen backbone (LexEcho; with flags the decoder bias, the connector and
  the head's transform), on cached backbone states (fast on a CPU);
* ``layers``: stage 2 through the backbone's top layers as well, on cached states of the layers below.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .align import AlignSettings, AlignTrainer
from .common import TrainerSettings
from .data import load_ntrex
from .distill import DistillSettings, DistillTrainer
from .echo import EchoSettings, EchoTrainer
from .layers import LayerSettings, LayerTrainer
from .ntrex_groups import GroupBuilder, GroupSettings, SplitSettings, write_devset
from .settings_cli import add_settings_arguments, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    """Each subcommand's flags, generated from the fields of its settings (:mod:`.settings_cli`)."""
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_trainer_parser(sub, "align", AlignSettings, "stage 1: align the student's pivot view to an English SPLADE teacher")
    add_groups_parser(sub)
    add_devset_parser(sub)
    add_trainer_parser(sub, "distill", DistillSettings, "stage 2: KL distillation over groups of 1 positive + k negatives")
    add_trainer_parser(sub, "echo", EchoSettings,
                       "stage 2 above the frozen backbone: LexEcho, and optionally the decoder bias and the connector")
    add_trainer_parser(sub, "layers", LayerSettings,
                       "stage 2 through the backbone's top layers, on cached states of the frozen layers below")
    return parser


def add_command(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose help shows each flag's default."""
    return sub.add_parser(name, help=help, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_trainer_parser(sub, name: str, settings: type, help: str) -> None:
    """A trainer's subcommand: its settings as flags, and ``--resume``."""
    trainer = add_command(sub, name, help)
    add_settings_arguments(trainer, settings)
    trainer.add_argument("--resume", action="store_true", help="continue from OUT/trainer-state.pt if present")


def add_groups_parser(sub) -> None:
    """``groups``: :class:`.ntrex_groups.GroupSettings` as flags, the output folder and torch's threads."""
    groups = add_command(sub, "groups", "stage-2 training groups and a development set from NTREX-128 (teacher: e5-small)")
    groups.add_argument("--out", type=Path, required=True,
                        help="output folder: OUT/train.jsonl and the development set OUT/dev/")
    add_settings_arguments(groups, GroupSettings)
    add_settings_arguments(groups, TrainerSettings, only=("threads",))


def add_devset_parser(sub) -> None:
    """``devset``: :class:`.ntrex_groups.SplitSettings` as flags, the output folder and the query sentence."""
    devset = add_command(sub, "devset", "only a development set from NTREX-128's held-out documents (no teacher; seconds)")
    devset.add_argument("--out", type=Path, required=True, help="output folder of the development set")
    add_settings_arguments(devset, SplitSettings)
    devset.add_argument("--query-sentence", type=int, default=2,
                        help="which sentence of each held-out passage is the query (1-based); 2 is what `groups` "
                             "writes, 1 and 3 are variants to pool with it (query ids get -s1 / -s3)")


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
    settings = settings_from_args(SplitSettings, args)
    corpus = load_ntrex(settings.ntrex_dir, settings.languages)
    return {"dev": str(args.out), **write_devset(corpus, settings, args.out, args.query_sentence)}


def run_groups(args: argparse.Namespace) -> dict:
    """Write OUT/train.jsonl and OUT/dev/ (see :mod:`.ntrex_groups`)."""
    import torch

    from ..mini.e5 import E5Embedder

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = settings_from_args(GroupSettings, args)
    corpus = load_ntrex(settings.ntrex_dir, settings.languages)
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
    """Stage 2 (see :mod:`.distill`)."""
    resolve_mini_student(args)
    return DistillTrainer(settings_from_args(DistillSettings, args)).train(resume=args.resume)


def run_echo(args: argparse.Namespace) -> dict:
    """Stage 2 above the frozen backbone (see :mod:`.echo`)."""
    resolve_mini_student(args)
    return EchoTrainer(settings_from_args(EchoSettings, args)).train(resume=args.resume)


def run_layers(args: argparse.Namespace) -> dict:
    """Stage 2 through the top layers (see :mod:`.layers`)."""
    resolve_mini_student(args)
    return LayerTrainer(settings_from_args(LayerSettings, args)).train(resume=args.resume)


def run_align(args: argparse.Namespace) -> dict:
    """Stage 1 (see :mod:`.align`)."""
    resolve_named_parts(args)
    return AlignTrainer(settings_from_args(AlignSettings, args)).train(resume=args.resume)


#: each subcommand's runner; each returns the summary printed as JSON
RUNNERS = {"align": run_align, "groups": run_groups, "devset": run_devset, "distill": run_distill, "echo": run_echo,
           "layers": run_layers}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print(json.dumps(RUNNERS[args.command](args), indent=2))

if __name__ == "__main__":
    from ..errors import run

    run(main)
