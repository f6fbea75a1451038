# The two commands of the README: `make run` and `make test`. Each sets up everything it needs
# on a fresh machine (a .venv with pinned packages), then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench setup clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(VENV)/bin/aiv evaluate hybrid --out out/hybrid

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_evaluate.py

clean:
	rm -rf $(VENV) out .pytest_cache
