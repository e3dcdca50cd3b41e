# The Gone-Away Lab. `make lab` on a fresh machine; `make test` for the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lock lab playground notebooks test test-fast test-local test-docker docker-deps browser-deps lint bench up down clean

setup: $(STAMP)  ## system packages, virtualenv, Python packages, helpers (editable)

$(STAMP): requirements.txt pyproject.toml scripts/install-system-deps.sh scripts/jupyterlab-overrides.json
	bash scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep -m1 '^uv==' requirements.txt | cut -d' ' -f1)"  # the lock's own uv
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.txt  # exactly the lock (versions and hashes)
	$(PY) -m pip install -q --no-deps -e .
	mkdir -p $(VENV)/share/jupyter/lab/settings  # no "Jupyter news" prompt in the lab's JupyterLab
	cp scripts/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

lock:  ## refresh requirements.txt (the lock) from requirements.in, on purpose; then review the diff
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile -q --python-version 3.11 --generate-hashes --upgrade requirements.in -o requirements.txt

notebooks: setup  ## pair notebooks/*.py with .ipynb files JupyterLab opens (outputs never committed)
	$(VENV)/bin/jupytext --set-kernel python3 --sync notebooks/*.py

lab: notebooks  ## JupyterLab on 127.0.0.1 with the lab's MariaDB; Ctrl-C stops both
	$(PY) -m helpers lab

playground: notebooks  ## the playground as a web page (Voilà on 127.0.0.1:8866); Ctrl-C stops it
	$(PY) -m helpers playground

test: test-local test-docker  ## everything: the suite on a private mariadbd, then on MariaDB in Docker

test-fast: setup  ## what needs no server, no browser, no Docker (classifier, settings, registry, pool logic): < 60 s
	LAB_FORBID_SERVER=1 $(PY) -m pytest -m "not server and not browser and not docker and not slow"

test-local: setup browser-deps  ## the whole suite against a private local MariaDB (browser tests included)
	$(PY) -m pytest

test-docker: setup docker-deps  ## docker backend tests, scenarios (once each, the two default drivers) and notebooks, in a private engine
	LAB_BACKEND=docker LAB_TEST_REPEATS=1 LAB_TEST_ALL_DRIVERS=0 $(PY) -m pytest tests/test_docker.py tests/test_scenarios.py tests/test_notebooks.py \
		-k "not 12_network_faults and not 16_failover and not test_cluster and not 13_beyond_pre_ping and not 15_drivers and not 17_what_the_blogs_say and not 18_modern_stacks and not together"  # the network (its own namespace server, HAProxy), the pool, the drivers, the blogs' claims: the local pass runs them

docker-deps:
	bash scripts/install-system-deps.sh --docker

browser-deps:  ## Debian's chromium, which Playwright drives (no browser is downloaded)
	bash scripts/install-system-deps.sh --browser

lint: setup  ## ruff (lint and format, everything) and mypy (helpers, goneaway_pool)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy helpers goneaway_pool --ignore-missing-imports

bench: setup  ## checkouts per second per pool, driver and added latency (JSON: python -m helpers bench --json)
	$(PY) benchmarks/checkouts.py

up: setup
	$(PY) -m helpers up

down: setup
	$(PY) -m helpers down

clean:
	rm -rf $(VENV) notebooks/*.ipynb .pytest_cache .ruff_cache
