# Quick start: `make run` (server + demo clinic on an embedded PostgreSQL), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every package at the version the suite passed with, hashes checked; `make lock` writes it.
LOCK := requirements.lock
LOCKED := $(VENV)/.locked-stamp
EXTRAS := --extra embedded --extra dev

.PHONY: run test test-instants lint format bench clean lock

$(LOCKED): $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	@touch $(LOCKED)

$(STAMP): $(LOCKED) pyproject.toml
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/uv pip install --quiet --dry-run --offline --no-cache --python $(BIN)/python -r pyproject.toml $(EXTRAS) \
		|| { echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	@touch $(STAMP)

# Resolve pyproject.toml's dependencies again into $(LOCK) for Python 3.11+ on every platform,
# keeping each pin that still fits; `make lock ARGS=--upgrade` moves every pin to the newest release.
lock: $(LOCKED)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make lock' $(ARGS) $(EXTRAS) pyproject.toml -o $(LOCK)

# axe-core for the browser tests' accessibility checks (tests/e2e/package-lock.json).
AXE := tests/e2e/node_modules/axe-core/axe.min.js

$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm is not installed: the accessibility checks will be skipped (apt-get install npm)"; \
	fi

run: $(STAMP)
	$(BIN)/checkin demo
	$(BIN)/checkin serve

lint: $(STAMP)
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench
	$(BIN)/mypy

test: lint $(AXE)
	$(BIN)/pytest
	@$(MAKE) --no-print-directory test-instants

# The date-sensitive tests (marker `dated`) once more at each set instant: a Sunday, a Monday,
# both daylight-saving changes in the US and Europe, a minute to midnight (tests/support/clock.py).
test-instants: $(STAMP) $(AXE)
	$(BIN)/python -m tests.support.instants --jobs 2

format: $(STAMP)
	$(BIN)/ruff check --fix server tests bench
	$(BIN)/ruff format server tests bench

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/e2e/node_modules
