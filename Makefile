# The Gone-Away Lab. `make lab` on a fresh machine; `make test` for the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lab playground notebooks test test-local test-docker docker-deps browser-deps lint bench up down clean

setup: $(STAMP)  ## system packages, virtualenv, Python packages, helpers (editable)

$(STAMP): requirements.txt pyproject.toml scripts/install-system-deps.sh scripts/jupyterlab-overrides.json
	bash scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	mkdir -p $(VENV)/share/jupyter/lab/settings  # no "Jupyter news" prompt in the lab's JupyterLab
	cp scripts/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

notebooks: setup  ## pair notebooks/*.py with .ipynb files JupyterLab opens (outputs never committed)
	$(VENV)/bin/jupytext --set-kernel python3 --sync notebooks/*.py

lab: notebooks  ## JupyterLab on 127.0.0.1 with the lab's MariaDB; Ctrl-C stops both
	$(PY) -m helpers lab

playground: notebooks  ## the playground as a web page (Voilà on 127.0.0.1:8866); Ctrl-C stops it
	$(PY) -m helpers playground

test: test-local test-docker  ## everything: the suite on a private mariadbd, then on MariaDB in Docker

test-local: setup browser-deps  ## the whole suite against a private local MariaDB (browser tests included)
	$(PY) -m pytest

test-docker: setup docker-deps  ## docker backend tests, scenarios (once each, the two default drivers) and notebooks, in a private engine
	LAB_BACKEND=docker LAB_TEST_REPEATS=1 LAB_TEST_ALL_DRIVERS=0 $(PY) -m pytest tests/test_docker.py tests/test_scenarios.py tests/test_notebooks.py \
		-k "not 13_beyond_pre_ping and not 15_drivers"  # the pool and the drivers, not the server: the local pass runs them

docker-deps:
	bash scripts/install-system-deps.sh --docker

browser-deps:  ## Debian's chromium, which Playwright drives (no browser is downloaded)
	bash scripts/install-system-deps.sh --browser

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: setup  ## checkouts per second per pool, driver and added latency (JSON: python -m helpers bench --json)
	$(PY) benchmarks/checkouts.py

up: setup
	$(PY) -m helpers up

down: setup
	$(PY) -m helpers down

clean:
	rm -rf $(VENV) notebooks/*.ipynb .pytest_cache .ruff_cache
