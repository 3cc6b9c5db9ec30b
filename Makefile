# Two set-up commands: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

LOCK := constraints.txt

.PHONY: demo test lint fmt typecheck contracts pytest bench reliability audit lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Installs go through the lock ($(LOCK)): the same versions on every machine.
$(RUNTIME_STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install -q -c $(LOCK) -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install -q -c $(LOCK) -e ".[dev]"
	touch $@ $(RUNTIME_STAMP)

# The bot for one simulated trading week: the simulated exchange on loopback, the paper
# broker, the wheel and momentum strategies, a SQLite journal under demo-run/.
demo: $(RUNTIME_STAMP)
	$(VENV)/bin/greekfire demo --workdir demo-run

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

# The full reliability suites (faults, crash recovery, bad input, soak, security), under 20
# minutes here; they rewrite the figures section of docs/RELIABILITY.md.
reliability: $(DEV_STAMP)
	$(VENV)/bin/greekfire reliability --out reports/reliability --docs docs/RELIABILITY.md

# Known vulnerabilities in the locked dependencies (pip-audit); fails on any not accepted.
audit: $(DEV_STAMP)
	$(VENV)/bin/greekfire audit --requirement $(LOCK) --out reports/audit

# Re-pin after a change to pyproject.toml: the dev environment's exact versions.
lock: $(DEV_STAMP)
	sed -n '/^#/p' $(LOCK) > $(LOCK).new
	$(PY) -m pip freeze --exclude-editable >> $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache reports demo-run
