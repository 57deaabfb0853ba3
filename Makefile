# The two commands of the README: `make run` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint bench bench-quick clean

$(STAMP): pyproject.toml
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)  # none yet, or a half-made one
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip==26.3
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m harmonia.surfaces.devrun

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest

# The fast lane while building: lint, then every test that needs neither a browser nor PostgreSQL, minus the slow
# ones (schemathesis, the benchmark's quick run, the conformance suite). `make test` runs everything.
check: $(STAMP) lint
	HARMONIA_TEST_BACKENDS=sqlite $(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser and not postgres and not slow"

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
