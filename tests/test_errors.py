"""The project's errors reach the user of a command as one line, ``error: <message>``, with a non-zero
exit status: through the stock ``python -m pyserini.*`` commands (the import hook) and our own
``python -m pyserini_milco.*`` commands. Any other exception keeps its traceback."""
import os
import subprocess
import sys

import pytest

from pyserini_milco import errors
from pyserini_milco.collection.corpus import CorpusError
from pyserini_milco.collection.writer import ResumeError
from pyserini_milco.errors import InputError, MilcoError, MissingInput, OptionError
from pyserini_milco.evaluation.datasets import DownloadError
from pyserini_milco.integration.lucene import IndexingError
from pyserini_milco.integration.pyserini_cli import ToolError
from pyserini_milco.mini.build import BuildError
from pyserini_milco.mini.parts import PartsError
from pyserini_milco.mini.q4 import Q4FormatError
from pyserini_milco.mini.wheels import WheelError
from pyserini_milco.modeling.checkpoint import CheckpointError
from pyserini_milco.regression.config import ConfigError
from pyserini_milco.regression.runner import StepFailed

#: Each project error type and the built-in base it keeps (``except ValueError`` still catches it).
ERROR_TYPES = [(CorpusError, ValueError), (ResumeError, ValueError), (CheckpointError, ValueError),
               (OptionError, ValueError), (InputError, ValueError), (MissingInput, FileNotFoundError),
               (DownloadError, ConnectionError), (IndexingError, RuntimeError), (ToolError, RuntimeError),
               (BuildError, RuntimeError), (PartsError, RuntimeError), (Q4FormatError, ValueError),
               (WheelError, RuntimeError), (ConfigError, ValueError), (StepFailed, RuntimeError)]


def python(*args, env=None, timeout=600):
    """Run ``python ARGS`` with this interpreter (and its start-up hook)."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_one_error_line(done, *fragments):
    """A non-zero exit, no traceback, and exactly one ``error:`` line holding every fragment."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode != 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-3000:]
    assert all(fragment in lines[0] for fragment in fragments), lines[0]


def offline(tmp_path):
    """An environment where the Hugging Face hub cannot be reached and nothing is cached."""
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HOME": str(tmp_path / "hf")}


def encode_args(corpus, out, encoder):
    return ["input", "--corpus", corpus, "--fields", "text", "output", "--embeddings", out,
            "encoder", "--encoder", encoder, "--device", "cpu"]


@pytest.mark.parametrize("error_type, base", ERROR_TYPES, ids=lambda t: getattr(t, "__name__", ""))
def test_project_errors_are_milco_errors_and_keep_their_base(error_type, base):
    assert issubclass(error_type, MilcoError) and issubclass(error_type, base)


@pytest.mark.parametrize("argv, module", [
    (["python", "-m", "pyserini.encode", "input"], "pyserini.encode"),
    (["python", "-X", "utf8", "-u", "-mpyserini.search.lucene"], "pyserini.search.lucene"),
    (["python", "-c", "import pyserini", "-m"], None),
    (["python", "script.py", "-m", "pyserini.encode"], None),
    (["python"], None),
])
def test_main_module_of_a_command_line(argv, module):
    assert errors.main_module(argv) == module


@pytest.mark.parametrize("module, stock", [("pyserini", True), ("pyserini.encode", True),
                                           ("pyserini_milco.encode", False), ("pytest", False), (None, False)])
def test_only_pyserini_commands_are_stock(module, stock):
    assert errors.is_pyserini_command(module) is stock


def test_other_exceptions_keep_their_traceback():
    code = ("import sys; from pyserini_milco import errors; errors.install_excepthook(); "
            "from pyserini_milco.modeling.checkpoint import CheckpointError; "
            "raise {}('what went wrong')")
    assert_one_error_line(python("-c", code.format("CheckpointError")), "what went wrong")
    done = python("-c", code.format("KeyError"))
    assert done.returncode == 1 and "Traceback" in done.stderr and "KeyError: 'what went wrong'" in done.stderr


def test_importing_pyserini_elsewhere_keeps_tracebacks():
    """Only a ``python -m pyserini.*`` command gets one-line errors, not every program importing pyserini."""
    code = ("import pyserini; from pyserini_milco.errors import OptionError; "
            "raise OptionError('PYSERINI_MILCO_PRUNE=x')")
    done = python("-c", code)
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_stock_encode_bad_corpus_line_is_one_line(tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n')
    done = python("-m", "pyserini.encode", *encode_args(corpus, tmp_path / "out", "milco-mini"))
    assert_one_error_line(done, "bad.jsonl:2: ")
    assert not list((tmp_path / "out").glob("*.jsonl"))


def test_stock_encode_released_model_offline_is_one_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "ok"}\n')
    done = python("-m", "pyserini.encode", *encode_args(corpus, tmp_path / "out", "milco"), env=offline(tmp_path),
                  timeout=120)
    assert_one_error_line(done, "--local-dir", "milco-mini")


def test_stock_encode_wrong_option_variable_is_one_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "ok"}\n')
    done = python("-m", "pyserini.encode", *encode_args(corpus, tmp_path / "out", "milco-mini"),
                  env={"PYSERINI_MILCO_PRECISION": "fp16"}, timeout=300)
    assert_one_error_line(done, "PYSERINI_MILCO_PRECISION='fp16'")


def test_wrapper_bad_corpus_line_is_one_line(official_checkpoint, tmp_path):
    folder, _ = official_checkpoint
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "ok"}\nnot json\n')
    done = python("-m", "pyserini_milco.encode", *encode_args(corpus, tmp_path / "o", folder), timeout=120)
    assert_one_error_line(done, "c.jsonl:2: ")
    assert not list((tmp_path / "o").glob("*.jsonl"))


def test_wrapper_released_model_offline_is_one_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "ok"}\n')
    done = python("-m", "pyserini_milco.encode", *encode_args(corpus, tmp_path / "out", "milco"),
                  env=offline(tmp_path), timeout=120)
    assert_one_error_line(done, "--local-dir", "milco-mini")


def test_run_returns_mains_status(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run() installs the hook; undo it afterwards
    with pytest.raises(SystemExit) as exit_info:
        errors.run(lambda: 3)
    assert exit_info.value.code == 3
