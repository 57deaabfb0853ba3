# The two commands of the README: `make run` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what running needs; the test tools (pytest, Playwright, linters…) come with
# the first `make test`/`make check`/`make lint`.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check

# pytest-xdist workers: one per core, at most 4 (each builds its own template databases). `make test JOBS=1` runs serially.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadscope

.PHONY: run test check lint bench bench-quick clean

$(RUN_STAMP): pyproject.toml
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)  # none yet, or a half-made one
	@$(PIP) --upgrade pip==26.3
	@$(PIP) -e .
	@touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP) pyproject.toml
	@$(PIP) -e '.[test]'
	@touch $(TEST_STAMP)

run: $(RUN_STAMP)
	@$(BIN)/python -m harmonia.surfaces.devrun

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(TEST_STAMP) lint
	$(PYTEST)

# The fast lane while building: lint, then every test that needs neither a browser nor PostgreSQL, minus the slow
# ones (schemathesis, the benchmark's quick run, the conformance suite). `make test` runs everything.
check: $(TEST_STAMP) lint
	HARMONIA_TEST_BACKENDS=sqlite $(PYTEST) -q -p no:cacheprovider -m "not browser and not postgres and not slow"

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

bench-quick: $(TEST_STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
