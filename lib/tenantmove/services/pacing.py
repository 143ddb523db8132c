"""A client's own pace, for services that throttle without saying when to come back (OneNote answers 429 with
no ``Retry-After``): stay under each (requests, window) budget and a cap on requests at once, counted on the
client's side. A 429 all the same (someone else spent the budget, or the service counts differently) makes the
pacer slower for a while: each budget shrinks by a quarter, and grows back by a twentieth of itself per
shortest window without one."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    requests: int
    seconds: float


class Pacer:
    def __init__(self, budgets: list[Budget], concurrent: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.budgets = list(budgets)
        self.limits = [b.requests for b in budgets]  # current limits: lowered after a 429, then regained
        self.clock, self.sleep = clock, sleep
        self.slots = threading.BoundedSemaphore(concurrent)
        self.lock = threading.Lock()
        self.sent: deque[float] = deque()  # when each answer came
        self.flying = 0  # sent, not answered yet
        self.waited = 0.0  # seconds spent waiting for the budget
        self.throttled = 0
        self._calm_since = clock()

    def acquire(self) -> None:
        """Block until one more request fits every budget and a slot is free. A request counts from the moment it
        leaves until a window after its answer came: the service saw it somewhere in between, and requests sent
        together do not arrive in the order they left."""
        self.slots.acquire()
        while True:
            with self.lock:
                now = self.clock()
                self._regain(now)
                longest = max(b.seconds for b in self.budgets)
                while self.sent and now - self.sent[0] >= longest:
                    self.sent.popleft()
                wait = 0.0
                for budget, limit in zip(self.budgets, self.limits, strict=True):
                    inside = [t for t in self.sent if now - t < budget.seconds]
                    over = len(inside) + self.flying - limit
                    if over >= 0:
                        wait = max(wait, inside[over] + budget.seconds - now if over < len(inside) else 0.05)
                if wait <= 0:
                    self.flying += 1
                    return
                self.waited += wait
            self.sleep(wait)

    def release(self, status: int | None) -> None:
        """After the answer (``status``; None when none came): it counts from now; a 429 lowers the limits."""
        with self.lock:
            self.flying -= 1
            self.sent.append(self.clock())
            if status == 429:
                self.throttled += 1
                self.limits = [max(1, limit - max(1, limit // 4)) for limit in self.limits]
                self._calm_since = self.clock()
        self.slots.release()

    def _regain(self, now: float) -> None:
        shortest = min(b.seconds for b in self.budgets)
        if now - self._calm_since >= shortest:
            self.limits = [min(b.requests, limit + max(1, b.requests // 20)) for b, limit in zip(self.budgets, self.limits, strict=True)]
            self._calm_since = now


class ByteWindow:
    """At most ``limit`` bytes in any ``seconds`` (Exchange: 150 MB uploaded per 5 minutes per mailbox). As with
    :class:`Pacer`, a piece counts from when it leaves until a window after it was answered (:meth:`done`). One
    piece larger than the whole limit goes alone, into an empty window."""

    def __init__(self, limit: int, seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit, self.seconds, self.clock, self.sleep = limit, seconds, clock, sleep
        self.lock = threading.Lock()
        self.sent: list[list[float]] = []  # [when answered (inf while in flight), bytes]
        self.waited = 0.0

    def take(self, size: int) -> list[float]:
        """Wait until ``size`` more bytes fit; the entry to hand to :meth:`done`."""
        while True:
            with self.lock:
                now = self.clock()
                self.sent = [e for e in self.sent if now - e[0] < self.seconds]
                used = sum(e[1] for e in self.sent)
                if not self.sent or used + size <= self.limit:
                    entry = [float("inf"), float(size)]
                    self.sent.append(entry)
                    return entry
                need, wait = used + size - self.limit, 0.05
                for at, n in sorted(self.sent):  # the moment enough of the window has left
                    need -= n
                    wait = at + self.seconds - now
                    if need <= 0:
                        break
                wait = wait if wait != float("inf") else 0.05
                self.waited += max(wait, 0.01)
            self.sleep(max(wait, 0.01))

    def done(self, entry: list[float]) -> None:
        with self.lock:
            entry[0] = self.clock()
