# Every target builds .venv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# Every install is held to constraints.txt, so each fresh clone gets the same tools and the same
# verdict. `make lock` rewrites it from the newest releases, on purpose, never by accident.
CONSTRAINTS := constraints.txt

.PHONY: venv lock test check lint format typecheck cfn-lint scan-self demo bench sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	build/lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Exact versions for make venv (and the layer test's fresh virtualenv). Regenerate"; \
	  echo "# with 'make lock' and review the diff: nothing here changes by accident."; \
	  build/lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -iv '^leak-responder'; \
	} > $(CONSTRAINTS)
	rm -rf build/lock-venv

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
	$(BIN)/leak-responder demo

sandbox: $(STAMP)
	$(BIN)/leak-responder sandbox --ready-file /tmp/leak-responder-sandbox.json

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
