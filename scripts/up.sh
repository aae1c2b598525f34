#!/usr/bin/env bash
# The main job: set up, harvest the configured sources (default: the full IDC index) into
# the embedded index under $IHUB_HOME (default ./.ihub-home), then serve the API and UI on
# http://127.0.0.1:8000 (override with HOST / PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IHUB_HOME=${IHUB_HOME:-$PWD/.ihub-home}
.venv/bin/ihub harvest
exec .venv/bin/ihub serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
