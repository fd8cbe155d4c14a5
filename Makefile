# Two commands for a fresh Debian 12 machine, as root: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's python3, so the venv sees Debian's lib389, python-ldap and dbus-next.
SYSTEM_PYTHON ?= /usr/bin/python3

.PHONY: all deps demo test lint bench clean schema

all: test

deps: $(STAMP)

$(STAMP): pyproject.toml scripts/install-deps.sh
	scripts/install-deps.sh
	[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

demo: deps
	$(PY) -m tests.lab demo

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: deps lint
	$(PY) -m pytest -q

bench: deps
	$(PY) -m benchmarks

schema:
	$(SYSTEM_PYTHON) -m ipa_plugin.layout > ipa_plugin/schema.d/75-sessionrecording.ldif

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
