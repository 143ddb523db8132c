# tenantmove: every target builds its own virtual environment from pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SANDBOX_DIR := .sandbox

.PHONY: demo test lab sandbox lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole migration against the embedded sandbox; prints the run's index page.
demo: $(STAMP)
	$(PY) -m tenantmove demo parameters/demo.yaml

# Unit, sandbox integration and notebook tests.
test: $(STAMP)
	$(PY) -m ruff check lib tests bench
	$(PY) -m pytest

# Start the sandbox and JupyterLab to step through the notebooks by hand.
lab: $(STAMP)
	$(PY) -m tenantmove lab parameters/demo.yaml

# Run the sandbox in the foreground (Ctrl-C stops it).
sandbox: $(STAMP)
	$(PY) -m tenantmove.sandbox --state-dir $(SANDBOX_DIR)

bench: $(STAMP)
	$(PY) bench/bench_graph.py
	$(PY) bench/bench_ledger.py

clean:
	rm -rf $(VENV) $(SANDBOX_DIR) .pytest_cache
