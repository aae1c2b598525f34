#!/usr/bin/env bash
# Set up everything the tests need, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check .
.venv/bin/mypy imaging_hub schemas indexers store search_ui
exec .venv/bin/python -m pytest "$@"
