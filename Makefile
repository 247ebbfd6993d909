# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-test browser stop bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-test: $(BIN)/python browser
	$(BIN)/pip install --quiet -e '.[test]'

# Debian's chromium for the dashboard's browser test (no browser download at run time)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends chromium; }

run: setup
	$(BIN)/covalent-ray start
	$(BIN)/python examples/quickstart.py

stop:
	$(BIN)/covalent-ray stop

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/core_shapes.py
