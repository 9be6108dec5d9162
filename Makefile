# Spillway: every target creates .venv from requirements-dev.txt when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The .chalice/config.json stage that bootstrap, package and deploy act on.
STAGE ?= dev

.PHONY: help venv test test-fast lint format typecheck run outage chaos bootstrap package deploy dlq bench bench-local clean

help:
	@echo "make run        the whole local stack: HTTP on 127.0.0.1:8000, Redis, SQS, the drain"
	@echo "make test       every test (starts and stops its own redis-server and SQS)"
	@echo "make test-fast  every test but the end-to-end ones (marked e2e)"
	@echo "make lint       ruff and mypy"
	@echo "make outage     the seed's Redis-outage drill against a stack of its own"
	@echo "make chaos      10,000 webhooks under seeded faults, every event reconciled (ARGS=\"--seed 7 --json\")"
	@echo "make bootstrap  create or update the stage's retry queue and dead-letter queue (STAGE=dev)"
	@echo "make package    CloudFormation template + deployment.zip in build/\$$STAGE (queues, mapping, IAM)"
	@echo "make deploy     bootstrap the queues, then chalice deploy the stage with webhooks.json"
	@echo "make dlq ARGS=list   the dead-letter tool (list, show, replay, purge)"
	@echo "make bench      the benchmark suite of issue 7, one table of ratios (ARGS=--quick: about 1 minute)"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bootstrap: $(STAMP)
	$(BIN)/python scripts/bootstrap_queues.py --stage $(STAGE) $(ARGS)

package: $(STAMP)
	$(BIN)/python scripts/package.py --stage $(STAGE) --output build/$(STAGE) $(ARGS)

deploy: $(STAMP)
	$(BIN)/python scripts/deploy.py --stage $(STAGE) $(ARGS)

dlq: $(STAMP)
	$(BIN)/python scripts/dlq.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

run: $(STAMP)
	$(BIN)/python scripts/run_local.py

outage: $(STAMP)
	$(BIN)/python scripts/outage.py $(ARGS)

chaos: $(STAMP)
	$(BIN)/python scripts/chaos.py $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/suite.py $(ARGS)

bench-local: $(STAMP)
	$(BIN)/python bench/local_server.py $(ARGS)
