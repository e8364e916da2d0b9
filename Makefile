# CreativeOps: `make run` starts the system on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PYTHONUNBUFFERED := 1

.PHONY: install run serve test lint browser clean-data help

help:
	@echo "make run   - install, migrate, create the operator account, seed a catalog, train, serve on :8000"
	@echo "make test  - install everything the suite needs and run it (ruff + pytest)"
	@echo "make lint  - ruff and the import-linter layer contracts"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# torch is pinned to the CPU build (2.13.0); pip takes it from the local wheel cache where one exists.
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	DEBUG=$${DEBUG:-1} bash scripts/run.sh

serve: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver 127.0.0.1:8000

browser:
	bash scripts/ensure_browser.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check . || true

test: install browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run --settings=creativeops.settings_test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean-data:
	rm -rf var
