# One-command set-up: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: setup run test lint bench clean package package-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dermview resources/samples/IMD009.jpg

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	$(VENV)/bin/ruff check dermview training benchmarks tests

lint: $(STAMP)
	$(VENV)/bin/ruff check dermview training benchmarks tests packaging

PKG_STAMP := $(VENV)/.installed-package

$(PKG_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,package]'
	touch $(PKG_STAMP)

# Linux archive dist/dermview-<version>-linux-x86_64.tar.xz (PyInstaller one-folder bundle).
package: $(PKG_STAMP)
	PYTHON=$(PY) packaging/build.sh

# Build from a clean tree of HEAD, unpack, run the frozen self-test isolated (see README).
package-test: $(PKG_STAMP)
	PYTHON=$(abspath $(PY)) packaging/package_test.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
