# evo-marl: `make train` sets up and runs the default experiment; `make test` sets up and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?=
PYTEST_ARGS ?=

.PHONY: setup train test test-slow test-compat test-ray bench clean

$(VENV)/.installed: pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

$(VENV)/.installed-ray: $(VENV)/.installed
	bash scripts/setup_venv.sh $(VENV) ray
	touch $@

train: setup
	$(VENV)/bin/evo-marl train --resume $(CONFIG)  # again: continues an interrupted run, or reports a finished one

test: setup
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The env API tests under the oldest supported PettingZoo releases, in cached venvs under .venv-compat/
test-compat:
	bash scripts/test_pettingzoo_compat.sh

test-ray: $(VENV)/.installed-ray   # the Ray backend on a local Ray instance (installs the ray extra)
	$(PY) -m pytest -q -m ray $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-compat .pytest_cache
