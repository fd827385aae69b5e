# notescore — every target installs what it needs into .venv first.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# The CPU build of torch; a bare `torch` pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: help install install-dev demo test test-slow lint model train export bench bench-quick clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.runtime: $(VENV)/bin/python pyproject.toml
	$(PIP) install -e .
	@touch $@

$(VENV)/.dev: $(VENV)/bin/python pyproject.toml
	$(PIP) install $(TORCH)
	$(PIP) install -e '.[train,dev]'
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime ## Install the runtime (scoring) into .venv

install-dev: $(VENV)/.dev ## Install runtime + training + test tools into .venv

demo: $(VENV)/.runtime ## Score data/sample_notes.jsonl with the shipped model, summarise, write an HTML report
	@mkdir -p runs/demo
	$(VENV)/bin/notescore score data/sample_notes.jsonl -o runs/demo/sample_scored.jsonl
	$(PY) -m nlp.demo runs/demo/sample_scored.jsonl
	$(VENV)/bin/notescore report runs/demo/sample_scored.jsonl -o runs/demo/report.html -q \
		--date-field time --by user.nickname --by ip_location
	@echo "report: $(CURDIR)/runs/demo/report.html (open it in a browser)"

test: $(VENV)/.dev ## Run the test suite (not the slow tests)
	$(PY) -m pytest -m "not slow" -q

test-slow: $(VENV)/.dev ## Run the slow tests too (real base model, real corpora)
	$(PY) -m pytest -q

lint: $(VENV)/.dev ## ruff check + format check
	$(VENV)/bin/ruff check nlp training tests bench
	$(VENV)/bin/ruff format --check nlp training tests bench

model: $(VENV)/.dev ## Rebuild models/notescore-base from scratch on CPU (see training/README.md)
	$(PY) -m training.make_model --out models/notescore-base

bench: $(VENV)/.dev ## Every speed lever in one table: backends x depths x precisions, accuracy, targets (bench/README.md)
	$(PY) bench/run.py

bench-quick: $(VENV)/.dev ## Smoke run of the benchmark (~100 notes a row; the numbers are not the benchmark)
	$(PY) bench/run.py --quick

clean: ## Remove build outputs (keeps .venv)
	rm -rf runs build dist .pytest_cache .ruff_cache
