# perkflow: the two commands (make demo, make test) and their helpers. Everything installs itself on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
PYTHON  ?= python3
# sam build needs the Lambda runtime's interpreter (python3.12) on PATH; pyenv provides it next to 3.11 here.
export PYENV_VERSION ?= 3.11.7:3.12.1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: java-check help setup up demo test bench lint format typecheck imports template build pytest clean

help:
	@echo "make demo   - start the local stack, run the end-to-end story, print its timeline, stop"
	@echo "make test   - lint, type-check, import rules, template checks, sam build, all test tiers"
	@echo "make up     - start the local stack and keep it running (Ctrl-C stops everything)"
	@echo "make bench  - run the benchmarks (BENCH_SCALE=0.1 for a quick run)"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

java-check:
	@java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])' || { \
	  echo "Java 17 or newer is needed for DynamoDB Local (install openjdk-17-jre-headless)"; exit 1; }

setup: $(VENV)/.installed node_modules/.installed java-check

up: setup
	$(BIN)/perkflow local up

demo: setup
	$(BIN)/perkflow demo

bench: setup
	$(PY) -m bench

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/perkflow/perkflow ops/perkflow_ops functions bench tests

imports: $(VENV)/.installed
	$(BIN)/lint-imports

template: $(VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --region $(AWS_DEFAULT_REGION)

build: $(VENV)/.installed
	@command -v python3.12 >/dev/null 2>&1 || { \
	  echo "sam build needs python3.12 on PATH (the Lambda runtime); install it or set PYENV_VERSION"; exit 1; }
	$(BIN)/sam build --cached --parallel

# pytest exits 5 when a tier has no tests yet; that is not a failure.
pytest: setup
	$(BIN)/pytest tests; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

test: lint typecheck imports template build pytest

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
