# Quick start:  make run   (sets up .venv on first use, runs the paper's recipe on the tiny default)
#               make test  (sets up .venv on first use, runs the test suite)
# CPU fast path: torch==2.13.0 is the CPU build on this machine's disk. On a GPU machine the same pin
# pulls the CUDA build from PyPI; or pre-install any torch you like and `make` keeps it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
ARGS   ?=
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/outputs/torch_extensions

.PHONY: setup run test bench ui plugins clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml plugins/soulchat-example/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test,sweep,fast,cjk]"
	touch $@

run: setup
	$(PY) -m soulchat +experiment=soulchat_full $(ARGS)

test: setup
	$(PY) -m pytest -q tests $(ARGS)

plugins: setup
	$(PY) -m soulchat plugins

ui: setup
	$(PY) -m soulchat ui

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
