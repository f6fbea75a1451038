# The README's two commands: `make run` and `make test`. Each sets up everything it needs on a
# fresh machine (a .venv with the pinned packages; Debian's chromium and bubblewrap for the tests),
# then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AIV := $(VENV)/bin/aiv
STAMP := $(VENV)/.installed
STORE ?= lab
# pytest-xdist processes for `make test`: the suite is CPU-bound, one per core of the 2-core CI machine
TEST_WORKERS ?= 2
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: setup sandbox browser run serve lint test bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Debian's bubblewrap: the codec sandbox's filesystem view for a lab that is not root (as root the
# lab builds its own jail; `aiv run` refuses a weaker sandbox unless --allow-weak-sandbox).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else echo "bwrap is missing and this is not root: install Debian's bubblewrap for the full sandbox view"; fi; }

# Debian's chromium for the browser tests (never a browser download of Playwright's own), and
# bubblewrap, the codec sandbox's filesystem view for a lab that is not root.
browser:
	@{ command -v chromium && command -v bwrap; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium bubblewrap; \
	  else echo "chromium or bwrap is missing and this is not root: the browser tests or the bwrap sandbox tests will be skipped"; fi; }

# A short offline campaign on the built-in corpus: seeds, then candidates from the offline proposer.
run: setup sandbox
	$(AIV) run --iterations 4 --parallel 2 --frames 20 --store $(STORE)

serve: setup
	$(AIV) serve --store $(STORE)

# ruff's formatter and linter (configured in pyproject.toml) on the tree, mypy on the typed packages.
lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup browser lint
	$(PY) -m pytest -q -n $(TEST_WORKERS)

bench: setup
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_evaluate.py --repeat 1
	$(PY) bench/bench_store.py
	$(PY) bench/bench_dashboard.py
	$(PY) bench/bench_campaign.py
	$(PY) bench/bench_sandbox.py
	$(PY) bench/bench_codec.py --repeat 1

clean:
	rm -rf $(VENV) out .pytest_cache test-artifacts
