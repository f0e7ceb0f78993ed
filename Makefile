# Two commands for a fresh machine with only python3:
#   make run    start the example service on the embedded defaults (SQLite, in-process)
#   make test   install everything and run lint, types and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	cd examples/greeter && ../../$(BIN)/plugwork run app:app --config plugwork.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python bench/http_rpc.py
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/plugboard.py
	$(BIN)/python bench/log_line.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/soajs_middleware.py
	$(BIN)/python bench/db_repository.py
	$(BIN)/python bench/auth_http.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
