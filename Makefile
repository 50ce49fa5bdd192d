# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv from pyproject.toml if it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run sandbox test lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aftercare demo $(ARGS)

run: $(STAMP)
	$(BIN)/aftercare run $(ARGS)

sandbox: $(STAMP)
	$(BIN)/aftercare sandbox $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two passes on two workers: everything (the e2e worlds on SQLite; every db_url test on
# SQLite and Postgres), then the e2e suite again with its worlds on Postgres. Three workers
# gain little on 2 cores (6m01 vs 6m24 in one clean-clone run) and load the fast-clock daemon
# tests harder. With ARGS (a path, -k ...) only the first pass runs;
# AFTERCARE_E2E_DATABASE picks its worlds' DB.
PYTEST := $(BIN)/pytest -n $(or $(WORKERS),2)

# The browser tests drive Debian's chromium (never a browser a test tool downloads).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

# Without root or passwordless sudo, a local run goes on and the browser tests skip;
# under CI=true it stops here.
$(CHROMIUM):
	$(SUDO) apt-get install -y --no-install-recommends chromium \
	  || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium) \
	  || { [ "$$CI" != true ] && echo "chromium not installed: the browser tests will skip"; }

test: lint typecheck $(CHROMIUM)
	$(PYTEST) $(ARGS)
	$(if $(ARGS),,AFTERCARE_E2E_DATABASE=postgres $(PYTEST) tests/e2e)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
