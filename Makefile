# The Gone-Away Lab. `make lab` on a fresh machine; `make test` for the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lab notebooks test test-local test-docker docker-deps lint bench up down clean

setup: $(STAMP)  ## system packages, virtualenv, Python packages, helpers (editable)

$(STAMP): requirements.txt pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

notebooks: setup  ## pair notebooks/*.py with .ipynb files JupyterLab opens (outputs never committed)
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py

lab: notebooks  ## start the lab's MariaDB and open JupyterLab on the notebooks
	$(PY) -m helpers up
	$(VENV)/bin/jupyter lab notebooks/00_start_here.ipynb

test: test-local test-docker  ## everything: the suite on a private mariadbd, then on MariaDB in Docker

test-local: setup  ## the whole suite against a private local MariaDB
	$(PY) -m pytest

test-docker: setup docker-deps  ## docker backend tests, scenarios (once each) and notebooks, in a private engine
	LAB_BACKEND=docker LAB_TEST_REPEATS=1 $(PY) -m pytest tests/test_docker.py tests/test_scenarios.py tests/test_notebooks.py

docker-deps:
	bash scripts/install-system-deps.sh --docker

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: setup  ## checkouts per second with and without pool_pre_ping
	$(PY) benchmarks/pre_ping.py

up: setup
	$(PY) -m helpers up

down: setup
	$(PY) -m helpers down

clean:
	rm -rf $(VENV) notebooks/*.ipynb .pytest_cache .ruff_cache
