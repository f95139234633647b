# craftmatch: `make run` sets everything up and serves; `make test` runs lint and every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run install migrate seed serve test lint test-sqlite test-e2e translations bench clean

run: install migrate seed serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(VENV)/bin/craftmatch db upgrade

seed: install
	$(VENV)/bin/craftmatch seed demo --if-empty

serve: install
	@echo "craftmatch on http://127.0.0.1:5000  (Ctrl+C to stop)"
	$(VENV)/bin/craftmatch run --host 127.0.0.1 --port 5000

lint: install
	$(VENV)/bin/ruff check .

# The whole suite: SQLite always; PostgreSQL too when CRAFTMATCH_TEST_POSTGRES_URL is set or a local
# server with the craftmatch_test database answers; e2e tests drive Debian's Chromium when it is installed.
# Two worker processes, each file on one of them (its module fixtures built once); each worker has its own
# throwaway databases, live servers and browser.
test: lint
	$(PY) -m pytest -n 2 --dist loadfile

test-e2e: install
	$(PY) -m pytest tests/e2e -m e2e

translations: install
	$(PY) -m web.i18n_catalog

bench: install
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
