#!/usr/bin/env bash
# Set up (if needed), lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check lamuse bot cogs tests
.venv/bin/mypy lamuse bot cogs
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
