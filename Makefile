# Two commands on a fresh machine: `make run` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: install run demo test test-pg test-sqlite lint typecheck format migrate revision worker beat bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: install
	$(BIN)/vitrine migrate
	$(BIN)/vitrine serve --host 127.0.0.1 --port 8000 --no-migrate

demo: install
	$(BIN)/vitrine demo

test: install lint typecheck test-sqlite

test-sqlite: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-pg: install
	VITRINE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: install
	$(BIN)/mypy

migrate: install
	$(BIN)/vitrine migrate

revision: install
	$(BIN)/alembic revision --autogenerate -m "$(m)"

worker: install
	$(BIN)/vitrine worker

beat: install
	$(BIN)/vitrine beat

bench: install
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
