# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   isolated environment, install, run a real study on SQLite
#   make test   install the test dependencies, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

demo: install
	$(BIN)/tuner study run studies/digits-momentum.toml --jobs auto
	$(BIN)/tuner study show digits-momentum

test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) tuner.db tuner.db-wal tuner.db-shm
