# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   isolated environment, install, run a real study on SQLite
#   make test   install the test dependencies, run ruff, build the docs, run the whole test suite
# While working: `make test-fast` (the unit tests, under a minute), `make lint` (ruff) and
# `make docs` / `make docs-serve` (the manual in docs/, see CONTRIBUTING.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast lint docs docs-serve test-deps install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

demo: install
	$(BIN)/tuner study run studies/digits-momentum.toml --jobs auto
	$(BIN)/tuner study show digits-momentum

# Installed again only when pyproject.toml changes (the install is editable), so that
# test-fast stays fast.
TEST_DEPS := $(VENV)/.test-deps
$(TEST_DEPS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@

test-deps: $(TEST_DEPS)

# The linter, the manual (a broken link fails it), then every test: unit, integration
# (databases, subprocesses, signals), e2e (browser, Docker stack), with the servers and
# tools they need made ready first (tests/services.sh: installs with apt, needs root). It
# ends with the 25 slowest tests: CI has 45 minutes for the whole run.
test: lint docs
	bash tests/services.sh $(BIN)/python -m pytest -q --durations=25

# The unit tests only: in-process, no server, no subprocess, no signal; spread over up to
# 4 processes (pytest-xdist), as they share nothing.
test-fast: test-deps
	$(BIN)/python -m pytest -q -m unit -n auto --maxprocesses 4

lint: test-deps
	$(BIN)/ruff check .

# The manual, from docs/ and mkdocs.yml, into site/ (git-ignored); --strict: a broken link,
# anchor or include is an error, not a warning.
docs: test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

clean:
	rm -rf $(VENV) site tuner.db tuner.db-wal tuner.db-shm
