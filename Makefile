# Every target installs what it needs: a fresh machine only needs python3 and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv comes from PyPI into .tools/ when it is not on PATH already.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen
APT_UPDATED := .tools/.apt-updated

.PHONY: help install test lint format demo demo-exit bench bench-simulator bench-receiver \
        bench-pipeline bench-reports notebooks browser-deps wrk clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled at install (as pip does; uv does not by default). Every Dagster run is a
# fresh Python process: without .pyc files, or where PYTHONDONTWRITEBYTECODE keeps Python from
# caching them, each run compiled dagster, pandas & co. from source: ~4 s of every run.
.venv/.synced-bytecode: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.synced-bytecode ## install Python dependencies from uv.lock

$(APT_UPDATED):
	@mkdir -p .tools
	apt-get update -qq
	@touch $@

browser-deps: ## headless Chromium + ChromeDriver (Debian packages) for the browser tests
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then \
	  $(MAKE) --no-print-directory $(APT_UPDATED) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi

wrk: ## the wrk load generator (Debian package) for the receiver benchmark
	@command -v wrk >/dev/null || { $(MAKE) --no-print-directory $(APT_UPDATED) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

lint: install ## ruff lint + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: install browser-deps lint ## install everything and run the whole test suite
	$(RUN) pytest

demo: install ## run the whole product end to end on embedded defaults (Ctrl-C stops it)
	$(RUN) mmq demo

demo-exit: install ## the demo, exiting when the reports are written
	$(RUN) mmq demo --exit-when-done

bench-simulator: install wrk ## simulator read and delivery rates
	$(RUN) python bench/bench_simulator.py

bench-receiver: install wrk ## receiver vs naive baseline vs no-op ceiling
	$(RUN) python bench/bench_receiver.py

bench-pipeline: install ## backlog drain, freshness and per-event cost of the pipeline
	$(RUN) python bench/bench_pipeline.py

bench-reports: install ## HTML report rendering rate
	$(RUN) python bench/bench_reports.py

bench: bench-simulator bench-receiver bench-pipeline bench-reports ## every benchmark, one after another

notebooks: install ## open JupyterLab on the analyst notebooks
	$(UV) sync --frozen --group notebooks
	$(RUN) --group notebooks jupyter lab notebooks/

clean: ## remove local data, Dagster home and caches (not .venv)
	rm -rf data .dagster_home .pytest_cache
