# tenantmove: every target builds its own virtual environment from pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SANDBOX_DIR := .sandbox

.PHONY: demo demo-merge test test-fast lab sandbox lint notebooks bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole migration against the embedded sandbox; prints the run's index page.
demo: $(STAMP)
	$(PY) -m tenantmove demo parameters/demo.yaml

# The merge demo: the sandbox's two old tenants (Contoso, Fabrikam) into one new one; prints the merge index.
demo-merge: $(STAMP)
	$(PY) -m tenantmove demo-merge parameters/merge-demo.yaml

# Unit, sandbox integration and notebook tests, in two worker processes (each with its own sandbox; a test
# file stays in one worker, so the story of tests/test_cutover_story.py is told in order): about 12 minutes.
test: $(STAMP)
	$(PY) -m ruff check lib tests bench notebooks
	$(PY) -m tenantmove notebooks --check
	$(PY) -m pytest -n 2 --dist loadfile

# Everything except executing notebooks and waiting out the service's real-time limits, in three workers (the
# tests mostly wait on sockets): 65 s on two quiet cores, up to about 90 under load.
test-fast: $(STAMP)
	$(PY) -m ruff check lib tests bench notebooks
	$(PY) -m pytest -m "not notebook and not waits" -n 3

# Regenerate the notebooks' parameters cells from the parameter specification.
notebooks: $(STAMP)
	$(PY) -m tenantmove notebooks

# Start the sandbox and JupyterLab to step through the notebooks by hand.
lab: $(STAMP)
	$(PY) -m tenantmove lab parameters/demo.yaml

# Run the sandbox in the foreground (Ctrl-C stops it).
sandbox: $(STAMP)
	$(PY) -m tenantmove.sandbox --state-dir $(SANDBOX_DIR)

bench: $(STAMP)
	$(PY) bench/bench_graph.py
	$(PY) bench/bench_ledger.py
	$(PY) bench/bench_engine.py
	$(PY) bench/bench_files.py
	$(PY) bench/bench_mail.py
	$(PY) bench/bench_teams.py
	$(PY) bench/bench_cutover.py
	$(PY) bench/bench_scale.py

clean:
	rm -rf $(VENV) $(SANDBOX_DIR) .pytest_cache
