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
    max_waiting: int = 48
    first_estimate: float = 2.0

    @property
    def max_concurrent(self) -> int:
        """Requests the web framework must let through at once, so that every one reaches the gate
        at once (to wait here, bounded, or be turned away) instead of queueing in front of it."""
        return self.workers + self.max_waiting + 8

    @property
    def threads(self) -> int:
        """Worker threads the web framework needs: a waiting question holds one."""
        return self.max_concurrent + 8


class _Ticket:
    __slots__ = ("key", "n", "granted", "bumped")

    def __init__(self, key: str, n: int) -> None:
        self.key, self.n, self.granted, self.bumped = key, n, False, False


class FairGate:
    """Admission for answers, shared by every thread that serves one. Thread-safe.

    A free worker goes to the waiting address that asked least in the last
    ``usage_window`` seconds (questions let in; ties: served least recently, then first come), never to a
    second question of an address that already has one running. So a newcomer goes
    before someone on their fifth question, and a full queue makes room for a newcomer
    by turning away the heaviest asker's last question. A question is turned away at
    once when its estimated wait exceeds ``max_wait``, and after ``max_wait`` seconds if
    it still has not started: nobody waits longer.
    """

    def __init__(self, capacity: Capacity = Capacity(), clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000, usage_window: float = 60.0) -> None:
        self.capacity = capacity
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._running: dict[str, int] = {}
        self._last_served: OrderedDict[str, float] = OrderedDict()
        self._asked: OrderedDict[str, deque[float]] = OrderedDict()
        self._usage_window = usage_window
        self._max_clients = max_clients
        self._seq = itertools.count()
        self._service = capacity.first_estimate  # moving average of one answer's seconds

    # ----------------------------------------------------------------- state
    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._cond:
            return sum(self._running.values())

    def estimate(self, key: str) -> float:
        """Seconds a new question from ``key`` would wait, from the queue and the timed answers."""
        with self._cond:
            return self._estimate_locked(key)

    def _usage(self, key: str, now: float) -> int:
        times = self._asked.get(key)
        while times and now - times[0] >= self._usage_window:
            times.popleft()
        return len(times) if times else 0

    def _rank(self, key: str, now: float) -> tuple[int, float]:
        return self._usage(key, now), self._last_served.get(key, -math.inf)

    def _estimate_locked(self, key: str) -> float:
        """Waiting questions ranked before a new one from ``key``, in workers' turns of one average answer."""
        now = self._clock()
        used, last = self._rank(key, now)
        mine = (used + 1, last)  # ranked as it will be once this question is let in
        ahead = sum(1 for t in self._waiting if t.key == key or self._rank(t.key, now) <= mine)
        free = max(self.capacity.workers - sum(self._running.values()), 0)
        if ahead < free:
            return 0.0
        return self._service * math.ceil((ahead + 1 - free) / self.capacity.workers)

    def _remember(self, table: OrderedDict, key: str, value: object) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._max_clients:
            table.popitem(last=False)

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

    def enter(self, key: str) -> None:
        """Wait for a worker for ``key`` (blocking); pair with ``leave``. ``slot`` is the context-manager form.

        Raises:
            Busy: as ``slot``.
        """
        self._enter(key)

    def leave(self, key: str, seconds: float) -> None:
        """Give back the worker ``enter`` took; ``seconds`` is how long the answer held it."""
        self._leave(key, seconds)

    def _enter(self, key: str) -> None:
        cap = self.capacity
        with self._cond:
            now = self._clock()
            mine = sum(1 for t in self._waiting if t.key == key)
            if mine >= cap.per_client_queue:
                raise Busy(f"You already have {mine + self._running.get(key, 0)} questions in progress; "
                           "please wait for their answers. / 您已有问题在处理中，请稍候。")
            est = self._estimate_locked(key)
            if est > cap.max_wait:
                raise Busy(self._busy_message(max(est - cap.max_wait, self._service)))
            if len(self._waiting) >= cap.max_waiting and not self._bump_locked(key, now):
                raise Busy(self._busy_message(est or self._service))
            # a question let in counts against its address's rank; one turned away does not, so
            # trying again when told costs nothing
            asked = self._asked.get(key) or deque()
            asked.append(now)
            self._remember(self._asked, key, asked)
            ticket = _Ticket(key, next(self._seq))
            self._waiting.append(ticket)
            self._dispatch_locked()
            deadline = now + cap.max_wait
            while not ticket.granted:
                left = deadline - self._clock()
                if ticket.bumped or left <= 0:
                    if not ticket.bumped:
                        self._waiting.remove(ticket)
                    raise Busy(self._busy_message(self._estimate_locked(key) or self._service))
                self._cond.wait(timeout=min(left, 1.0))

    def _bump_locked(self, key: str, now: float) -> bool:
        """Make room for ``key`` by turning away the last question of a heavier asker, if there is one."""
        mine = self._usage(key, now) + 1  # counting the question asked now
        worst = max(self._waiting, key=lambda t: (self._rank(t.key, now), t.n))
        if self._rank(worst.key, now)[0] <= mine:
            return False
        self._waiting.remove(worst)
        worst.bumped = True
        self._cond.notify_all()
        return True

    def _leave(self, key: str, seconds: float) -> None:
        with self._cond:
            n = self._running.get(key, 0) - 1
            if n > 0:
                self._running[key] = n
            else:
                self._running.pop(key, None)
            self._service = 0.7 * self._service + 0.3 * max(seconds, 0.0)
            self._dispatch_locked()

    def _dispatch_locked(self) -> None:
        """Give free workers to waiting addresses that have nothing running, lowest rank first."""
        now = self._clock()
        while sum(self._running.values()) < self.capacity.workers:
            ready = [t for t in self._waiting if not self._running.get(t.key)]
            if not ready:
                return
            ticket = min(ready, key=lambda t: (self._rank(t.key, now), t.n))
            self._waiting.remove(ticket)
            ticket.granted = True
            self._running[ticket.key] = self._running.get(ticket.key, 0) + 1
            self._remember(self._last_served, ticket.key, now)
            self._cond.notify_all()

    def _busy_message(self, retry: float) -> str:
        secs = max(1, math.ceil(retry))
        return (f"The server is busy answering other questions; please try again in {secs} s "
                f"(nobody waits more than {self.capacity.max_wait:g} s). / 服务器繁忙，请 {secs} 秒后再试。")
