"""Generators that write answer text: a local GGUF model through llama.cpp, or an OpenAI-compatible server.

A generator only writes plain text; citations are attached afterwards by code
(``qa.answer.ground``), never taken from the model's own markers.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from qa.errors import ModelNotInstalledError, NewsQAError

log = logging.getLogger(__name__)

Message = dict  # {"role": "system"|"user"|"assistant", "content": str}


class GeneratorError(NewsQAError):
    """The generator failed (server unreachable, model error)."""


@runtime_checkable
class Generator(Protocol):
    """Writes text for chat messages, streamed piece by piece."""

    name: str

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 160, temperature: float = 0.0) -> Iterator[str]: ...


def _two_way(yes_logit: float, no_logit: float) -> float:
    """The chance of "yes" against "no" from their two logits (a softmax over the pair)."""
    d = max(-60.0, min(60.0, no_logit - yes_logit))
    return 1.0 / (1.0 + math.exp(d))


class LlamaCppGenerator:
    """A GGUF model run in-process by llama-cpp-python (loaded on first use, then kept).

    Chosen over transformers+gguf on measurements on this 2-core machine: about 137
    prompt tokens/s and 31 generated tokens/s at ~2 GB RAM, against a ~50 s / 5.5 GB
    load for transformers reading the GGUF directly.
    """

    def __init__(self, model_path: Path | str, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelNotInstalledError(f"generator model not found at {self.model_path}; run: newsqa models install")
        self.name = f"llama.cpp:{self.model_path.name}"
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self._llm = None
        self._lock = threading.Lock()  # one llama context: generate one answer at a time

    def warm_up(self) -> None:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelNotInstalledError(
                    "llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36; scripts/setup.sh does this)"
                ) from None
            log.info("loading %s", self.model_path)
            self._llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 160, temperature: float = 0.0) -> Iterator[str]:
        with self._lock:
            self.warm_up()
            it = self._llm.create_chat_completion(  # type: ignore[union-attr]
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True
            )
            for part in it:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta

    def yes_probability(self, messages: Sequence[Message], yes: str = "是", no: str = "否") -> float:
        """The model's chance of answering ``yes`` rather than ``no`` as the first token of its reply.

        Read from the logits of the first reply token (one decode step, no sampling), so a
        verification question costs its prompt tokens only; the shared prompt prefix stays cached.
        """
        import numpy as np
        from llama_cpp import LogitsProcessorList

        with self._lock:
            self.warm_up()
            llm = self._llm
            y = llm.tokenize(yes.encode("utf-8"), add_bos=False, special=False)  # type: ignore[union-attr]
            n = llm.tokenize(no.encode("utf-8"), add_bos=False, special=False)  # type: ignore[union-attr]
            seen: dict[str, Any] = {}

            def grab(_ids: Any, scores: Any) -> Any:
                seen["logits"] = np.array(scores, copy=True)
                return scores

            llm.create_chat_completion(  # type: ignore[union-attr]
                messages=list(messages), max_tokens=1, temperature=0.0, logits_processor=LogitsProcessorList([grab])
            )
        logits = seen["logits"]
        return _two_way(float(logits[y[0]]), float(logits[n[0]]))


class OpenAIChatGenerator:
    """Any OpenAI-compatible ``/v1/chat/completions`` server (llama.cpp server, vLLM, Ollama, …).

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects.
        api_key: sent as a bearer token when given.
        timeout: seconds to wait for the server.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise NewsQAError(f"generator base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.name = f"openai:{model}@{self.base_url}"

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 160, temperature: float = 0.0) -> Iterator[str]:
        req = self._request(messages, max_tokens=max_tokens, temperature=temperature, stream=True)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except (urllib.error.URLError, OSError) as e:
            raise GeneratorError(f"cannot reach the generator at {self.base_url}: {e}") from None
        with resp:
            for raw in resp:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (ValueError, KeyError, IndexError):
                    continue
                if delta:
                    yield delta


    def yes_probability(self, messages: Sequence[Message], yes: str = "是", no: str = "否") -> float | None:
        """The chance of ``yes`` rather than ``no`` as the reply's first token, from the server's
        ``top_logprobs`` when it returns them, else 1.0 / 0.0 from the reply's text (None: neither).

        A server that refuses the logprobs request (llama.cpp's without ``logits_all``) is asked
        again for the reply's first tokens.
        """
        try:
            choice = self._complete(messages, max_tokens=1, logprobs=True, top_logprobs=20)
        except urllib.error.HTTPError:
            try:
                choice = self._complete(messages, max_tokens=2)
            except urllib.error.HTTPError as e:
                raise GeneratorError(f"the generator at {self.base_url} answered HTTP {e.code}") from None
        try:
            top = {t["token"].strip(): t["logprob"] for t in choice["logprobs"]["content"][0]["top_logprobs"]}
        except (KeyError, IndexError, TypeError):
            top = {}
        if yes in top or no in top:
            floor = min(top.values()) - 1.0  # a token outside the top list is less likely than all in it
            return _two_way(top.get(yes, floor), top.get(no, floor))
        text = ((choice.get("message") or {}).get("content") or "").strip()
        return 1.0 if text.startswith(yes) else 0.0 if text.startswith(no) else None

    def _request(self, messages: Sequence[Message], **options: Any) -> urllib.request.Request:
        """A POST to ``/chat/completions`` with the messages and ``options`` (and the bearer key, if any)."""
        body = json.dumps({"model": self.model, "messages": list(messages), **options}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if options.get("stream"):
            headers["Accept"] = "text/event-stream"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=headers, method="POST")

    def _complete(self, messages: Sequence[Message], **options: Any) -> dict[str, Any]:
        """One non-streamed completion's first choice (``urllib.error.HTTPError`` passes through)."""
        req = self._request(messages, temperature=0.0, **options)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError:
            raise  # the caller decides (a server that refuses logprobs is asked again without them)
        except (urllib.error.URLError, OSError) as e:
            raise GeneratorError(f"cannot reach the generator at {self.base_url}: {e}") from None
        except ValueError:
            raise GeneratorError(f"the generator at {self.base_url} sent a reply that is not JSON") from None
        try:
            return data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise GeneratorError(f"the generator at {self.base_url} sent no choices") from None


_default: LlamaCppGenerator | None = None
_default_lock = threading.Lock()


def default_generator() -> Generator | None:
    """The configured generator, or None when none is installed (``auto`` then answers extractively).

    ``$NEWSQA_LLM_BASE_URL`` (+ ``$NEWSQA_LLM_MODEL``, ``$NEWSQA_LLM_API_KEY``) selects an
    OpenAI-compatible server; otherwise the local GGUF from ``newsqa models install``.
    ``NEWSQA_GENERATOR=none`` turns generation off.
    """
    if os.environ.get("NEWSQA_GENERATOR", "").lower() in ("none", "off", "0"):
        return None  # answer extractively (the test suite sets this; pass generator= to override)
    base = os.environ.get("NEWSQA_LLM_BASE_URL")
    if base:
        return OpenAIChatGenerator(base, os.environ.get("NEWSQA_LLM_MODEL", "default"), api_key=os.environ.get("NEWSQA_LLM_API_KEY"))
    from embeddings.models import generator_installed, generator_path

    global _default
    with _default_lock:
        if _default is None:
            if not generator_installed():
                return None
            try:
                import importlib.util

                if importlib.util.find_spec("llama_cpp") is None:
                    return None
            except ValueError:
                return None
            _default = LlamaCppGenerator(generator_path())
        return _default
