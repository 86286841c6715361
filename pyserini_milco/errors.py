"""The project's errors, and how a command shows them: one line, ``error: <message>``.

Every error this package raises on purpose (a bad corpus line, a checkpoint that cannot be loaded, a
wrong option, a part that cannot be fetched, ...) derives from :class:`MilcoError`; its message says
what is wrong and what to do, so a traceback around it is noise. The subclasses keep the built-in
base they had (``ValueError``, ``RuntimeError``, ...), so ``except ValueError`` still catches them.

Commands report them with :func:`install_excepthook`: our own (``python -m pyserini_milco.*``, see
:func:`run`) and, through the import hook, the stock ``python -m pyserini.*`` commands
(:func:`install_for_pyserini_commands`). Any other exception keeps Python's traceback. Importing
this module imports nothing else of the package.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NoReturn

class MilcoError(Exception):
    """An error of this package whose message tells the user what went wrong and what to do."""


class OptionError(MilcoError, ValueError):
    """A flag, an environment variable or a setting has a value that cannot be used; the message names it."""


class InputError(MilcoError, ValueError):
    """A file's content is not what it must be; the message names the file (and line)."""


class MissingInput(MilcoError, FileNotFoundError):
    """A file or folder the user named (or a default location) does not exist; the message says what to give."""


def error_line(error: BaseException) -> str:
    """How a command shows ``error``: ``error: <message>``."""
    return f"error: {error}"


def _excepthook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    """``sys.excepthook`` that prints a :class:`MilcoError` as one line and hands the rest on."""
    if isinstance(error, MilcoError):
        print(error_line(error), file=sys.stderr, flush=True)
        return
    _previous_hook(kind, error, traceback)


_previous_hook = sys.__excepthook__


def install_excepthook() -> None:
    """Show an uncaught :class:`MilcoError` as one line (the process still exits with status 1)."""
    global _previous_hook
    if sys.excepthook is not _excepthook:
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook


def main_module(argv: Sequence[str]) -> str | None:
    """The module that ``argv`` (an interpreter command line, ``sys.orig_argv``) runs with ``-m``, if any."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None)
        if arg.startswith("-m"):
            return arg[2:]
        if arg in ("-X", "-W"):
            next(args, None)
        elif arg == "-c" or arg == "-" or not arg.startswith("-"):
            return None
    return None


def is_pyserini_command(module: str | None) -> bool:
    """Whether ``module`` is Pyserini's (``pyserini``, ``pyserini.encode``, ...)."""
    return module is not None and (module == "pyserini" or module.startswith("pyserini."))


def install_for_pyserini_commands() -> None:
    """:func:`install_excepthook` when this process is a stock ``python -m pyserini.*`` command.

    Called by the import hook before ``pyserini`` runs; programs that merely import ``pyserini``
    keep Python's tracebacks.
    """
    if is_pyserini_command(main_module(getattr(sys, "orig_argv", []))):
        install_excepthook()


def run(main: Callable[[], int | None]) -> NoReturn:
    """Run a command's ``main`` the way ``python -m pyserini_milco.<command>`` does: a
    :class:`MilcoError` ends it with one line and status 1; ``main``'s return value is the exit status."""
    install_excepthook()
    raise SystemExit(main())
