#!/usr/bin/env bash
# Set up everything the tests need, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check .
.venv/bin/python scripts/typecheck.py  # mypy on the package as Python imports it
# Two workers (pytest-xdist), each taking a whole test file at a time (module fixtures such as
# the 3-node cluster start once), in collection order (the slow modules first, see
# tests/conftest.py; xdist would otherwise start the files with the most tests first): much of
# the suite waits on real servers. IHUB_TEST_WORKERS=0 runs it in this one process.
exec .venv/bin/python -m pytest -n "${IHUB_TEST_WORKERS:-2}" --dist loadfile \
  --no-loadscope-reorder "$@"
