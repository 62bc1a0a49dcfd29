#!/usr/bin/env bash
# One command on a fresh machine: set up, index the bundled corpus, answer a sample
# question, then start the web chat on http://127.0.0.1:7860/ (Ctrl+C stops it).
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
echo
exec newsqa serve
