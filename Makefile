# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint setup setup-test browser servers debian-test stop bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-test: $(BIN)/python browser servers debian-test
	$(BIN)/pip install --quiet -e '.[test]'

# Debian's rsync and gcc for the file-transfer and C-lepton tests
debian-test:
	@command -v rsync >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends rsync gcc libc6-dev; }

# Debian's chromium for the dashboard's browser test (no browser download at run time)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends chromium; }

# Debian's sshd, Slurm and munge: the SSH and Slurm executor tests start their own
# daemons on 127.0.0.1 from these binaries (never the system's services)
servers:
	@command -v /usr/sbin/sshd >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 && \
		command -v munged >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends openssh-server slurm-wlm munge; }

run: setup
	$(BIN)/covalent-ray start
	$(BIN)/python examples/quickstart.py

stop:
	$(BIN)/covalent-ray stop

test: setup-test lint
	$(BIN)/python -m pytest -q

# ruff (lint and format check) over src and tests, mypy over src; run by `make test`
lint: setup-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

bench: setup
	$(BIN)/python benchmarks/core_shapes.py
