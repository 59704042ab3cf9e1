# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUN_DIR := .run
export SLA_PG_PORT ?= 5433
export SLA_KAFKA_PORT ?= 9092
export SLA_ENGINE_HTTP_PORT ?= 8081
export SLA_API_PORT ?= 8080

PACKAGES := -e libs/sla-core -e libs/sla-edge -e tools/sla-devtools -e services/sla-engine -e services/report-api

.PHONY: install lock infra-up infra-down run stop demo test test-unit test-integration \
        test-e2e test-reliability lint format bench bench-full clean

install: $(VENV)/.installed

$(VENV)/.installed: constraints.txt requirements-dev.txt libs/*/pyproject.toml tools/*/pyproject.toml services/*/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	touch $@

lock: install
	{ echo "# Pinned versions of every third-party package (regenerate: make lock)."; \
	  $(PIP) freeze --exclude-editable; } > constraints.txt

infra-up: install
	$(VENV)/bin/sla-infra up

infra-down:
	-$(VENV)/bin/sla-infra down

run: install
	$(PY) -m sla_devtools.run start

stop:
	-$(PY) -m sla_devtools.run stop

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy  # strict, over the files pyproject.toml names: everything that ships

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-unit: install
	$(VENV)/bin/pytest tests/unit -q

test-integration: install
	$(VENV)/bin/pytest tests/integration -q

test-e2e: install
	$(VENV)/bin/pytest tests/e2e -q

# The whole suite: lint, then every tier (the reliability tier in its quick profile).
test: lint
	$(VENV)/bin/pytest -q -m "not slow"

test-reliability: install
	$(VENV)/bin/pytest tests/reliability -q

bench: install
	$(PY) -m bench --profile quick

bench-full: install
	$(PY) -m bench --profile full

clean: stop
	rm -rf $(RUN_DIR) $(VENV)
