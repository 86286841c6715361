"""Training flags are generated from the settings' fields and read back into the same settings."""
import argparse
import dataclasses
from pathlib import Path

import pytest

from pyserini_milco.encoding.pruning import PruneSpec
from pyserini_milco.train.__main__ import build_parser
from pyserini_milco.train.align import AlignSettings
from pyserini_milco.train.distill import DistillSettings
from pyserini_milco.train.echo import EchoSettings
from pyserini_milco.train.ntrex_groups import GroupSettings, SplitSettings
from pyserini_milco.train.settings_cli import (COMMA_LIST, NEGATED_SWITCH, add_settings_arguments, int_list, setting,
                                               settings_from_args, two_words)
from pyserini_milco.train.teachers import DEFAULT_TEMPERATURE

#: each subcommand, its settings, the required flags, and the settings those flags alone give
COMMANDS = {
    "align": (AlignSettings, ["--student", "s", "--teacher", "t", "--out", "o"],
              AlignSettings(student="s", teacher="t", out=Path("o"))),
    "distill": (DistillSettings, ["--student", "s", "--train", "t", "--out", "o"],
                DistillSettings(student="s", train=Path("t"), out=Path("o"))),
    "echo": (EchoSettings, ["--student", "s", "--train", "t", "--out", "o"],
             EchoSettings(student="s", train=Path("t"), out=Path("o"))),
    "groups": (GroupSettings, ["--out", "o"], GroupSettings()),
    "devset": (SplitSettings, ["--out", "o"], SplitSettings()),
}


def subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_field_is_a_flag_with_help_and_reads_back_as_the_default_settings(command):
    cls, required, expected = COMMANDS[command]
    actions = {a.dest: a for a in subparser(command)._actions}
    renamed = {"train_multiplier": "freeze_multiplier", "uniform_init": "init"}
    for field in dataclasses.fields(cls):
        action = actions[renamed.get(field.name, field.name)]
        assert action.help and action.option_strings
    args = build_parser().parse_args([command, *required])
    assert settings_from_args(cls, args) == expected


def test_flags_keep_their_defaults_and_spellings():
    align = {a.dest: a for a in subparser("align")._actions}
    assert align["languages"].default == "ar,de,el,es,hi,ru,th,tr,vi,zh" and align["languages"].type is None
    assert align["adapter_layers"].default == [6, 7, 8, 9, 10, 11] and align["adapter_layers"].type is int_list
    assert align["ntrex_dir"].type is Path and align["teacher"].required and align["steps"].default == 1000
    distill = {a.dest: a for a in subparser("distill")._actions}
    assert distill["regularize_source"].choices == ("on", "off") and distill["regularize_source"].default == "off"
    assert distill["regularizer"].choices == ("l1", "flops") and distill["warmup"].default == -1
    assert distill["select_max_query_terms"].type is float and distill["select_max_query_terms"].default is None
    assert distill["train_head"].default is False and distill["train_head"].nargs == 0
    echo = {a.dest: a for a in subparser("echo")._actions}
    assert echo["init"].option_strings == ["--init"] and echo["init"].default == "uniform"
    assert echo["freeze_multiplier"].default is False and echo["dev_query_prune"].default is None
    assert "--device" not in subparser("echo").format_help()
    for command in ("distill", "echo", "groups"):
        assert {a.dest: a for a in subparser(command)._actions}["temperature"].default == DEFAULT_TEMPERATURE
    assert "3% of the steps" in subparser("distill").format_help()


def test_flags_set_the_settings():
    args = build_parser().parse_args(["echo", "--student", "s", "--train", "t", "--out", "o", "--init", "keep",
                                      "--freeze-multiplier", "--dev-query-prune", "topk:5", "--dev-settings",
                                      "de-en,zh-zh", "--steps", "7", "--train-bias"])
    echo = settings_from_args(EchoSettings, args)
    assert not echo.uniform_init and not echo.train_multiplier and echo.train_bias and echo.steps == 7
    assert echo.dev_query_prune == PruneSpec.parse("topk:5") and echo.dev_settings == ["de-en", "zh-zh"]
    args = build_parser().parse_args(["distill", "--student", "s", "--train", "t", "--out", "o", "--steps", "100",
                                      "--regularize-source", "on", "--adapter-layers", "0,5"])
    distill = settings_from_args(DistillSettings, args)
    assert distill.regularize_source and distill.adapter_layers == [0, 5] and distill.warmup == 3


@dataclasses.dataclass(kw_only=True)
class Base:
    name: str = setting(help="a name")
    size: int = setting(help="a size (100% of it)")
    words: list[str] = setting(factory=lambda: ["a", "b"], spelling=COMMA_LIST, help="words")
    keep: bool = setting(True, flag="--drop", spelling=NEGATED_SWITCH, help="drop it")
    mode: bool = setting(False, spelling=two_words("on", "off"), help="a mode")
    fast: bool = setting(False, help="go fast")
    limit: float | None = setting(None, help="a limit")


@dataclasses.dataclass(kw_only=True)
class Derived(Base):
    size: int = 3


def test_a_subclass_that_sets_a_default_keeps_the_help_of_its_base():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Derived)
    actions = {a.dest: a for a in parser._actions}
    assert actions["size"].help == "a size (100%% of it)" and actions["size"].default == 3
    assert actions["size"].type is int and actions["name"].required and actions["name"].type is None
    assert actions["words"].default == "a,b" and actions["drop"].default is False
    assert actions["mode"].choices == ("on", "off") and actions["limit"].type is float
    assert settings_from_args(Derived, parser.parse_args(["--name", "n"])) == Derived(name="n")
    parsed = settings_from_args(Derived, parser.parse_args(["--name", "n", "--words", "x", "--drop", "--mode", "on",
                                                            "--fast", "--limit", "2.5", "--size", "4"]))
    assert parsed == Derived(name="n", words=["x"], keep=False, mode=True, fast=True, limit=2.5, size=4)


def test_a_setting_without_help_or_a_switch_on_by_default_is_refused():
    @dataclasses.dataclass
    class NoHelp:
        steps: int = 1

    @dataclasses.dataclass
    class OnSwitch:
        on: bool = setting(True, help="on")

    for cls in (NoHelp, OnSwitch):
        with pytest.raises(TypeError):
            add_settings_arguments(argparse.ArgumentParser(), cls)


def test_int_list_reads_ranges_and_lists():
    assert int_list("6-11") == [6, 7, 8, 9, 10, 11] and int_list("0,5,11") == [0, 5, 11] and int_list("3") == [3]
