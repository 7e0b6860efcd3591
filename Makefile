# `make demo` and `make test` work on a fresh clone: each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: a local CPU wheel here; resolving plain `torch` first would pull CUDA builds.
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q "torch>=2.4"
	$(BIN)/pip install -q -e ".[all,dev]"
	touch $(STAMP)

.PHONY: install demo test test-slow
install: $(STAMP)

demo: $(STAMP)
	MUJOCO_GL=egl $(BIN)/dt demo

# one pytest worker per core (at most 4), each test file on one worker (its module fixtures built once): the suite
# took 241 s in one process and 196 s in two on the busy 2-core dev box (2026-12-06)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow
