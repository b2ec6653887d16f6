# The two commands a new machine needs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench bench-loop bench-engine soak audit clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradebot needs Python >= 3.11 (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tradebot demo

test: lint unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/backtest_speed.py

bench-loop: $(STAMP)
	$(BIN)/python bench/loop_latency.py

bench-engine: $(STAMP)
	$(BIN)/python bench/engine_capacity.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py --candles 2000 --report reports/reliability.md

# Needs network access to PyPI's JSON API or OSV (not available in this project's CI sandbox).
audit: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip-audit
	$(BIN)/pip-audit --strict --no-deps --disable-pip -r constraints.txt

clean:
	rm -rf $(VENV) backtest_results test-results .mypy_cache .ruff_cache .pytest_cache
