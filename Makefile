# zhifa-sync — everything a fresh machine needs goes through these targets.
PY ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast check bench bench-limits soak clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: start the four simulators, run every pipeline once, print what happened
demo: $(STAMP)
	$(BIN)/python -m zhifa_sync.demo

## make test: install and run the whole suite (PostgreSQL tests run when 127.0.0.1:5432 answers)
test: $(STAMP)
	@bash scripts/ensure-tools.sh || true
	$(BIN)/python -m pytest -n 2 -q

## make test-fast: the inner loop: everything that starts no simulator, process or browser
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

## make bench-limits: the service at the platforms' documented rate limits (share of each limit, freshness)
bench-limits: $(STAMP)
	$(BIN)/python -m bench.limits

## make soak: all four systems with faults on, the daemon SIGKILLed during a backfill; prints a table
soak: $(STAMP)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-state
