# Two set-up commands: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint fmt typecheck contracts pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(VENV)/bin/greekfire chain --spot 100 --vol 0.25 --rate 0.04 --dividend 0.01 \
		--strikes 80:120:10 --expiries 7,30,90,365

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

fmt: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

contracts: $(DEV_STAMP)
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collects nothing: that must fail, never pass silently.
pytest: $(DEV_STAMP)
	$(PY) -m pytest

test: lint typecheck contracts pytest

bench: $(DEV_STAMP)
	$(VENV)/bin/greekfire bench --out reports

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache reports
