# The README's two commands: `make run` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results/default

.PHONY: install run test bench bench-compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml setup.py recsys_bench/eval/_select.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/recsys-bench run configs/default.toml --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest bench/micro --benchmark-only --benchmark-autosave

# Compare against the last saved run, or a chosen one: make bench-compare BASELINE=0003
bench-compare: $(STAMP)
	$(BIN)/python -m pytest bench/micro --benchmark-only --benchmark-compare$(if $(BASELINE),=$(BASELINE)) --benchmark-compare-fail=mean:10%

clean:
	rm -rf $(VENV) build *.egg-info
