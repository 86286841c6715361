"""The demo reuses an encoded pool only when it was made by the same model build from the same pool."""
from pathlib import Path

from pyserini_milco.cli.demo import encoding_folder


def test_encoding_folder_differs_per_model_build_languages_and_paragraphs(tmp_path):
    build = Path("/cache/milco-mini-7e54d5dcd60d")
    folder = encoding_folder(tmp_path, build, ["en", "de"], 100)
    assert folder.parent == tmp_path / "encoded" and "7e54d5dcd60d" in folder.name
    assert folder == encoding_folder(tmp_path, build, ["en", "de"], 100)
    others = {encoding_folder(tmp_path, Path("/cache/milco-mini-a25ea4e662b6"), ["en", "de"], 100),
              encoding_folder(tmp_path, build, ["en", "zh"], 100),
              encoding_folder(tmp_path, build, ["en", "de"], 50)}
    assert folder not in others and len(others) == 3
