# Every target builds .venv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv test check lint format typecheck cfn-lint scan-self demo bench sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy bench
	# Every handler is a module named app: check them one at a time.
	for f in functions/*/app.py; do $(BIN)/mypy --strict "$$f" || exit 1; done

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

scan-self: $(STAMP)
	$(BIN)/leak-scan --exclude tests/events --exclude .venv --exclude bench/data --exclude .pytest_cache .

check: lint typecheck cfn-lint scan-self test

demo: $(STAMP)
	$(BIN)/python -m leak_responder demo

sandbox: $(STAMP)
	$(BIN)/leak-responder sandbox --ready-file /tmp/leak-responder-sandbox.json

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
