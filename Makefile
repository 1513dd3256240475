# WebsocketChat: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test test-embedded test-real test-faults cluster broker worker lint format bench deps deps-dev clean help

help:
	@echo "make run      - install, migrate and serve on $(HOST):$(PORT) (plus the worker when Kafka is configured)"
	@echo "make test     - install test deps, start missing services (MariaDB, Redis, broker) and run every test"
	@echo "make test-faults - the fault tests: nodes, workers, Redis, MariaDB and the broker killed and restarted"
	@echo "make cluster  - NODES server nodes (ports PORT, PORT+1, ...) and WORKERS workers on the shared services"
	@echo "make broker   - run the local Kafka-protocol broker (Tansu) on 127.0.0.1:$${BROKER_PORT:-9092}"
	@echo "make worker   - run one message worker (needs KAFKA_BOOTSTRAP_SERVERS)"
	@echo "make bench    - run the benchmarks in bench/ and print their figures"
	@echo "make lint     - ruff"

$(VENV)/.runtime: requirements.txt scripts/system-deps
	@scripts/system-deps runtime
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	@scripts/system-deps test
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

deps: $(VENV)/.runtime
deps-dev: $(VENV)/.dev

run: $(VENV)/.runtime
	@scripts/run

test: $(VENV)/.dev
	@scripts/test

test-faults: $(VENV)/.dev
	@scripts/test-faults

cluster: $(VENV)/.runtime
	@scripts/cluster

broker: $(VENV)/.dev
	@scripts/broker foreground

worker: $(VENV)/.runtime
	@$(PY) manage.py run_message_worker

bench: $(VENV)/.dev
	@scripts/bench

lint: $(VENV)/.dev
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
