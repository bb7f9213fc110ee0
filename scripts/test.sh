#!/usr/bin/env bash
# make test: the whole suite in the project's venv. Services the tests need (an S3 server on
# loopback) are started by the tests themselves; PostgreSQL and Redis are used where present.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.venv/bin:$PATH"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
ruff check .
ruff format --check .
exec pytest "$@"
