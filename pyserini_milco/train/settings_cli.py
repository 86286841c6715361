"""Command-line flags generated from a settings dataclass, and the settings built back from them, so
that each setting (its default, type and help) is written once: in its dataclass field.

A field ``batch_size: int = 8`` is the flag ``--batch-size`` (type ``int``, default 8); its help is
``metadata["help"]`` (see :func:`setting`). A subclass that only changes a default redeclares the
field plainly (``steps: int = 400``) and keeps the help, and anything else, its bases gave. Where the
command line spells a value otherwise, the metadata says how:

* ``type``: the argparse parser of the flag's text (e.g. :func:`int_list`);
* ``choices``: the values the flag accepts;
* ``flag``: another flag name (``--init`` for ``uniform_init``);
* ``spelling``: a :class:`Spelling`, how a value is written on the command line and read back
  (a comma-separated list, a boolean as two words, a negated switch).

A ``bool`` field without a spelling of two words is a switch (``store_true``), off by default.
"""
from __future__ import annotations

import argparse
import dataclasses
import operator
import typing
from collections.abc import Callable, Collection
from typing import Any


@dataclasses.dataclass(frozen=True)
class Spelling:
    """How a field's value is written on the command line (``show``, which gives the flag's default)
    and read back from what argparse parsed (``read``)."""

    show: Callable[[Any], Any]
    read: Callable[[Any], Any]
    choices: tuple[str, ...] | None = None


def _split_commas(text: str) -> list[str]:
    return text.split(",")


#: a list of words as ``a,b,c``
COMMA_LIST = Spelling(",".join, _split_commas)
#: a boolean on by default, turned off by a switch (``--freeze-multiplier`` for ``train_multiplier``)
NEGATED_SWITCH = Spelling(operator.not_, operator.not_)


def two_words(true: str, false: str) -> Spelling:
    """A boolean written as one of two words (``on``/``off``, ``uniform``/``keep``)."""
    return Spelling(lambda value: true if value else false, lambda text: text == true, (true, false))


def int_list(text: str) -> list[int]:
    """``6-11`` (a range, both ends included) or ``0,5,11``."""
    if "-" in text and "," not in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(x) for x in text.split(",")]


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, help: str | None = None,
            **cli: Any) -> Any:
    """A dataclass field with its command-line help and spelling (``type``, ``choices``, ``flag``,
    ``spelling``) in its metadata; no ``default`` and no ``factory`` make it required."""
    metadata = {"help": help, **cli} if help is not None else cli
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def _metadata(cls: type, name: str) -> dict[str, Any]:
    """The field's metadata merged from the classes that declare it, the most derived last (a plain
    redeclaration that changes the default keeps its bases' help)."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if name in klass.__dict__.get("__annotations__", {}):
            merged.update(klass.__dataclass_fields__[name].metadata)
    return merged


def _flag(field: dataclasses.Field, metadata: dict[str, Any]) -> str:
    return metadata.get("flag", "--" + field.name.replace("_", "-"))


def _dest(field: dataclasses.Field, metadata: dict[str, Any]) -> str:
    return _flag(field, metadata).lstrip("-").replace("-", "_")


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


_UNIONS = (typing.Union, type(int | None))


def _value_type(hint: Any) -> Any:
    """``X`` for ``X`` and for ``X | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in _UNIONS and len(args) == 1 else hint


def _flag_options(field: dataclasses.Field, hint: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """``add_argument``'s keywords for one field."""
    if "help" not in metadata:
        raise TypeError(f"setting {field.name!r} has no help: give it setting(..., help=...)")
    options: dict[str, Any] = {"dest": _dest(field, metadata), "help": metadata["help"].replace("%", "%%")}
    spelling: Spelling | None = metadata.get("spelling")
    if _required(field):
        options["required"] = True
    else:
        options["default"] = spelling.show(_default(field)) if spelling else _default(field)
    value_type = _value_type(hint)
    if value_type is bool and (spelling is None or spelling.choices is None):
        if options.get("default") is not False:
            raise TypeError(f"setting {field.name!r}: a switch is off by default; spell it NEGATED_SWITCH")
        return {**options, "action": "store_true"}
    choices = spelling.choices if spelling and spelling.choices else metadata.get("choices")
    if choices is not None:
        options["choices"] = tuple(choices)
    parser = metadata.get("type", None if spelling or value_type is str else value_type)
    if parser is not None:
        options["type"] = parser
    return options


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type, only: Collection[str] | None = None) -> None:
    """One flag per field of the settings dataclass ``cls`` (those named in ``only``, if given):
    required ones first, then in field order."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and (only is None or f.name in only)]
    for field in sorted(fields, key=lambda f: not _required(f)):
        metadata = _metadata(cls, field.name)
        parser.add_argument(_flag(field, metadata), **_flag_options(field, hints[field.name], metadata))


def settings_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The settings ``cls`` from the flags :func:`add_settings_arguments` added, as parsed."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.init:
            metadata = _metadata(cls, field.name)
            value = getattr(args, _dest(field, metadata))
            values[field.name] = metadata["spelling"].read(value) if "spelling" in metadata else value
    return cls(**values)
