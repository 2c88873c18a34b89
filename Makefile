# Everyday commands. Each one creates or reuses .venv/ and installs the project into it.

# The interpreter .venv/ is made from: the distribution's CPython (/usr/bin/python3...) when it satisfies
# requires-python and has the venv module, else `python3` from PATH (scripts/choose-python). Distributions build
# CPython with PGO and LTO; pyenv's default build (often `python3` on PATH) has neither, and costs ~15-20 % more CPU on
# our code (bench/README.md "The interpreter, stop 71"). Another one: `make … PYTHON=/path/to/python3.11`.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell bash scripts/choose-python)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test servers lint bench install format clean lock mutants mutants-db venv-stale

# Python writes its bytecode caches (__pycache__/, ignored by git) even where the environment asks it not to
# (PYTHONDONTWRITEBYTECODE=1, set on our CI machines): else every process the suite or `make run` starts compiles
# our ~160 modules from source again (~0.4 s of CPU each), and pytest rewrites every test module's asserts anew in
# each of its workers.
unexport PYTHONDONTWRITEBYTECODE

# A .venv/ made from another interpreter than $(PYTHON) is made again (else a checkout would keep the interpreter it
# was first installed with after PYTHON, or this Makefile's choice, changed): `python -m venv` writes the real path of
# its interpreter as pyvenv.cfg's `executable`. Unknown either side (no pyvenv.cfg, PYTHON not runnable): kept.
VENV_MADE_BY := $(shell sed -n 's/^executable = //p' $(VENV)/pyvenv.cfg 2>/dev/null)
PYTHON_REAL := $(shell $(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null)
VENV_STALE := $(and $(VENV_MADE_BY),$(PYTHON_REAL),$(filter-out $(PYTHON_REAL),$(VENV_MADE_BY)))

# constraints.txt pins every package CI and `make run` install; `make lock` re-pins after an upgrade.
$(STAMP): pyproject.toml constraints.txt $(if $(VENV_STALE),venv-stale)
	$(if $(VENV_STALE),@echo '$(VENV) was made from $(VENV_MADE_BY) and not from $(PYTHON_REAL): making it again' && rm -rf $(VENV))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Never up to date: $(STAMP) depends on it when .venv/ must be made again.
venv-stale:

install: $(STAMP)

PORT ?= 8000
# make run RESET_SANDBOX=1: the embedded sandbox starts fresh (its saved sellers, tokens and data deleted)

run: $(STAMP)
	$(BIN)/shopbridge demo --port $(PORT)$(if $(RESET_SANDBOX), --reset-sandbox)

# The throwaway servers the tests start must be installed: installs them as root on Debian, else names them.
servers:
	@bash scripts/ensure-servers

# The suite runs on TEST_WORKERS processes (pytest-xdist), each with its own throwaway servers; TEST_WORKERS=0 runs
# it in this one process (pdb, print). More pytest options go in PYTEST_ARGS, e.g.
#   make test TEST_WORKERS=0 SEED=1234 PYTEST_ARGS='tests/e2e/test_webhooks.py -x'
# (the seed goes in SEED: a --randomly-seed in PYTEST_ARGS would come after make's own, and the last one wins)
# `--dist loadgroup`: each free worker takes the next test, as with xdist's `load`, but tests/browser's tests go to one
# worker together (tests/fixtures/scheduling.py), so the run launches Chromium once.
TEST_WORKERS ?= 3
PYTEST_ARGS ?=
# pytest-randomly's seed for the run's order: drawn here and shown in the command line below (`-q` hides pytest's
# own header), so that a failing run is replayed with `make test SEED=<it>`.
ifeq ($(SEED),)
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

test: $(STAMP) servers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --randomly-seed=$(SEED) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

# Mutation testing (never part of `make test`): mutmut mutates domain/ and adapters/tiktok/ ([tool.mutmut] in
# pyproject.toml), runs the unit tests that reach each mutant, and the score per area is printed at the end. Results
# stay in mutants/, so a rerun only re-checks what changed; `rm -rf mutants` starts afresh.
mutants: $(STAMP)
	nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation-score

# The database adapter's mutants (adapters/db/, [tool.mutmut-db] in pyproject.toml), against its integration tests on
# real SQLite (scripts/mutants-db runs mutmut from a copy of the tree in var/mutants-db/, results stay there). Slow:
# seconds per mutant, ~5,400 mutants. Options in MUTANTS_DB_ARGS, e.g. a random sample, or PostgreSQL's tests for
# what SQLite left alive:  make mutants-db MUTANTS_DB_ARGS='--sample 200'   (scripts/mutants-db --help)
MUTANTS_DB_ARGS ?=

mutants-db: $(STAMP) servers
	$(BIN)/python scripts/mutants-db $(MUTANTS_DB_ARGS)

# Upgrade the pinned set: newest releases allowed by pyproject.toml, then re-pin (run `make test` before committing).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet --upgrade -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; .venv-lock/bin/pip freeze --exclude-editable --exclude pip; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-lock
	@echo "constraints.txt updated; now: make clean test"

# Refused, deleting nothing, while `make run` (or `shopbridge serve`/`demo` on var/) still runs: removed under it, var/
# left a demo serving from a deleted database, whose sandbox made var/ again (0755) and overwrote the next demo's state.
clean:
	@$(PYTHON) scripts/refuse-clean-while-serving var
	rm -rf $(VENV) var mutants .pytest_cache .ruff_cache .mypy_cache
