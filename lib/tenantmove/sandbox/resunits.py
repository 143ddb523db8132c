"""SharePoint's throttling model: resource units (RU) per app per tenant per minute.

Costs (Microsoft Graph): 1 for a single-item read, a delta with a token, or a download; 2 for a listing
(children, a delta without a token), a create, update, delete or upload; 5 for a permission call. The
per-minute budget grows with the tenant's licences (1,250 under 1,000; 2,500 to 5,000; 3,750 to 15,000;
5,000 to 50,000; 6,250 above; Microsoft's table, "Avoid getting throttled or blocked in SharePoint Online"). The
same table's 24-hour budgets (1,200,000 to 6,000,000) are not enforced here. Over budget: 429 with ``Retry-After``; at 80 % of the budget and over, every
answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds). Throttled
requests count too. A ``$batch`` is counted request by request."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

TIERS = ((1_000, 1_250), (5_000, 2_500), (15_000, 3_750), (50_000, 5_000))
TOP_TIER = 6_250
WARN_AT = 0.8


def budget_for_licences(licences: int) -> int:
    for below, budget in TIERS:
        if licences < below:
            return budget
    return TOP_TIER


@dataclass
class Verdict:
    allowed: bool
    headers: dict[str, str]


class ResourceUnits:
    """Fixed windows of ``window`` seconds (60 in the service; shorter with the same rate for benchmarks)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[int, float]] = {}  # (tenant, app) -> (used, window start)
        self.spent: dict[str, int] = {}  # tenant -> RU charged (for stats)

    def charge(self, tenant: str, app: str, cost: int, budget: int, window: float) -> Verdict:
        now = time.monotonic()
        with self.lock:
            used, start = self._windows.get((tenant, app), (0, now))
            if now - start >= window:
                used, start = 0, now - ((now - start) % window)
            used += cost
            self._windows[(tenant, app)] = (used, start)
            self.spent[tenant] = self.spent.get(tenant, 0) + cost
            reset = max(0.0, start + window - now)
        allowed = used <= budget
        headers: dict[str, str] = {}
        if used >= WARN_AT * budget:
            headers = {"RateLimit-Limit": str(budget), "RateLimit-Remaining": str(max(0, budget - used)),
                       "RateLimit-Reset": _seconds(reset)}
        if not allowed:
            headers["Retry-After"] = _seconds(reset)
        return Verdict(allowed, headers)


def _seconds(value: float) -> str:
    """Whole seconds as the service sends them; below one second the sandbox keeps a fraction (short windows)."""
    return str(math.ceil(value)) if value >= 1 else f"{max(value, 0.01):.2f}"
