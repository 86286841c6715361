"""Where the public evaluation and training data lives, and a small downloader for it.

The project reads its data from ``../shared/data/`` relative to the repository root (outside the
repository: data is never committed). Users without that folder fetch the same files, pinned to
fixed commits, from their public GitHub sources::

    python -m pyserini_milco.datasets fetch xquad-r --out ../shared/data
    python -m pyserini_milco.datasets fetch ntrex --out ../shared/data
    python -m pyserini_milco.datasets fetch miracl-topics --out ../shared/data

Each data set lands in its own folder under ``--out`` (``xquad-r/``, ``ntrex/``,
``miracl-v1.0-topics-qrels/``), the layout the rest of the package expects. Files already present
are kept, so an interrupted fetch can simply be rerun.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..errors import MilcoError, MissingInput, OptionError

RAW_BASE = "https://raw.githubusercontent.com"
XQUADR_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MIRACL_LANGUAGES = ("ar", "bn", "de", "en", "es", "fa", "fi", "fr", "hi", "id", "ja", "ko", "ru", "sw", "te", "th",
                    "yo", "zh")
# The reference files of NTREX-128 (newstest2019-ref.<code>.txt), as published at the pinned commit.
NTREX_CODES = tuple("""
afr amh arb aze-Latn bak bel bem ben bod bos bul cat ces ckb-Arab cym dan deu div dzo ell eng-GB eng-IN eng-US est
eus ewe fao fas fij fil fin fra fra-CA fuc gle glg guj hau heb hin hmn hrv hun hye ibo ind isl ita jpn kan kat kaz
khm kin kir kmr kor lao lav lit ltz mal mar mey mkd mlg mlt mon mri msa mya nde nep nld nno nob nso nya orm pan pol
por por-BR prs pus ron rus shi sin slk slv smo sna-Latn snd-Arab som spa spa-MX sqi srp-Cyrl srp-Latn ssw swa swe
tah tam tat tel tgk-Cyrl tha tir ton tsn tuk tur uig ukr urd uzb ven vie wol xho yor yue zho-CN zho-TW zul
""".split())

Urlopen = Callable[..., object]


class DownloadError(MilcoError, ConnectionError):
    """A file could not be downloaded; the message says what to do without internet access."""


@dataclass(frozen=True)
class Source:
    """One data set: a GitHub repository pinned to a commit, and the files to take from it."""

    name: str
    repo: str
    commit: str
    folder: str
    files: tuple[tuple[str, str], ...]  # (path in the repository, path under ``folder``)

    @property
    def homepage(self) -> str:
        """The repository's web address, for error messages."""
        return f"github.com/{self.repo}"


def raw_url(repo: str, commit: str, path: str) -> str:
    """The raw.githubusercontent.com address of ``path`` in ``repo`` at ``commit``."""
    return f"{RAW_BASE}/{repo}/{commit}/{path}"


def _xquadr() -> Source:
    files = [("LICENSE", "LICENSE")] + [(f"xquad-r/{lang}.json", f"{lang}.json") for lang in XQUADR_LANGUAGES]
    return Source("xquad-r", "google-research-datasets/lareqa", "9bc8c7f", "xquad-r", tuple(files))


def _ntrex() -> Source:
    top = [(name, name) for name in ("LICENSE.md", "LANGUAGES.tsv", "DOCUMENT_IDS.tsv")]
    texts = ["newstest2019-src.eng.txt", "newstest2019-ref-2.spa.txt"]
    texts += [f"newstest2019-ref.{code}.txt" for code in NTREX_CODES]
    files = top + [(f"NTREX-128/{name}", f"NTREX-128/{name}") for name in texts]
    return Source("ntrex", "MicrosoftTranslator/NTREX", "8561f6a", "ntrex", tuple(files))


def _miracl_topics() -> Source:
    names = [f"{kind}.miracl-v1.0-{lang}-dev.tsv" for lang in MIRACL_LANGUAGES for kind in ("topics", "qrels")]
    files = [(f"topics-and-qrels/{name}", name) for name in names]
    return Source("miracl-topics", "castorini/anserini-tools", "5b819c1", "miracl-v1.0-topics-qrels", tuple(files))


SOURCES: dict[str, Source] = {source.name: source for source in (_xquadr(), _ntrex(), _miracl_topics())}


def repo_root() -> Path:
    """The repository (or installation) folder that holds the ``pyserini_milco`` package."""
    return Path(__file__).resolve().parents[2]


def default_data_dir(name: str) -> Path:
    """Default location of data set ``name``: ``../shared/data/<folder>`` next to the repository."""
    return repo_root().parent / "shared" / "data" / SOURCES[name].folder


def require_data_dir(name: str, path: str | Path | None = None) -> Path:
    """``path`` (or the default location) if it exists, else an error saying how to get the data."""
    source = SOURCES[name]
    folder = Path(path) if path is not None else default_data_dir(name)
    if folder.is_dir():
        return folder
    raise MissingInput(
        f"{source.name} data not found at {folder}. Get it from {source.homepage} (commit {source.commit}) with "
        f"`python -m pyserini_milco.datasets fetch {source.name} --out DIR`, then pass --data-dir DIR/{source.folder} "
        f"(or put it in {default_data_dir(name)})."
    )


def download_plan(name: str, out: str | Path) -> list[tuple[str, Path]]:
    """``(url, destination)`` for every file of data set ``name`` fetched into ``out``."""
    if name not in SOURCES:
        raise OptionError(f"unknown data set {name!r}; choose one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    folder = Path(out) / source.folder
    return [(raw_url(source.repo, source.commit, remote), folder / local) for remote, local in source.files]


def download_file(url: str, dest: Path, urlopen: Urlopen | None = None, timeout: float = 60.0) -> None:
    """Fetch ``url`` into ``dest`` atomically; a network failure says what to do without internet.

    ``urlopen`` defaults to ``urllib.request.urlopen`` (looked up at call time, so tests can replace it).
    """
    try:
        with (urlopen or urllib.request.urlopen)(url, timeout=timeout) as response, atomic_output(dest, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"could not download {url} ({reason}). This machine may have no internet access: run the same "
            f"command on a machine that has, then copy {dest.parent} here."
        ) from error


def fetch(name: str, out: str | Path, urlopen: Urlopen | None = None) -> list[Path]:
    """Download every missing file of data set ``name`` under ``out``; return all its local paths."""
    plan = download_plan(name, out)
    for url, dest in tqdm(plan, desc=f"fetch {name}", unit="file"):
        if not dest.exists():
            download_file(url, dest, urlopen)
    return [dest for _, dest in plan]


def build_parser() -> argparse.ArgumentParser:
    """Command line: ``fetch NAME --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.datasets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download a data set from its public source")
    fetch_parser.add_argument("name", choices=sorted(SOURCES), help="which data set to download")
    fetch_parser.add_argument("--out", required=True, type=Path,
                              help="parent folder; the files go to OUT/<data set folder>/ (e.g. --out ../shared/data)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pyserini_milco.datasets``."""
    args = build_parser().parse_args(argv)
    try:
        paths = fetch(args.name, args.out)
    except ConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(paths)} files of {args.name} in {Path(args.out) / SOURCES[args.name].folder}")
    return 0
