# Spillway: every target creates .venv when it is missing or stale. What running needs (the
# runtime + the local stack: requirements-local.txt) comes first; test, lint and bench tools
# (requirements-dev.txt) only when a target needs them, so a first `make run` installs less.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# Every tool; for targets that do not say which they need.
STAMP := $(DEV_STAMP)
PYTEST_ARGS ?=
# The .chalice/config.json stage that bootstrap, package and deploy act on.
STAGE ?= dev

.PHONY: help venv test test-fast lint format docs typecheck run chalice-local redis-stop redis-start outage chaos bootstrap package deploy dlq watch send bench bench-local clean

help:
	@echo "make run        the whole local stack: HTTP on 127.0.0.1:8000, Redis, SQS, the drain"
	@echo "                (ARGS=\"--wait-for-endpoints 60\", ARGS=--allow-invalid-config; CLUSTER=1: a local Redis Cluster)"
	@echo "make chalice-local  the same, with stock \`chalice local --stage local\` serving HTTP"
	@echo "make redis-stop / make redis-start  stop and start the Redis that make run started (an outage by hand)"
	@echo "make test       every test (starts and stops its own redis-server and SQS)"
	@echo "make test-fast  every test but the end-to-end ones (marked e2e)"
	@echo "make lint       ruff and mypy"
	@echo "make docs       write the configuration reference of docs/configuration.md from the declarations"
	@echo "make outage     the seed's Redis-outage drill against a stack of its own"
	@echo "make chaos      10,000 webhooks under seeded faults, every event reconciled (ARGS=\"--seed 7 --json\")"
	@echo "make bootstrap  create or update the stage's retry queue and dead-letter queue (STAGE=dev)"
	@echo "make package    CloudFormation template + deployment.zip in build/\$$STAGE (queues, mapping, IAM)"
	@echo "make deploy     bootstrap the queues, then chalice deploy the stage with webhooks.json"
	@echo "make dlq ARGS=list   the dead-letter tool (list, show, replay, purge)"
	@echo "make watch      one line per event arriving on the configured streams (ARGS=\"--json --webhook ID\")"
	@echo "make send WEBHOOK=github_example BODY=file-or-JSON   a request signed as the sender would, and the answer"
	@echo "make bench      the benchmark suite of issue 7, one table of ratios (ARGS=--quick: about 1 minute)"

$(RUN_STAMP): requirements.txt requirements-local.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing runtime + local stack into $(VENV) (first run, or after a requirements change)..."
	$(BIN)/python -m pip install --quiet -r requirements-local.txt
	@touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	@echo "installing test, lint and benchmark tools into $(VENV) (first run, or after a requirements change)..."
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(DEV_STAMP)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(RUN_STAMP)
	$(BIN)/python -m operations.config_reference --write

bootstrap: $(RUN_STAMP)
	$(BIN)/python -m scripts.bootstrap_queues --stage $(STAGE) $(ARGS)

package: $(RUN_STAMP)
	$(BIN)/python -m scripts.package --stage $(STAGE) --output build/$(STAGE) $(ARGS)

deploy: $(RUN_STAMP)
	$(BIN)/python -m scripts.deploy --stage $(STAGE) $(ARGS)

dlq: $(RUN_STAMP)
	$(BIN)/python -m scripts.dlq $(ARGS)

watch: $(RUN_STAMP)
	$(BIN)/python -m scripts.watch $(ARGS)

# WEBHOOK and BODY reach the command through the environment (make exports command-line
# variables), so a JSON body needs no quoting beyond the shell's own.
send: $(RUN_STAMP)
	$(BIN)/python -m scripts.send "$$WEBHOOK" --body "$$BODY" $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# CLUSTER=1: a local Redis Cluster instead of one redis-server (what ElastiCache Serverless runs).
RUN_CLUSTER = $(if $(filter 1 true yes,$(CLUSTER)),--cluster)

run: $(RUN_STAMP)
	$(BIN)/python -m scripts.run_local $(RUN_CLUSTER) $(ARGS)

chalice-local: $(RUN_STAMP)
	$(BIN)/python -m scripts.run_local --chalice-local $(RUN_CLUSTER) $(ARGS)

redis-stop: $(RUN_STAMP)
	$(BIN)/python -m scripts.local_redis stop

redis-start: $(RUN_STAMP)
	$(BIN)/python -m scripts.local_redis start

outage: $(RUN_STAMP)
	$(BIN)/python -m scripts.outage $(ARGS)

chaos: $(RUN_STAMP)
	$(BIN)/python -m scripts.chaos $(ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.suite $(ARGS)

bench-local: $(DEV_STAMP)
	$(BIN)/python -m bench.local_server $(ARGS)
