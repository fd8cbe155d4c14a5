# Two commands for a fresh Debian 12 machine, as root: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's python3, so the venv sees Debian's lib389, python-ldap and dbus-next.
SYSTEM_PYTHON ?= /usr/bin/python3

.PHONY: all deps demo test lint bench clean schema install uninstall
# Where the product is installed like on a real host (root-owned, outside any checkout).
PREFIX ?= /opt/sessrec

all: test

deps: $(STAMP)

$(STAMP): pyproject.toml scripts/install-deps.sh
	scripts/install-deps.sh
	[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,ansible]'
	touch $@

demo: deps install
	$(PY) -m tests.lab demo

# The product, root-owned under $(PREFIX), entry points in /usr/local/bin; what runs as users runs from here.
install: deps
	scripts/install.sh $(PREFIX)

uninstall:
	scripts/install.sh --uninstall $(PREFIX)

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# PyPI's ansible-core (the newest for Python 3.11), ansible-lint and python-freeipa for the Ansible tests and
# linters (tests/test_ansible_*.py); Debian's ansible-core 2.14 comes from install-deps.sh.
ANSIBLE_VENV ?= /tmp/sessrec-ansible-venv
.PHONY: ansible-venv
ansible-venv: $(ANSIBLE_VENV)/.installed
$(ANSIBLE_VENV)/.installed:
	[ -x $(ANSIBLE_VENV)/bin/python ] || $(SYSTEM_PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install -q --disable-pip-version-check 'ansible-core>=2.19,<2.20' \
	  'ansible-lint==26.10.1' 'python-freeipa>=1.0'
	touch $@

test: deps lint install ansible-venv
	$(PY) -m pytest -q

bench: deps install
	$(PY) -m benchmarks
	$(PY) -m benchmarks.agent
	$(PY) -m benchmarks.login
	$(PY) -m benchmarks.audit

schema:
	$(SYSTEM_PYTHON) -m ipa_plugin.policy.layout > ipa_plugin/schema.d/75-sessionrecording.ldif

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# -- FreeIPA server plugin (ipa_plugin/, docs/plugin.md) ----------------------------------------------
.PHONY: install-plugin uninstall-plugin test-ipa
IPA_SOURCE ?=
IPA_VERSION ?= 4.9.12
IPA_VENV ?= /tmp/sessrec-ipa-venv

# On a FreeIPA server: copy the plugin's files and run ipa-server-upgrade (refuses elsewhere).
install-plugin:
	$(SYSTEM_PYTHON) -m ipa_plugin.install install

uninstall-plugin:
	$(SYSTEM_PYTHON) -m ipa_plugin.install uninstall

# The server plugin on real FreeIPA server code: make test-ipa IPA_SOURCE=<FreeIPA 4.9.x git checkout>
test-ipa: deps
	@test -n "$(IPA_SOURCE)" -a -d "$(IPA_SOURCE)/ipaserver" || { echo "test-ipa: set IPA_SOURCE to a FreeIPA 4.9.x source tree" >&2; exit 2; }
	tests/ipa/make-venv.sh $(IPA_VENV) $(IPA_VERSION)
	IPA_SOURCE=$(abspath $(IPA_SOURCE)) $(IPA_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/ipa
