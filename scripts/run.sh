#!/usr/bin/env bash
# One command on a fresh machine: set up, index the bundled corpus, answer a sample question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
if ! newsqa info >/dev/null 2>&1; then
  newsqa index
fi
newsqa info
echo
newsqa ask "${1:-柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？}"
