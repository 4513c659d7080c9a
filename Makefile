# The two commands: `make run` and `make test`. Both set up what they need on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test install lint contracts migrations-check pytest bench clean

run: install
	$(BIN)/loyalty db upgrade
	$(BIN)/loyalty demo load
	$(BIN)/loyalty serve

test: install lint contracts migrations-check pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

lint:
	$(BIN)/ruff check .

contracts:
	$(BIN)/lint-imports

# `alembic check` compares the models with a database migrated to head: no drift allowed.
migrations-check:
	@tmp=$$(mktemp -d) && \
	LOYALTY_DATABASE_URL=sqlite:///$$tmp/check.db $(BIN)/loyalty db upgrade 2>/dev/null && \
	LOYALTY_DATABASE_URL=sqlite:///$$tmp/check.db $(BIN)/alembic check; \
	status=$$?; rm -rf $$tmp; exit $$status

pytest:
	LOYALTY_REQUIRE_POSTGRES=1 $(BIN)/pytest $(PYTEST_ARGS)

# Measured, not guessed: the figures of this machine (see bench/ and the README's "Speed").
# BENCH_ARGS="--size tiny" runs it on a few hundred rows; "--only sqlite,http" runs a part.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
