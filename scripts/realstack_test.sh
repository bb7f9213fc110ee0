#!/usr/bin/env bash
# make realstack-test: the docker-compose topology as processes on loopback (see
# tests/realstack/run_realstack.py).  Needs PostgreSQL and Redis on 127.0.0.1 (or their programs
# installed); exit status 3 means one is missing, and the message says which and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.venv/bin:$PATH"
exec .venv/bin/python tests/realstack/run_realstack.py "$@"
