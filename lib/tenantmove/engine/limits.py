"""Concurrency per scope: Exchange allows 4 concurrent requests per mailbox, OneNote 5 per user.
The worker pool bounds the whole; :class:`ScopeLimits` bounds each scope within it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ScopeLimits:
    def __init__(self, per_scope: int) -> None:
        self.per_scope = per_scope
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, scope: str) -> Iterator[None]:
        if self.per_scope <= 0:
            yield
            return
        with self._lock:
            slot = self._slots.setdefault(scope, threading.BoundedSemaphore(self.per_scope))
        with slot:
            yield


def interleave(keys: list[str], scopes: list[str]) -> list[int]:
    """An order that takes one item of each scope in turn, so workers blocked on a busy scope are rare."""
    queues: dict[str, list[int]] = {}
    for i, scope in enumerate(scopes):
        queues.setdefault(scope, []).append(i)
    order: list[int] = []
    lists = list(queues.values())
    depth = max((len(q) for q in lists), default=0)
    for level in range(depth):
        order += [q[level] for q in lists if level < len(q)]
    assert len(order) == len(keys)
    return order
