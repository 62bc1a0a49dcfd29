"""Fair capacity for the chat: one running answer per address, a small queue each, a bound on every wait."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from qa.errors import NewsQAError


class Busy(NewsQAError):
    """The server cannot start this question within its waiting bound; the message says when to try again."""


@dataclass(frozen=True)
class Capacity:
    """How many answers run at once and how long anyone may wait for one.

    Attributes:
        workers: answers computed at the same time (the machine's capacity).
        per_client_queue: questions one address may have waiting behind its running one.
        max_wait: seconds a question may wait for a worker before it is turned away.
        max_waiting: questions waiting in all, whatever their estimated wait.
        first_estimate: seconds one answer is assumed to take until answers have been timed.
    """

    workers: int = 2
    per_client_queue: int = 2
    max_wait: float = 20.0
    max_waiting: int = 32
    first_estimate: float = 4.0

    @property
    def max_concurrent(self) -> int:
        """Requests the web framework must let through at once so that waiting happens here."""
        return self.workers + self.max_waiting


class _Ticket:
    __slots__ = ("key", "n", "granted")

    def __init__(self, key: str, n: int) -> None:
        self.key, self.n, self.granted = key, n, False


class FairGate:
    """Admission for answers, shared by every thread that serves one. Thread-safe.

    A free worker goes to the waiting address served least recently (a newcomer before
    someone on their fifth question), never to a second question of an address that
    already has one running. A question is turned away at once when its estimated wait
    exceeds ``max_wait``, and after ``max_wait`` seconds if it still has not started;
    nobody waits longer.
    """

    def __init__(self, capacity: Capacity = Capacity(), clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.capacity = capacity
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: OrderedDict[str, deque[_Ticket]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._last_served: OrderedDict[str, float] = OrderedDict()
        self._max_clients = max_clients
        self._seq = itertools.count()
        self._service = capacity.first_estimate  # moving average of one answer's seconds

    # ----------------------------------------------------------------- state
    @property
    def waiting(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._waiting.values())

    @property
    def running(self) -> int:
        with self._cond:
            return sum(self._running.values())

    def estimate(self, key: str | None = None) -> float:
        """Seconds a new question from ``key`` would wait (None: from an address never served)."""
        with self._cond:
            return self._estimate_locked(key)

    def _estimate_locked(self, key: str | None = None) -> float:
        """The questions served before a new one from ``key``, in workers' turns of one average answer.

        Service is round-robin over addresses, so an address waits behind one question
        of every other waiting address per turn, not behind everyone's whole queue.
        """
        busy = sum(self._running.values())
        if busy < self.capacity.workers and not self._waiting:
            return 0.0
        mine = len(self._waiting.get(key, ())) if key is not None else 0
        my_last = self._last_served.get(key, -math.inf) if key is not None else -math.inf
        ahead = mine
        for k, q in self._waiting.items():
            if k != key:
                ahead += min(len(q), mine + (1 if self._last_served.get(k, -math.inf) <= my_last else 0))
        free = max(self.capacity.workers - busy, 0)
        if ahead < free:
            return 0.0
        return self._service * math.ceil((ahead + 1 - free) / self.capacity.workers)

    # ----------------------------------------------------------------- admission
    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold a worker for ``key`` (a client address) while the block runs.

        Raises:
            Busy: when the question cannot start within ``max_wait`` seconds, or the
                address already has ``per_client_queue`` questions waiting.
        """
        self._enter(key)
        t0 = self._clock()
        try:
            yield
        finally:
            self._leave(key, self._clock() - t0)

    def _enter(self, key: str) -> None:
        cap = self.capacity
        with self._cond:
            mine = self._waiting.get(key)
            if mine is not None and len(mine) >= cap.per_client_queue:
                raise Busy(f"You already have {len(mine) + self._running.get(key, 0)} questions in progress; "
                           "please wait for their answers. / 您已有问题在处理中，请稍候。")
            waiting = sum(len(q) for q in self._waiting.values())
            est = self._estimate_locked(key)
            if waiting >= cap.max_waiting or est > cap.max_wait:
                raise Busy(self._busy_message(max(est - cap.max_wait, self._service)))
            ticket = _Ticket(key, next(self._seq))
            self._waiting.setdefault(key, deque()).append(ticket)
            self._dispatch_locked()
            deadline = self._clock() + cap.max_wait
            while not ticket.granted:
                left = deadline - self._clock()
                if left <= 0:
                    self._drop_locked(ticket)
                    raise Busy(self._busy_message(self._estimate_locked(key) or self._service))
                self._cond.wait(timeout=min(left, 1.0))

    def _leave(self, key: str, seconds: float) -> None:
        with self._cond:
            n = self._running.get(key, 0) - 1
            if n > 0:
                self._running[key] = n
            else:
                self._running.pop(key, None)
            self._service = 0.8 * self._service + 0.2 * max(seconds, 0.0)
            self._dispatch_locked()

    def _drop_locked(self, ticket: _Ticket) -> None:
        q = self._waiting.get(ticket.key)
        if q is not None:
            try:
                q.remove(ticket)
            except ValueError:
                pass
            if not q:
                del self._waiting[ticket.key]

    def _dispatch_locked(self) -> None:
        """Give free workers to waiting addresses that have nothing running, least recently served first."""
        while sum(self._running.values()) < self.capacity.workers:
            ready = [k for k, q in self._waiting.items() if q and not self._running.get(k)]
            if not ready:
                return
            key = min(ready, key=lambda k: (self._last_served.get(k, -math.inf), self._waiting[k][0].n))
            q = self._waiting[key]
            ticket = q.popleft()
            if not q:
                del self._waiting[key]
            ticket.granted = True
            self._running[key] = self._running.get(key, 0) + 1
            self._last_served[key] = self._clock()
            self._last_served.move_to_end(key)
            while len(self._last_served) > self._max_clients:
                self._last_served.popitem(last=False)
            self._cond.notify_all()

    def _busy_message(self, retry: float) -> str:
        secs = max(1, math.ceil(retry))
        return (f"The server is busy answering other questions; please try again in {secs} s "
                f"(nobody waits more than {self.capacity.max_wait:g} s). / 服务器繁忙，请 {secs} 秒后再试。")
