# Two entry points: `make demo` and `make test`; both build .venv from nothing when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= build/demo

.PHONY: demo test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[torch,dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== archspec check specs/ (every shipped spec must be clean)"
	$(VENV)/bin/archspec check specs/
	@echo "== archspec check examples/seed000_convnet.arch (seed 000's bug must be caught)"
	-$(VENV)/bin/archspec check examples/seed000_convnet.arch

test: $(STAMP)
	$(PY) -m pytest -q -n 2

check: $(STAMP)
	$(VENV)/bin/archspec check specs/

clean:
	rm -rf $(VENV) build .pytest_cache
