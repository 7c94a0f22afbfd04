# Docket's entry points. `make run` starts the embedded demo; `make test` runs the whole suite on a
# throwaway PostgreSQL. Both install what they need into .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	scripts/run-local.sh

test: $(BIN)/.installed
	scripts/ensure-system-packages.sh
	scripts/with-postgres.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check apps config tests benchmarks docket

clean:
	rm -rf var/celery var/test-media
