"""Data set locations and the downloader (URL building and the offline error; no network is used)."""
from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest

from pyserini_milco.evaluation.datasets import default_data_dir, download_plan, fetch, main, raw_url, require_data_dir


def test_urls_are_pinned_raw_github_addresses(tmp_path):
    assert raw_url("o/r", "abc1234", "x/y.json") == "https://raw.githubusercontent.com/o/r/abc1234/x/y.json"
    plan = dict(download_plan("xquad-r", tmp_path))
    assert plan["https://raw.githubusercontent.com/google-research-datasets/lareqa/9bc8c7f/xquad-r/th.json"] == \
        tmp_path / "xquad-r" / "th.json"
    ntrex = dict(download_plan("ntrex", tmp_path))
    assert ntrex["https://raw.githubusercontent.com/MicrosoftTranslator/NTREX/8561f6a/NTREX-128/"
                 "newstest2019-ref.zho-CN.txt"] == tmp_path / "ntrex" / "NTREX-128" / "newstest2019-ref.zho-CN.txt"
    miracl = dict(download_plan("miracl-topics", tmp_path))
    name = "qrels.miracl-v1.0-sw-dev.tsv"
    assert miracl[f"https://raw.githubusercontent.com/castorini/anserini-tools/5b819c1/topics-and-qrels/{name}"] == \
        tmp_path / "miracl-v1.0-topics-qrels" / name
    with pytest.raises(ValueError, match="unknown data set 'mkqa'"):
        download_plan("mkqa", tmp_path)


@pytest.mark.parametrize("name", ["xquad-r", "ntrex", "miracl-topics"])
def test_plan_names_exactly_the_files_of_the_shared_copy(name, tmp_path):
    folder = default_data_dir(name)
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    planned = {dest.relative_to(tmp_path / folder.name) for _, dest in download_plan(name, tmp_path)}
    assert planned == {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def offline(url, timeout):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_no_network_error_says_what_to_do(tmp_path, capsys, monkeypatch):
    with pytest.raises(ConnectionError, match="may have no internet access.*copy .*xquad-r here"):
        fetch("xquad-r", tmp_path, urlopen=offline)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no partial file may be left"
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["fetch", "ntrex", "--out", str(tmp_path)]) == 1
    assert "could not download https://raw.githubusercontent.com/MicrosoftTranslator" in capsys.readouterr().err


def test_fetch_writes_missing_files_and_keeps_existing_ones(tmp_path):
    (tmp_path / "xquad-r").mkdir()
    (tmp_path / "xquad-r" / "LICENSE").write_text("kept")
    paths = fetch("xquad-r", tmp_path, urlopen=lambda url, timeout: io.BytesIO(url.encode()))
    assert (tmp_path / "xquad-r" / "LICENSE").read_text() == "kept"
    assert paths[1].read_text().endswith("lareqa/9bc8c7f/xquad-r/ar.json")


def test_missing_data_names_the_source(tmp_path):
    assert require_data_dir("xquad-r", tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match=r"MicrosoftTranslator/NTREX \(commit 8561f6a\).*fetch ntrex"):
        require_data_dir("ntrex", tmp_path / "absent")
