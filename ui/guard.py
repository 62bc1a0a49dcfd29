"""Limits in front of the chat server: request size, closed upload route, login throttling, trusted proxies."""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

from qa.errors import NewsQAError

from ui.capacity import Capacity

KB = 1024
DRAIN_MAX = 256 * 1024 * KB  # bytes of a refused body read and dropped so its sender sees the 413
DRAIN_SECONDS = 10.0


@dataclass(frozen=True)
class ServerLimits:
    """Every limit ``newsqa serve`` enforces in front of the answerer (see ``from_env``).

    Attributes:
        max_body: bytes any request body may have (the chat's API calls are far smaller).
        max_chat_body: bytes for the browser chat's queue route, which also carries the shown conversation.
        max_api_body: bytes for the OpenAI-compatible ``/v1`` routes (their own check, in
            ``ui.openai_api``, allows as much and answers in OpenAI's error format).
        login_base_delay: seconds the first retry after a failed login waits; doubled per further failure.
        login_max_delay: the longest of those delays.
        login_lockout_after: failed logins (per address, or per user name) before the lockout.
        login_window: seconds a failed login is remembered, and the length of a lockout.
        trusted_proxies: comma-separated addresses whose X-Forwarded-For is believed ("" = none:
            the client is the socket's peer).
        capacity: workers, per-address queue and the waiting bound of the chat.
    """

    max_body: int = 64 * KB
    max_chat_body: int = 1024 * KB
    max_api_body: int = 256 * KB
    login_base_delay: float = 0.5
    login_max_delay: float = 16.0
    login_lockout_after: int = 10
    login_window: float = 900.0
    trusted_proxies: str = ""
    capacity: Capacity = field(default_factory=Capacity)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ServerLimits":
        """Read ``NEWSQA_MAX_BODY_KB``, ``NEWSQA_TRUSTED_PROXIES``, ``NEWSQA_MAX_WAIT``, ``NEWSQA_WORKERS``.

        Raises:
            NewsQAError: naming a variable that is not a positive number.
        """
        env = dict(os.environ if env is None else env)

        def num(name: str, default: float, kind: type = float) -> Any:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                value = -1
            if not value > 0:
                raise NewsQAError(f"{name} must be a positive number, got {raw!r}")
            return value

        cap = Capacity(workers=num("NEWSQA_WORKERS", Capacity.workers, int),
                       max_wait=num("NEWSQA_MAX_WAIT", Capacity.max_wait))
        return cls(max_body=num("NEWSQA_MAX_BODY_KB", cls.max_body // KB, int) * KB,
                   trusted_proxies=env.get("NEWSQA_TRUSTED_PROXIES", "").strip(), capacity=cap)


# Gradio's upload route: this app takes no files (uploads stayed on disk and showed the server's folder)
_CLOSED = ("/gradio_api/upload", "/upload")
_CHAT_QUEUE = "/gradio_api/queue/join"


async def _reply(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                # no "connection: close": uvicorn then reads and discards the rest of an oversized
                # body (holding none of it), so a client still sending sees this answer, not a reset
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _client(scope: dict) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class LoginThrottle:
    """Failed logins per key (an address, a user name): a growing delay, then a lockout. Thread-safe.

    An attempt counts as failed from the moment it starts until it succeeds, so parallel
    guesses see each other's delay.
    """

    def __init__(self, limits: ServerLimits, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.limits = limits
        self._clock = clock
        self._fails: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._fails.get(key, ()) if now - t < self.limits.login_window]
        if times:
            self._fails[key] = times
            self._fails.move_to_end(key)
        else:
            self._fails.pop(key, None)
        return times

    def begin(self, keys: list[str], pending: bool = True) -> tuple[float, float | None]:
        """Check (and with ``pending``, record as failed until it succeeds) an attempt for ``keys``.

        Returns:
            (seconds to delay it, seconds of lockout left or None).
        """
        lim, now = self.limits, self._clock()
        with self._lock:
            recent = {k: self._recent(k, now) for k in keys}
            locked = [ts for ts in recent.values() if len(ts) >= lim.login_lockout_after]
            if locked:
                return 0.0, max(lim.login_window - (now - ts[-lim.login_lockout_after]) for ts in locked)
            n = max((len(ts) for ts in recent.values()), default=0)
            if pending:
                self._record(keys, now)
        return (0.0 if n == 0 else min(lim.login_base_delay * 2 ** (n - 1), lim.login_max_delay)), None

    def _record(self, keys: list[str], now: float) -> None:
        for k in keys:
            self._fails.setdefault(k, []).append(now)
            self._fails.move_to_end(k)
        while len(self._fails) > self._max_keys:
            self._fails.popitem(last=False)

    def failed(self, keys: list[str]) -> None:
        """A wrong credential, recorded after the fact (for checks that may run in parallel)."""
        with self._lock:
            self._record(keys, self._clock())

    def succeeded(self, keys: list[str]) -> None:
        """A correct login: forget the failures of its address and user."""
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


class Guard:
    """ASGI middleware in front of Gradio: closed routes (403), body limits (413), login throttling (429).

    The body limit is enforced from ``Content-Length`` before anything is read, and on the
    bytes actually streamed (a chunked body has no length), so a large body is never held.
    """

    def __init__(self, app: Any, limits: ServerLimits | None = None, throttle: LoginThrottle | None = None) -> None:
        self.app = app
        self.limits = limits or ServerLimits()
        self.throttle = throttle or LoginThrottle(self.limits)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "")).rstrip("/").lower()
        if any(path == c or path.endswith(c) for c in _CLOSED):
            await _reply(send, 403, "403: newsqa takes no uploads")
            return
        limit = (self.limits.max_chat_body if path.endswith(_CHAT_QUEUE)
                 else self.limits.max_api_body if path.startswith("/v1/") else self.limits.max_body)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "400: bad Content-Length")
                return
            if declared > limit:
                await self._refuse(scope, receive, send, limit)
                return
        if scope.get("method") == "POST" and path.endswith("/login"):
            await self._login(scope, receive, send, limit)
            return
        if path.startswith("/v1/") and any(k == b"authorization" for k, _ in scope.get("headers") or ()):
            await self._api_auth(scope, receive, send, limit)
            return
        await self._limited(scope, receive, send, limit)

    async def _refuse(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        """413 for a body declared too large, without keeping any of it.

        A client that announced ``Connection: close`` would have the socket shut under it
        while still sending (and see a reset, not the 413), so its body is first read and
        dropped, within ``DRAIN_MAX`` bytes and ``DRAIN_SECONDS``; others get the answer at
        once (uvicorn discards the rest of the body itself, keeping the connection).
        """
        headers = dict(scope.get("headers") or ())
        if headers.get(b"connection", b"").lower() == b"close" and b"expect" not in headers:
            drained, deadline = 0, time.monotonic() + DRAIN_SECONDS
            while drained <= DRAIN_MAX and time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.01))
                except asyncio.TimeoutError:
                    break
                if msg.get("type") != "http.request":
                    return  # the client went away
                drained += len(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
        await _reply(send, 413, f"413: request body over the {limit // KB} KB limit")

    async def _limited(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        """Pass the request on, counting streamed body bytes; past ``limit``: 413 and a disconnect to the app."""
        seen, refused, started = 0, False, False

        async def guarded_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg.get("type") == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await _reply(send, 413, f"413: request body over the {limit // KB} KB limit")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: dict) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; whatever the app says next is dropped
            if msg.get("type") == "http.response.start":
                started = True
            await send(msg)

        await self.app(scope, guarded_receive, guarded_send)

    async def _login(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        """Read the (small) login form, delay or refuse by past failures, then let Gradio check it."""
        body = b""
        while True:
            msg = await receive()
            if msg.get("type") != "http.request":
                return  # the client went away
            body += msg.get("body", b"")
            if len(body) > limit:
                await _reply(send, 413, f"413: request body over the {limit // KB} KB limit")
                return
            if not msg.get("more_body"):
                break
        user = (parse_qs(body.decode("latin-1")).get("username") or [""])[0].strip()
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        # Gradio answers 200 to a right password and 400 "Incorrect credentials" to a wrong one
        # a form login counts as failed from its start, so parallel guesses meet each other's delay
        await self._throttled(scope, replay, send, user, ok=lambda status: status == 200, app=self.app, pending=True)

    async def _throttled(self, scope: dict, receive: Any, send: Any, user: str, ok: Callable[[int], bool],
                         app: Any, pending: bool) -> None:
        """Delay or refuse a credential check by past failures of its address and user; learn from its status."""
        keys = [f"addr:{_client(scope)}", *([f"user:{user}"] if user else [])]
        delay, locked = self.throttle.begin(keys, pending=pending)
        if locked is not None:
            secs = max(1, math.ceil(locked))
            await _reply(send, 429, f"429: too many failed logins; try again in {secs} s",
                         [(b"retry-after", str(secs).encode())])
            return
        if delay:
            await asyncio.sleep(delay)  # the event loop serves everyone else meanwhile

        async def watch(msg: dict) -> None:
            if msg.get("type") == "http.response.start":
                if ok(int(msg.get("status", 0))):
                    self.throttle.succeeded(keys)
                elif not pending:
                    self.throttle.failed(keys)
            await send(msg)

        await app(scope, receive, watch)

    async def _api_auth(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        """The ``/v1`` routes check an API key or the chat's password (HTTP basic): throttled like the login form."""
        auth = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = auth.partition(" ")
        user = ""
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace").partition(":")[0]
            except (ValueError, binascii.Error):
                user = ""

        async def limited(scope_: dict, receive_: Any, send_: Any) -> None:
            await self._limited(scope_, receive_, send_, limit)

        # 401 is the only answer that means the credentials were wrong; API clients may send in
        # parallel, so only a 401 counts, after the fact
        await self._throttled(scope, receive, send, user.strip(), ok=lambda status: status != 401, app=limited,
                              pending=False)


def proxy_env(trusted_proxies: str) -> dict[str, str]:
    """The uvicorn setting that makes the client address the socket's peer unless it is a named proxy.

    uvicorn believes ``X-Forwarded-For`` from ``$FORWARDED_ALLOW_IPS`` (by default loopback),
    so any local process could claim any address; newsqa names none unless told.
    """
    return {"FORWARDED_ALLOW_IPS": trusted_proxies.strip()}
