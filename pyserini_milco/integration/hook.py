"""Install or remove the ``.pth`` start-up line that loads :mod:`_pyserini_milco_hook`.

``python -m pyserini_milco.hook install|uninstall|status``. ``make setup`` runs ``install``; a wheel
install ships the same file. The line only installs an import finder (see the hook's docstring).
"""
from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path

PTH_NAME = "pyserini_milco.pth"
PTH_LINE = "import _pyserini_milco_hook; _pyserini_milco_hook.install()\n"


def pth_path() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def install() -> Path:
    path = pth_path()
    tmp = path.with_name(f".{PTH_NAME}.tmp")
    tmp.write_text(PTH_LINE)
    tmp.replace(path)
    return path


def uninstall() -> Path:
    path = pth_path()
    path.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.hook", description=__doc__)
    parser.add_argument("action", choices=["install", "uninstall", "status"],
                        help="install: write the .pth line; uninstall: remove it; status: say where it is")
    args = parser.parse_args(argv)
    if args.action == "install":
        print(f"installed {install()}")
    elif args.action == "uninstall":
        print(f"removed {uninstall()}")
    else:
        path = pth_path()
        print(f"{path}: {'installed' if path.is_file() else 'not installed'}")
