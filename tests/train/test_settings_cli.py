"""Training flags are generated from the settings' fields and read back into the same settings."""
import argparse
import dataclasses

import pytest

from pyserini_milco.train.settings_cli import (COMMA_LIST, NEGATED_SWITCH, add_settings_arguments, int_list, setting,
                                               settings_from_args, two_words)


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
