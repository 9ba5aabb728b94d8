# Every target creates or reuses .venv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: run dev serve start build test lint bench clean vendor

# The venv gets uv, which installs the project ten times faster than pip does.
$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON) is older)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.4,<1'

# `make run` installs what the service needs; every other target adds the development tools.
# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set nothing else writes .pyc files, and
# every process would compile its libraries' sources as it imports them (numba: 1.8 s, not 0.6).
$(RUN_STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e .
	$(BIN)/python -m orchestrator.centroid_merge  # compiled into numba's cache once: docs/aggregation.md
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,semantic]'
	$(BIN)/python -m orchestrator.centroid_merge
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)  ## the one-machine start: embedded Valkey + service on :9000 + workers
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

# The dashboard's chart library, vendored (the service needs no node and no network to serve it).
UPLOT_VERSION := 1.6.32
VENDOR := src/orchestrator/dashboard/static/vendor

vendor:  ## re-fetch the pinned uPlot with npm and check it against $(VENDOR)/SHA256SUMS
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cd "$$tmp" && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && \
	tar xzf uplot-$(UPLOT_VERSION).tgz && mkdir checked && \
	cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css checked/ && \
	cp package/LICENSE checked/uPlot.LICENSE && \
	cd checked && sha256sum --check --strict "$(CURDIR)/$(VENDOR)/SHA256SUMS" && \
	cp uPlot.iife.min.js uPlot.min.css uPlot.LICENSE "$(CURDIR)/$(VENDOR)/"

clean:
	rm -rf $(VENV) .venv-start dist .mypy_cache .ruff_cache .pytest_cache
