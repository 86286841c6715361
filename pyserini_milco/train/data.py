"""Parallel text for sparse alignment: NTREX-128 (English news sentences and their translations).

Pairs are (foreign sentence, English sentence). Validation holds out whole documents (by
``DOCUMENT_IDS.tsv``) so that no sentence of a validation document is seen in training.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from ..errors import InputError, MissingInput
from .settings_cli import COMMA_LIST, setting

#: NTREX file codes of the XQuAD-R languages (ISO 639-1 → NTREX code).
XQUAD_LANGUAGES = {
    "ar": "arb", "de": "deu", "el": "ell", "es": "spa", "hi": "hin", "ru": "rus",
    "th": "tha", "tr": "tur", "vi": "vie", "zh": "zho-CN",
}
ENGLISH_FILE = "NTREX-128/newstest2019-src.eng.txt"


def default_ntrex_dir() -> Path:
    """``../shared/data/ntrex`` beside the repository (where CI and developers keep it)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ntrex"


@dataclasses.dataclass(kw_only=True)
class NtrexSettings:
    """Which NTREX-128 text a command reads and which documents it holds out: stage 1 validates on
    them, stage 2's development set is built from them (the same ones for the same seed)."""

    ntrex_dir: Path = setting(factory=default_ntrex_dir, help="NTREX-128 folder (parallel text)")
    languages: list[str] = setting(factory=lambda: list(XQUAD_LANGUAGES), spelling=COMMA_LIST,
                                   help="comma-separated languages paired with English")
    validation_documents: int = setting(12, help="NTREX documents held out: stage 1's validation, stage 2's "
                                                 "development set (the same ones for the same seed)")


@dataclasses.dataclass(frozen=True)
class ParallelCorpus:
    """Line-aligned English sentences, their translations per language, and each line's document."""

    english: list[str]
    translations: dict[str, list[str]]
    documents: list[str]

    def split(self, validation_documents: int, seed: int) -> tuple[list[int], list[int]]:
        """(train lines, validation lines), whole documents held out for validation."""
        names = sorted(set(self.documents))
        held_out = set(random.Random(seed).sample(names, validation_documents))
        train = [i for i, d in enumerate(self.documents) if d not in held_out]
        valid = [i for i, d in enumerate(self.documents) if d in held_out]
        return train, valid


def _read_lines(path: Path, expected: int | None = None) -> list[str]:
    if not path.is_file():
        raise MissingInput(
            f"{path}: missing. Get NTREX-128 (github.com/MicrosoftTranslator/NTREX) with "
            "`python -m pyserini_milco.datasets fetch ntrex --out DIR` and pass --ntrex-dir DIR."
        )
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if expected is not None and len(lines) != expected:
        raise InputError(f"{path}: {len(lines)} lines, expected {expected} (files must be line-aligned)")
    return lines


def load_ntrex(ntrex_dir: Path, languages: list[str]) -> ParallelCorpus:
    """English side plus the given languages (ISO codes of :data:`XQUAD_LANGUAGES` or NTREX codes)."""
    english = _read_lines(ntrex_dir / ENGLISH_FILE)
    documents = [line.split("\t")[0] for line in _read_lines(ntrex_dir / "DOCUMENT_IDS.tsv", len(english))]
    translations = {}
    for lang in languages:
        code = XQUAD_LANGUAGES.get(lang, lang)
        translations[lang] = _read_lines(ntrex_dir / f"NTREX-128/newstest2019-ref.{code}.txt", len(english))
    return ParallelCorpus(english, translations, documents)
