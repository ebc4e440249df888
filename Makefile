# The two commands that matter: `make run` and `make test`. Both set up .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration clean bench-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: the embedded default (tansu broker + worker on chdb + simulated traffic)
run: $(STAMP)
	$(BIN)/emc run $(RUN_ARGS)

## test: lint, type-check, then the whole test suite (unit + integration on real tansu and chdb)
test: $(STAMP) lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check streams sinks bench tools tests
	$(BIN)/ruff format --check streams sinks bench tools tests
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration" $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration $(PYTEST_ARGS)

## bench-venv: .venv-bench/, the Quix Streams peer and py-spy of `emc bench`, from
## bench/requirements-peer.txt (a venv of its own: Quix pins an older confluent-kafka and pydantic)
bench-venv:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	echo '*' > .venv-bench/.gitignore
	.venv-bench/bin/python -m pip install --quiet -r bench/requirements-peer.txt

clean:
	rm -rf $(VENV) .venv-bench var .pytest_cache .mypy_cache .ruff_cache .hypothesis
