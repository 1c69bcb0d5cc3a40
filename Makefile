# S1 Rice Mapper. Quick start on a fresh Debian 12 / Ubuntu machine (as root or with sudo):
#   make demo    set up what is missing, then map rice on a synthetic sample scene
#   make test    set up what is missing, then lint (ruff, mypy) and run the backend and QGIS plugin test suites
SHELL := /bin/bash
VENV_PY := .venv/bin/python
QGIS_PY := .venv-qgis/bin/python
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-backend test-plugin lint bench pretrain package wheelhouse qt6-scanner clean

setup:
	scripts/setup.sh system backend qgistest

demo: setup
	scripts/demo.sh

test: setup
	$(MAKE) --no-print-directory lint test-backend test-plugin

test-backend:
	$(VENV_PY) -m pytest -q tests/backend -p no:cacheprovider

test-plugin:
	QT_QPA_PLATFORM=offscreen $(QGIS_PY) -m pytest -q tests/plugin -p no:cacheprovider

# ruff and mypy settings are in pyproject.toml (both tools are pinned in requirements/dev.txt)
lint:
	$(VENV_PY) -m ruff check backend plugin tests
	$(VENV_PY) -m mypy backend plugin

bench: setup
	$(VENV_PY) -m backend bench --deepness --out bench_output
	$(VENV_PY) -m backend seasonsbench --out bench_output/seasons --overwrite
	$(VENV_PY) -m backend.experiments.distributed_bench --out bench_output

pretrain: setup
	$(VENV_PY) -m backend pretrain

package: setup
	scripts/package.sh

# offline installs: every wheel of the lean backend environment (EXTRAS=training or gpu adds PyTorch) and uv, for
# this machine's platform and Python, into dist/wheelhouse (then: Settings > Wheelhouse, or --wheelhouse DIR)
wheelhouse:
	/usr/bin/python3 plugin/backend_setup.py --build-wheelhouse dist/wheelhouse $(if $(EXTRAS),--extras $(EXTRAS))

# QGIS's own Qt6 migration scanner, into ~/.cache/s1ricemapper (not committed: it is QGIS's code)
qt6-scanner:
	scripts/setup.sh qt6scanner

clean:
	rm -rf demo_output bench_output zip_build dist .pytest_cache
