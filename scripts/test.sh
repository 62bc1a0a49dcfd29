#!/usr/bin/env bash
# One command on a fresh machine: set up, then run the whole test suite (including the
# end-to-end test on the real default model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m pytest -q "$@"
