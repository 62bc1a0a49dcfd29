"""The real generator: the local GGUF through llama.cpp in-process, and through its OpenAI-compatible server on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from qa import ask

pytestmark = pytest.mark.slow
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is installed by scripts/setup.sh")

from embeddings.models import generator_installed, generator_path  # noqa: E402
from qa.answer.generate import LlamaCppGenerator, OpenAIChatGenerator  # noqa: E402

QUESTION = "衢江区共享法庭覆盖了多少个行政村？"


@pytest.fixture(scope="module")
def gguf():
    if not generator_installed():
        pytest.fail("generator not installed: run `newsqa models install` (scripts/setup.sh does)")
    return generator_path()


def _check(a):
    assert a.answerer == "generative", a.to_dict()
    assert not a.refused
    assert "286" in a.text and "[1]" in a.text
    assert any("286" in c.quote for c in a.citations)
    assert a.supported_sentences and a.supported_sentences >= 1


def test_local_model_answers_with_verified_citation(real_index, real_embedder, gguf):
    gen = LlamaCppGenerator(gguf)
    a = ask(QUESTION, index=real_index, embedder=real_embedder, generator=gen, answerer="generative")
    _check(a)
    assert 0 < a.timings["ttft"] <= a.timings["total"]


def test_openai_compatible_server_on_loopback(real_index, real_embedder, gguf):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "qwen"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not start within 180 s")
                time.sleep(1)
        gen = OpenAIChatGenerator(f"http://127.0.0.1:{port}/v1", "qwen", timeout=120)
        a = ask(QUESTION, index=real_index, embedder=real_embedder, generator=gen, answerer="generative")
        _check(a)
        assert a.generator.startswith("openai:qwen@http://127.0.0.1")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_unreachable_server_is_a_clear_error(real_index, real_embedder):
    from qa.answer.generate import GeneratorError

    gen = OpenAIChatGenerator("http://127.0.0.1:9/v1", "none", timeout=5)
    with pytest.raises(GeneratorError, match="cannot reach"):
        ask(QUESTION, index=real_index, embedder=real_embedder, generator=gen, answerer="generative")
