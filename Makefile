# sensorhub — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help run test test-long lint typecheck pytest venv provision-test lock bench audit clean-local stop

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap-venv.sh
	@scripts/bootstrap-venv.sh $(VENV)
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv and install the locked dependencies

run: $(STAMP) ## Run the service locally (PostgreSQL+TimescaleDB, Redis, projector); SIMULATE=1 feeds it data
	@scripts/run-local.sh

provision-test: ## Start the private test clusters (TimescaleDB, plain PostgreSQL, Redis)
	@scripts/provision.sh test

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check app infra tests bench scripts clients examples

typecheck: $(STAMP) ## pyright over app, infra, tests, bench
	$(VENV)/bin/pyright

pytest: $(STAMP) provision-test ## The test suite only
	set -a && . .local/test.env && set +a && $(VENV)/bin/pytest -m "not long" $(PYTEST_ARGS)

test: $(STAMP) provision-test lint typecheck pytest ## Everything CI runs: provisioning, lint, type check, tests

test-long: $(STAMP) provision-test ## Long reliability and fuzz runs
	set -a && . .local/test.env && set +a && $(VENV)/bin/pytest -m long $(PYTEST_ARGS)

audit: $(STAMP) ## Audit dependencies for known vulnerabilities (allow-list: audit-allowlist.txt)
	$(PY) scripts/audit.py

lock: ## Re-resolve requirements.lock from pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra infra --extra dev --python-version 3.11 -o requirements.lock -q

stop: ## Stop every private server this checkout started
	@scripts/provision.sh stop all

clean-local: stop ## Remove .local (clusters, builds, archives)
	rm -rf .local

-include mk/*.mk
