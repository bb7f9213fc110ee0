# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
SPARK_INSTALLED := $(VENV)/.installed-spark

.PHONY: venv demo test lint format bench clean realstack-test

$(INSTALLED): requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Tierflow needs Python 3.11: set PYTHON=/path/to/python3.11")'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(INSTALLED)

# Test-only packages (the lifetimes reference for the CLV comparison); tierlib never imports them.
$(TEST_INSTALLED): $(INSTALLED) requirements-test.txt
	$(VENV)/bin/python -m pip install --quiet -r requirements-test.txt -c constraints.txt
	touch $(TEST_INSTALLED)

# The Spark engine: pyspark (about 450 MB) and Java 17. `make test` and the Docker image install it;
# `make demo` (the embedded engine) does not.
$(SPARK_INSTALLED): $(INSTALLED) requirements-spark.txt
	bash scripts/ensure_java.sh
	$(VENV)/bin/python -m pip install --quiet -r requirements-spark.txt -c constraints.txt
	touch $(SPARK_INSTALLED)

venv: $(INSTALLED)

demo: venv
	bash scripts/demo.sh

test: $(TEST_INSTALLED) $(SPARK_INSTALLED)
	bash scripts/test.sh

# The docker-compose topology as processes on loopback (PostgreSQL, Redis, Celery); see README.
realstack-test: $(TEST_INSTALLED) $(SPARK_INSTALLED)
	bash scripts/realstack_test.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache
