# pipecast — the two quickstart commands (see README.md):
#   make report   creates .venv if missing, installs, writes reports/<YYYY-MM>/ for the bundled sample
#   make test     creates .venv if missing, installs with test extras, runs the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLE_AS_OF ?= 2026-10-31
DRAWS ?= 2000
SEED  ?= 20261031

.PHONY: report test lint venv sample-data benchmark benchmark-full clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

venv: $(VENV)/.installed

report: $(VENV)/.installed
	$(BIN)/pipecast report --data data/sample --as-of $(SAMPLE_AS_OF) --draws $(DRAWS) \
		--seed $(SEED) --out reports --force

test: $(VENV)/.installed
	$(BIN)/ruff check forecast simulations pipecast tests benchmarks
	$(BIN)/python -m pytest -q tests --durations=25

lint: $(VENV)/.installed
	$(BIN)/ruff check forecast simulations pipecast tests benchmarks

sample-data: $(VENV)/.installed
	$(BIN)/pipecast sample-data --out data/sample --seed 7 --force

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/run_benchmarks.py

benchmark-full: $(VENV)/.installed
	$(BIN)/python benchmarks/run_benchmarks.py --full

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
