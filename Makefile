# larseg: two commands set everything up on a fresh machine (Python 3.11, no torch):
#   make demo   installs, simulates events, writes event displays and a summary
#   make test   installs the test dependencies and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip install -c constraints.txt
DEMO_DIR ?= demo_output

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned: the local CPU build (an unpinned torch pulls several GB of CUDA wheels)
$(VENV)/.torch: | $(BIN)/python
	$(PIP) -q torch==2.13.0
	touch $@

$(VENV)/.installed: pyproject.toml constraints.txt $(VENV)/.torch
	$(PIP) -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -q -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/larseg demo --output $(DEMO_DIR)

test: install-test
	$(BIN)/python -m pytest -n 2 -q

# every speed benchmark (each prints a table and writes benchmarks/results/); not tests
bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
