"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models`` on the chat's port, citations kept.

The routes live in an ASGI middleware placed in front of Gradio's FastAPI app (``serve`` passes
it in ``app_kwargs["middleware"]``), so they answer before Gradio's own routes and share the
chat's process, pipeline, rate limiter and input layer (``qa.inputs`` through ``ask_stream``).
Starlette and anyio come with Gradio; nothing here is imported until ``serve`` runs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import re
import threading
import time
import uuid
from typing import Any, Callable, Iterator

from qa import Answer, ask_stream
from qa.errors import InputError, ModelNotInstalledError, NewsQAError
from qa.timeq import describe_range

log = logging.getLogger(__name__)

# model name → answerer: "newsqa" lets the server choose (the generator when installed)
MODELS = {"newsqa": "auto", "newsqa-extractive": "extractive", "newsqa-generative": "generative"}
MAX_BODY_BYTES = 256 * 1024  # one question of 500 characters and a dozen turns fit many times over
MAX_WAITING = 32  # requests answering or waiting for a worker, as the chat's queue bound
WORKERS = 2  # answers computed at once, as the chat's concurrency limit
KEEPALIVE_SECONDS = 2.0  # an SSE comment at most this often while the answer is being checked
OPTIONS = ("k", "paper", "date_from", "date_to", "retriever", "today")  # newsqa's own request fields, passed to ask()
_SOURCES = re.compile(r"\n\n(?:\(dates searched|\(newest issue|\(oldest issue|Sources:\n).*\Z", re.S)


def default_api_key(env: dict[str, str] | None = None) -> str | None:
    """``$NEWSQA_API_KEY``: the bearer key the ``/v1`` routes require (None: no key)."""
    key = (os.environ if env is None else env).get("NEWSQA_API_KEY", "").strip()
    return key or None


class APIError(Exception):
    """An error answered as an OpenAI error object with an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def message_text(content: Any) -> str | None:
    """The text of one message's ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if texts and all(isinstance(t, str) for t in texts):
            return "\n".join(texts)
    return None


def parse_messages(messages: Any) -> tuple[Any, list[dict[str, str]]]:
    """The question (the last message, which must be the user's) and the earlier user/assistant turns.

    The question is returned as sent (``ask_stream``'s input layer checks type and length);
    earlier assistant turns lose the Sources list these routes appended to them.

    Raises:
        APIError: 400 when there are no messages or the last one is not a user message with text.
    """
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "messages must be a non-empty list of {role, content} objects", param="messages")
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        raise APIError(400, "the last message must be the user's question (role \"user\")", param="messages")
    question = message_text(last.get("content"))
    if question is None:
        raise APIError(400, "the last message's content must be text", param="messages")
    history: list[dict[str, str]] = []
    for m in messages[:-1]:
        if isinstance(m, dict) and m.get("role") in ("user", "assistant"):
            text = message_text(m.get("content"))
            if text:
                history.append({"role": m["role"], "content": _SOURCES.sub("", text) if m["role"] == "assistant" else text})
    return question, history


def render_content(a: Answer) -> str:
    """The answer with its ``[n]`` markers, then a short Sources list, for clients that show only content."""
    dates = describe_range(a.date_range)
    head = [a.text] + ([f"({dates})"] if dates else [])
    if a.refused or not a.citations:
        return "\n\n".join(head)
    lines = ["\n\n".join(head), "", "Sources:"]
    for c in a.citations:
        meta = ", ".join(x for x in (c.paper, c.date) if x)
        quote = c.quote if len(c.quote) <= 120 else c.quote[:117] + "…"
        lines.append(f"[{c.n}] {c.title}{' (' + meta + ')' if meta else ''} — “{quote}”")
    return "\n".join(lines)


def answer_fields(a: Answer) -> dict[str, Any]:
    """newsqa's fields added to the OpenAI response: citations (as ``Answer.to_dict()``), refusal and more."""
    d = a.to_dict()
    out = {"citations": d["citations"], "refused": a.refused}
    for key in ("answerer", "rewritten_query", "index_generation", "date_range"):
        if key in d:
            out[key] = d[key]
    return out


def _error_status(e: NewsQAError) -> APIError:
    if isinstance(e, InputError):
        return APIError(400, str(e))
    if isinstance(e, ModelNotInstalledError):
        return APIError(503, str(e), type_="server_error", code="model_not_installed")
    return APIError(500, str(e), type_="server_error")


class OpenAIRoutes:
    """The ``/v1`` routes' state: how to answer, the shared rate limiter, the key and the bounds.

    Args:
        ask_kwargs: passed to ``ask_stream`` on every request (index, model, embedder).
        limiter: the chat's ``RateLimiter`` (one budget per client address for both), or None.
        api_key: the bearer key required when set (``$NEWSQA_API_KEY``).
        auth: the chat's basic-auth (user, password); without an API key the routes then
            accept only those credentials, so a closed chat never has an open API beside it.
        stream_fn: ``ask_stream`` or a stand-in (tests).
        gate: the chat's ``FairGate`` (``ui.capacity``), so /v1 answers take the same workers, or None.
    """

    def __init__(self, ask_kwargs: dict[str, Any] | None = None, limiter: Any = None, api_key: str | None = None,
                 auth: tuple[str, str] | None = None, stream_fn: Callable[..., Iterator[Any]] = ask_stream,
                 workers: int = WORKERS, max_waiting: int = MAX_WAITING, gate: Any = None) -> None:
        self.ask_kwargs = dict(ask_kwargs or {})
        self.gate = gate  # the chat's FairGate (ui.capacity): one pool of workers for the chat and /v1
        self.limiter = limiter
        self.api_key = api_key
        self.auth = auth
        self.stream_fn = stream_fn
        self.workers = workers
        self.max_waiting = max_waiting
        self._waiting = 0
        self._lock = threading.Lock()
        self._capacity: Any = None  # anyio.CapacityLimiter, made inside the event loop

    # -- checks -------------------------------------------------------------------------
    def check_auth(self, headers: Any) -> None:
        """401 unless the request carries the API key (or, with no key set, the chat's basic auth)."""
        if self.api_key is None and self.auth is None:
            return
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        value = value.strip()
        if self.api_key is not None and scheme.lower() == "bearer" and hmac.compare_digest(
                value.encode("utf-8", "replace"), self.api_key.encode("utf-8")):
            return
        if self.auth is not None and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if hmac.compare_digest(user.encode(), self.auth[0].encode()) & hmac.compare_digest(
                    password.encode(), self.auth[1].encode()):
                return
        what = "Authorization: Bearer <NEWSQA_API_KEY>" if self.api_key else "the chat's basic-auth credentials (or set NEWSQA_API_KEY)"
        raise APIError(401, f"missing or wrong API key: send {what}", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer" if self.api_key else "Basic"})

    def check_rate(self, client: str) -> None:
        if self.limiter is not None:
            wait = self.limiter.check(client)
            if wait is not None:
                raise APIError(429, self.limiter.message(wait), type_="requests", code="rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, round(wait)))})

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except APIError as e:
            response = JSONResponse(e.body(), status_code=e.status, headers=e.headers)
        await response(scope, receive, send)

    async def _dispatch(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        path = request.url.path.rstrip("/")
        if path == "/v1/models" or path.startswith("/v1/models/"):
            if request.method != "GET":
                raise APIError(405, f"{request.method} is not allowed on {path}; use GET")
            self.check_auth(request.headers)
            if path == "/v1/models":
                return JSONResponse({"object": "list", "data": [_model(m) for m in MODELS]})
            name = path[len("/v1/models/"):]
            if name not in MODELS:
                raise APIError(404, f"the model {name!r} does not exist; use one of {', '.join(MODELS)}",
                               code="model_not_found", param="model")
            return JSONResponse(_model(name))
        if path == "/v1/chat/completions":
            if request.method != "POST":
                raise APIError(405, f"{request.method} is not allowed on {path}; use POST")
            self.check_auth(request.headers)
            return await self._completions(request)
        raise APIError(404, f"no route {request.method} {request.url.path}; newsqa serves /v1/models and /v1/chat/completions",
                       code="unknown_url")

    async def _read_json(self, request: Any) -> dict[str, Any]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise APIError(413, f"the request body is {declared} bytes; the limit is {MAX_BODY_BYTES}")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY_BYTES:
                raise APIError(413, f"the request body is over the limit of {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(bytes(body).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise APIError(400, f"the request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise APIError(400, f"the request body must be a JSON object, not {type(data).__name__}")
        return data

    async def _completions(self, request: Any) -> Any:
        import anyio
        from starlette.responses import JSONResponse, StreamingResponse

        data = await self._read_json(request)
        model = data.get("model", "newsqa")
        if not isinstance(model, str) or model not in MODELS:
            raise APIError(404, f"the model {str(model)[:60]!r} does not exist; use one of {', '.join(MODELS)}",
                           code="model_not_found", param="model")
        question, history = parse_messages(data.get("messages"))
        stream = data.get("stream", False)
        if not isinstance(stream, bool):
            raise APIError(400, "stream must be true or false", param="stream")
        options = {k: data[k] for k in OPTIONS if data.get(k) is not None}
        client = str(getattr(request.client, "host", None) or "unknown")
        self.check_rate(client)
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise APIError(503, "the server is busy answering other questions; try again shortly",
                               type_="server_error", code="overloaded", headers={"Retry-After": "5"})
            self._waiting += 1
        released = False
        gate_since: float | None = None

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with self._lock:
                    self._waiting -= 1
                if gate_since is not None:
                    self.gate.leave(client, time.monotonic() - gate_since)

        if self.gate is not None:
            # the same workers, per-address fairness and wait bound as the chat (ui.capacity)
            try:
                await anyio.to_thread.run_sync(self.gate.enter, client)
            except NewsQAError as e:
                release()
                raise APIError(503, str(e), type_="server_error", code="overloaded",
                               headers={"Retry-After": "5"}) from None
            gate_since = time.monotonic()

        if self._capacity is None:
            self._capacity = anyio.CapacityLimiter(self.workers)
        kwargs = {**self.ask_kwargs, **options, "answerer": MODELS[model], "history": history}
        gen = self.stream_fn(question, **kwargs)
        try:
            # the first step runs the input layer and retrieval: bad input is still a plain 400 here
            first = await anyio.to_thread.run_sync(_step, gen, limiter=self._capacity)
        except NewsQAError as e:
            release()
            gen.close()
            raise _error_status(e) from None
        except Exception:
            release()
            gen.close()
            log.exception("chat completion failed")
            raise APIError(500, "something went wrong answering this question", type_="server_error") from None
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not stream:
            try:
                final = first if isinstance(first, Answer) else None
                while final is None:
                    item = await anyio.to_thread.run_sync(_step, gen, limiter=self._capacity)
                    if isinstance(item, Answer) or item is _END:
                        final = item if isinstance(item, Answer) else None
                        break
            except NewsQAError as e:
                raise _error_status(e) from None
            finally:
                release()
                gen.close()
            if final is None:
                raise APIError(500, "the answerer ended without an answer", type_="server_error")
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": render_content(final)},
                             "finish_reason": "stop", "logprobs": None}],
                **answer_fields(final),
            })
        return StreamingResponse(self._events(gen, first, cid, created, model, release), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, gen: Iterator[Any], first: Any, cid: str, created: int, model: str,
                      release: Callable[[], None]) -> Any:
        """SSE chunks: the role, keep-alive comments while the answer is checked, the checked answer, then citations.

        Only the final, checked answer is sent as content: the model's raw words can lose
        unsupported sentences and gain ``[n]`` markers, and a stream cannot take words back.
        """
        import anyio

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        try:
            yield chunk({"role": "assistant", "content": ""})
            item, last_beat = first, time.monotonic()
            while not isinstance(item, Answer) and item is not _END:
                if time.monotonic() - last_beat >= KEEPALIVE_SECONDS:
                    last_beat = time.monotonic()
                    yield ": checking the answer against the articles\n\n"
                item = await anyio.to_thread.run_sync(_step, gen, limiter=self._capacity)
            if item is _END:
                raise NewsQAError("the answerer ended without an answer")
            for piece in _pieces(render_content(item)):
                yield chunk({"content": piece})
            yield chunk({}, "stop", **answer_fields(item))
            yield "data: [DONE]\n\n"
        except NewsQAError as e:
            err = _error_status(e)
            yield f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
        except Exception:  # noqa: BLE001 - the headers are sent: report it in the stream
            log.exception("streamed chat completion failed")
            err = APIError(500, "something went wrong answering this question", type_="server_error")
            yield f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
        finally:
            release()
            gen.close()


_END = object()


def _step(gen: Iterator[Any]) -> Any:
    """The generator's next item, or ``_END`` (StopIteration cannot cross a thread boundary)."""
    return next(gen, _END)


def _pieces(text: str, size: int = 24) -> Iterator[str]:
    """The content in small pieces, broken after sentence ends where possible."""
    parts = re.split(r"(?<=[。！？；.!?\n])", text)
    buf = ""
    for p in parts:
        buf += p
        if len(buf) >= size:
            yield buf
            buf = ""
    if buf:
        yield buf


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "newsqa"}


class OpenAIMount:
    """ASGI middleware: requests under ``/v1/`` go to ``routes``; everything else to the wrapped app (Gradio)."""

    def __init__(self, app: Any, routes: OpenAIRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and (scope.get("path") == "/v1" or str(scope.get("path", "")).startswith("/v1/")):
            await self.routes(scope, receive, send)
            return
        await self.app(scope, receive, send)
