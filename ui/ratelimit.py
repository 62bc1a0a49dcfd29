"""Per-client rate limiting for the chat: a sliding window of request times per client address."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from qa.errors import NewsQAError

# questions per seconds, per client address: about a third of what the machine answers with the
# local LLM (two workers, a few seconds per answer), so one address cannot take all of it
DEFAULT_RATE = "10/60"
MAX_CLIENTS = 10_000  # addresses remembered; the least recently seen are forgotten first


def parse_rate(spec: str | None) -> tuple[int, float] | None:
    """``"N/S"`` → (N requests, per S seconds); ``"off"``, ``"0"`` or ``""`` → no limit.

    Raises:
        NewsQAError: for anything else, naming the expected form.
    """
    spec = (spec if spec is not None else DEFAULT_RATE).strip().lower()
    if spec in ("", "0", "off", "none"):
        return None
    try:
        n, s = spec.split("/")
        rate = int(n), float(s)
    except ValueError:
        raise NewsQAError(f"NEWSQA_RATE_LIMIT must look like 30/60 (questions per seconds) or off, got {spec!r}") from None
    if rate[0] < 1 or not rate[1] > 0:
        raise NewsQAError(f"NEWSQA_RATE_LIMIT must have a positive count and period, got {spec!r}")
    return rate


def default_rate() -> tuple[int, float] | None:
    """``$NEWSQA_RATE_LIMIT`` or ``DEFAULT_RATE`` (10 questions per 60 s) per client address."""
    return parse_rate(os.environ.get("NEWSQA_RATE_LIMIT"))


class RateLimiter:
    """At most ``max_requests`` per ``per_seconds`` for each key (a client address). Thread-safe."""

    def __init__(self, max_requests: int, per_seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._max_clients = max_clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> float | None:
        """Record a request from ``key``; None when allowed, else the seconds until it would be."""
        now = self._clock()
        with self._lock:
            times = self._seen.get(key)
            if times is None:
                times = self._seen[key] = deque()
                while len(self._seen) > self._max_clients:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
            while times and now - times[0] >= self.per_seconds:
                times.popleft()
            if len(times) >= self.max_requests:
                return max(0.0, self.per_seconds - (now - times[0]))
            times.append(now)
            return None

    def message(self, wait: float) -> str:
        return (f"Too many questions from your address: at most {self.max_requests} per {self.per_seconds:g} s. "
                f"Please try again in {max(1, round(wait))} s. / 提问过于频繁，请稍后再试。")
