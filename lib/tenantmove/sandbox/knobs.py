"""Run-time knobs of the sandbox: latency, throttling, transient failures, dropped connections,
token lifetime. Changed at start (command line) or later through ``PATCH /_sandbox/knobs``."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Fault:
    """What the sandbox does instead of serving a request."""

    status: int | str  # 429, 500, 502, 503, 504, "drop", or "lost" (upload URLs: the fragment is kept, the answer lost)
    retry_after: float | None = None
    message: str | None = None  # a scripted fault's own error message (e.g. a 400 the service gives)


@dataclass
class Knobs:
    latency_ms: float = 0.0           # added to every Graph request
    throttle_rate: float = 0.0        # Graph requests per second per tenant before 429 (0: no limit)
    throttle_probability: float = 0.0  # chance of a 429 on any Graph request or $batch sub-request
    retry_after: float = 1.0          # seconds in Retry-After on 429/503
    error_probability: float = 0.0    # chance of a transient 503 (with Retry-After) or 500
    drop_probability: float = 0.0     # chance that the connection is closed without an answer
    token_lifetime: int = 3600        # seconds an access token is valid
    device_code_interval: int = 1     # seconds a device-code client is asked to wait between polls
    page_size_default: int = 100      # Graph's default page size for users and groups
    force_delete_seconds: float = 2.0  # how long an asynchronous forceDelete takes
    ru_per_minute: int = 0            # SharePoint resource units per app per tenant per window (0: by licences)
    ru_window_seconds: float = 60.0   # the resource-unit window (60 in the service; shorter keeps the rate)
    onedrive_provision_seconds: float = 3.0  # Request-SPOPersonalSite until the OneDrive exists
    upload_session_seconds: float = 900.0    # an upload session expires after this long without a fragment
    drive_page_size: int = 200        # children and delta page size
    import_session_seconds: float = 3600.0  # a mailbox import session's importUrl expires after this long
    photo_max_bytes: int = 4 * 1024 * 1024  # the largest profile photo a PUT may carry (Graph's 4 MB a request)
    # the organisations whose cross-tenant access settings block invitations from the new tenant (domain names)
    invitations_blocked: list[str] = field(default_factory=list)
    exchange_requests: int = 10_000   # requests per app and mailbox per 10 minutes (429 with Retry-After beyond)
    exchange_upload_bytes: int = 150_000_000  # bytes imported per app and mailbox per 5 minutes
    exchange_window_scale: float = 1.0  # those windows' length as a share of the real 10 and 5 minutes
    mailbox_latency_ms: float = 0.0   # Exchange's own time per mailbox request (inside its 4-at-once window)
    onenote_per_minute: int = 120     # OneNote requests per app and user per minute (0: no limit); 429 without Retry-After
    onenote_per_hour: int = 400       # ... and per hour
    onenote_concurrent: int = 5       # ... and at once
    onenote_window_scale: float = 1.0  # the OneNote windows' length as a share of a real minute and hour
    onenote_section_pages: int = 5000  # pages a section holds before a new one answers 507
    ca_requests_per_second: float = 1.0  # conditional access per tenant (0: no limit); 429 with Retry-After beyond
    eop_unknown_domain: str = "reject"  # what EOP answers mail for a domain no tenant holds: reject (550) | defer (451)
    holding_mx_answer: str = "defer"  # the admin's holding mail server: defer (451, as it should) | reject (550)
    teams_rate_scale: float = 1.0     # Teams' documented per-second limits, scaled (0: no limit)
    # apps whose approval for Teams' protected APIs (reading messages app-only) is taken back
    teams_protected_denied: list[str] = field(default_factory=list)
    group_site_seconds: float = 3.0   # a new Microsoft 365 group's team site (and a beta-created site) until it answers
    # Deterministic faults for tests: [{"match": "regex on path", "status": 429|500|503|504|"drop" (or any 4xx with
    #   "message", e.g. a refusal the service gives), "retry_after": 1.5, "count": 1, "in_batch": false,
    #   "method": "POST"}]
    faults: list[dict[str, Any]] = field(default_factory=list)

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(key)
            current = getattr(self, key)
            if key == "faults":
                setattr(self, key, [dict(f) for f in value])
            else:
                setattr(self, key, type(current)(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Governor:
    """Decides, per request, whether the knobs make it fail, and how."""

    def __init__(self, knobs: Knobs, rnd: random.Random | None = None) -> None:
        self.knobs = knobs
        self.lock = threading.Lock()
        self.rnd = rnd or random.Random()
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, last time)

    def update(self, changes: dict[str, Any]) -> None:
        with self.lock:
            self.knobs.update(changes)

    def _scripted(self, path: str, in_batch: bool, method: str = "GET") -> Fault | None:
        for fault in self.knobs.faults:
            if fault.get("count", 1) <= 0 or bool(fault.get("in_batch", False)) != in_batch:
                continue
            if fault.get("method") and str(fault["method"]).upper() != method.upper():
                continue
            if re.search(fault.get("match", ""), path):
                fault["count"] = fault.get("count", 1) - 1
                return Fault(fault["status"], fault.get("retry_after"), fault.get("message"))
        return None

    def _rate_limited(self, tenant_id: str) -> bool:
        rate = self.knobs.throttle_rate
        if rate <= 0:
            return False
        now = time.monotonic()
        tokens, last = self._buckets.get(tenant_id, (rate, now))
        tokens = min(rate, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[tenant_id] = (tokens, now)
            return True
        self._buckets[tenant_id] = (tokens - 1, now)
        return False

    def decide(self, path: str, tenant_id: str, in_batch: bool = False, method: str = "GET") -> Fault | None:
        with self.lock:
            k = self.knobs
            fault = self._scripted(path, in_batch, method)
            if fault:
                return fault
            if not in_batch and k.drop_probability and self.rnd.random() < k.drop_probability:
                return Fault("drop")
            if self._rate_limited(tenant_id) or (k.throttle_probability and
                                                  self.rnd.random() < k.throttle_probability):
                return Fault(429, k.retry_after)
            if k.error_probability and self.rnd.random() < k.error_probability:
                return Fault(503, k.retry_after) if self.rnd.random() < 0.5 else Fault(500)
        return None

    def latency(self) -> float:
        return self.knobs.latency_ms / 1000.0
