"""Running Pyserini's stock CLIs in a child process with Java configured."""
from __future__ import annotations

import sys

import pytest

from pyserini_milco.integration import pyserini_cli
from pyserini_milco.integration.pyserini_cli import ToolError


def test_command_runs_the_module_with_this_interpreter():
    argv = pyserini_cli.command("pyserini.index.lucene", ["--threads", 2])
    assert argv[0] == sys.executable and argv[1] == "-c" and argv[3:] == ["pyserini.index.lucene", "--threads", "2"]
    assert "import pyserini_milco" in argv[2]


def test_output_is_returned_and_logged_and_failures_quote_it(tmp_path):
    (tmp_path / "ok.json").write_text('{"a": 1}')
    out = pyserini_cli.run("json.tool", [tmp_path / "ok.json"], log=tmp_path / "logs" / "ok.log")
    assert '"a": 1' in out and (tmp_path / "logs" / "ok.log").read_text() == out
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(RuntimeError, match=r"`python -m json.tool .*bad.json` failed \(exit 1\).*\n.*Expecting"):
        pyserini_cli.run("json.tool", [tmp_path / "bad.json"])


def test_a_tool_failing_on_the_terminal_is_one_tool_error(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ToolError, match=r"`python -m json.tool .*bad.json` failed \(exit 1\); its output is above"):
        pyserini_cli.run_on_terminal("json.tool", [tmp_path / "bad.json"])
