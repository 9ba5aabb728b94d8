# Every target creates or reuses .venv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run dev serve start build test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON) is older)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## the one-machine start: embedded Valkey + service on :9000
	$(BIN)/orchestrator run

dev: $(STAMP)  ## like run, reloading on source changes
	$(BIN)/orchestrator serve --reload

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

build: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist

start: build  ## run the built wheel from its own virtual environment
	rm -rf .venv-start
	$(PYTHON) -m venv .venv-start
	.venv-start/bin/python -m pip install --quiet dist/*.whl
	.venv-start/bin/orchestrator run

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-start dist .mypy_cache .ruff_cache .pytest_cache
