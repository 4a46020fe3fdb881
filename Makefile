# Two commands from a fresh clone: `make demo` and `make test`. Everything else is set up on the way.
# Needs only python3 (>= 3.11), git and make: uv is bootstrapped from PyPI into .tools/ and installs
# the locked environment into .venv/ with the machine's interpreter (it never downloads one).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo test test-slow test-all check lint format bench clean services services-stop celery-demo

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install time: where PYTHONDONTWRITEBYTECODE is set, every process would
# otherwise recompile great_expectations and airflow on import (about a minute each, measured).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced

demo: setup
	CARGO_RISK_HOME=$${CARGO_RISK_HOME:-$(CURDIR)/demo-home} $(BIN)/cargo-risk demo

# Redis and PostgreSQL on loopback for the Celery night and the inspector's PostgreSQL tests
# (Debian packages, installed when missing; needs root). Idempotent.
services:
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

# The demo's night on Airflow's CeleryExecutor (scheduler, API server, two workers) and as
# `cargo-risk run`, on copies of the demo home; the last line says whether the lists are identical.
celery-demo: setup services
	@test -d $${CARGO_RISK_HOME:-$(CURDIR)/demo-home}/lists || $(MAKE) demo
	CARGO_RISK_HOME=$${CARGO_RISK_HOME:-$(CURDIR)/demo-home} $(BIN)/python -m pipelines.celery_demo

# Everything but the tests marked slow: the set to run while editing and before a commit, under
# 10 minutes on 2 cores. Real components still run in it (DuckDB, Polars, Great Expectations,
# LightGBM, the inspector on SQLite and PostgreSQL, Alembic); Airflow and Celery are in test-slow.
# One pytest worker per core (pytest-xdist); a module's tests stay on one worker, so a fixture
# shared by a module is built once. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
test: setup
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadscope --durations=20

# The tests marked slow: Airflow runs of the DAGs, the Celery night, kill-and-rerun nights, the
# demo, the browser, benchmarks, large worlds. CI runs them after `make test`.
test-slow: setup
	$(BIN)/pytest -m slow --durations=20

test-all: setup
	$(BIN)/pytest

# The floors (imports only downwards, no process or file handling in the pure floor): import-linter,
# contracts in pyproject.toml (decision 0017).
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Nightly-run benchmark: 10 k and 100 k a day with 90 and 365 days of history, and 1 M a day with
# 30 days (--full); results in benchmarks/results/nightly.md. About 75 min on 2 cores (54 min of
# it simulating history, summed from separate runs). For a quick look:
# make bench BENCH_ARGS="--sizes 10000 --history 90 --runs 1"
BENCH_ARGS ?= --full
bench: setup
	$(BIN)/python -m benchmarks.nightly $(BENCH_ARGS)

clean:
	rm -rf .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache demo-home demo-home-celery
