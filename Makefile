# S1 Rice Mapper. Quick start on a fresh Debian 12 / Ubuntu machine (as root or with sudo):
#   make demo    set up what is missing, then map rice on a synthetic sample scene
#   make test    set up what is missing, then run the backend and the QGIS plugin test suites
SHELL := /bin/bash
VENV_PY := .venv/bin/python
QGIS_PY := .venv-qgis/bin/python
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-backend test-plugin lint bench pretrain package clean

setup:
	scripts/setup.sh system backend qgistest

demo: setup
	scripts/demo.sh

test: setup
	$(MAKE) --no-print-directory test-backend test-plugin

test-backend:
	$(VENV_PY) -m pytest -q tests/backend -p no:cacheprovider

test-plugin:
	QT_QPA_PLATFORM=offscreen $(QGIS_PY) -m pytest -q tests/plugin -p no:cacheprovider

# ruff and mypy settings are in pyproject.toml (both tools are pinned in requirements/backend.txt)
lint:
	$(VENV_PY) -m ruff check backend plugin tests
	$(VENV_PY) -m mypy backend plugin

bench: setup
	$(VENV_PY) -m backend bench --out bench_output
	$(VENV_PY) -m backend.distributed.benchmark --out bench_output

pretrain: setup
	$(VENV_PY) -m backend pretrain

package: setup
	scripts/package.sh

clean:
	rm -rf demo_output bench_output zip_build dist .pytest_cache
