"""A Microsoft Graph client that treats the service the way Microsoft asks: ``Retry-After`` on
429/503/504 (shared by every thread of the client, like rclone's pacer), capped exponential backoff
with jitter otherwise, ``@odata.nextLink`` paging, ``$batch`` of at most 20 with per-request
retries, a ``client-request-id`` on every call, typed errors with the ``request-id``."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import requests

from ..errors import TenantmoveError
from ..redact import redact
from .http import USER_AGENT, VerifyingSession
from .pacing import Pacer

log = logging.getLogger("tenantmove.graph")

GLOBAL_GRAPH_URL = "https://graph.microsoft.com/v1.0"
RETRY_STATUSES = {429, 503, 504}          # retried for every method: the request was not processed
TRANSIENT_STATUSES = {500, 502}           # retried only for idempotent requests
IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
BATCH_LIMIT = 20


def path(*segments: str) -> str:
    """A Graph path from segments, each percent-encoded (a guest's ``#EXT#`` UPN, a ``%`` or a ``/`` in a
    value must not change the path's meaning). Build every path that holds data with it."""
    return "/".join(quote(str(s), safe="@$") for s in segments)


class TokenSource(Protocol):
    def token(self, force_refresh: bool = False) -> str: ...


class GraphError(TenantmoveError):
    """A Graph call failed; carries what support needs to find it."""

    def __init__(self, status: int | None, code: str, message: str, *, method: str = "", url: str = "",
                 request_id: str | None = None, client_request_id: str | None = None, hint: str = "",
                 location: str | None = None) -> None:
        self.status, self.code, self.graph_message = status, code, message
        self.method, self.url = method, url
        self.location = location  # where the service says to go instead (a 410's fresh delta enumeration)
        self.request_id, self.client_request_id = request_id, client_request_id
        ids = f" (request-id {request_id}, client-request-id {client_request_id})" if request_id else (
            f" (client-request-id {client_request_id})" if client_request_id else "")
        text = f"{method} {url} -> {status or 'no answer'} {code}: {message}{ids}"
        super().__init__(text, hint=hint)


class GraphAuthError(GraphError):
    """401/403: the token is invalid, or lacks a permission."""


class GraphNotFound(GraphError):
    """404."""


class GraphThrottled(GraphError):
    """Still throttled (429/503/504) after every retry."""


class GraphConnectionError(GraphError):
    """The connection failed or dropped and retries did not help."""


def error_from_response(resp: requests.Response, method: str, url: str) -> GraphError:
    code, message = "unknown", resp.reason or ""
    try:
        body = resp.json()
        err = body.get("error", {}) if isinstance(body, dict) else {}
        if isinstance(err, dict) and err:
            code, message = err.get("code", code), err.get("message", message)
        elif isinstance(body, dict) and isinstance(body.get("odata.error"), dict):  # SharePoint's REST API
            sp = body["odata.error"]
            code, message = str(sp.get("code", code)), str((sp.get("message") or {}).get("value") or message)
        elif isinstance(body, dict) and body.get("error_description"):
            message = str(body["error_description"])
    except ValueError:
        message = resp.text[:200]
    return error_from_parts(resp.status_code, code, message, dict(resp.headers), method, url)


def error_from_parts(status: int, code: str, message: str, headers: dict[str, str], method: str,
                     url: str) -> GraphError:
    lower = {k.lower(): v for k, v in headers.items()}
    kwargs = dict(method=method, url=redact(url), request_id=lower.get("request-id"),
                  client_request_id=lower.get("client-request-id"), location=lower.get("location"))
    if status in (401, 403):
        hint = ("grant the app the Graph permission this call needs and give admin consent"
                if status == 403 else "sign in again; check the tenant and the app registration")
        return GraphAuthError(status, code, message, hint=hint, **kwargs)
    if status == 404:
        return GraphNotFound(status, code, message, **kwargs)
    if status in RETRY_STATUSES:
        return GraphThrottled(status, code, message, hint="the service kept throttling; rerun later "
                              "(the ledger resumes where it stopped) or lower the concurrency", **kwargs)
    return GraphError(status, code, message, **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryPolicy:
    max_attempts: int = 7          # first try included
    max_told_attempts: int = 30    # when the service says when to come back (Retry-After), it is obeyed longer
    base: float = 0.5              # seconds; doubled each attempt
    cap: float = 30.0              # longest backoff without Retry-After
    max_retry_after: float = 300.0  # a longer Retry-After is an error, not a sleep

    def may_retry(self, attempt: int, told: bool) -> bool:
        """After ``attempt`` tries, may another follow? A throttled request the service gave a ``Retry-After``
        is the service asking for patience, not failing: a storm of them is waited out (up to
        ``max_told_attempts``); failures that say nothing get ``max_attempts``."""
        return attempt < (self.max_told_attempts if told else self.max_attempts)

    def backoff(self, attempt: int, rnd: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return rnd.uniform(0, min(self.cap, self.base * (2 ** attempt)))


@dataclass
class BatchRequest:
    id: str
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] | None = None
    depends_on: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        if self.body is not None:
            out["body"] = self.body
            out["headers"] = {"Content-Type": "application/json", **(self.headers or {})}
        elif self.headers:
            out["headers"] = self.headers
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        return out


@dataclass
class BatchResponse:
    id: str
    status: int
    headers: dict[str, str]
    body: Any
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self, method: str = "", url: str = "") -> GraphError:
        err = (self.body or {}).get("error", {}) if isinstance(self.body, dict) else {}
        return error_from_parts(self.status, err.get("code", "unknown"), err.get("message", ""), self.headers,
                                method, url)


TRANSIENT_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class Decision:
    """What to do after one attempt: ``return`` the response, ``refresh`` the token and send again, ``retry``
    after ``delay`` seconds (``hold``: every thread of the client waits too, the service said how long),
    or ``fail``."""

    action: str
    delay: float = 0.0
    hold: bool = False
    hint: str = ""


def decide(status: int | None, headers: Any, attempt: int, safe: bool, policy: RetryPolicy, *,
           jitter: float = 0.5, may_refresh: bool = False,
           failure: BaseException | None = None) -> Decision:
    """The retry rule, pure: after ``attempt`` tries of a request (``safe``: sending it again cannot do it
    twice), answered with ``status`` and ``headers`` (None: no answer, ``failure`` says why). ``jitter`` in
    [0, 1) spreads the backoff. 429/503/504 are retried for every method (the request was not processed),
    500/502 and a lost connection only for a safe one; a ``Retry-After`` is obeyed longer than silence."""
    backoff = jitter * min(policy.cap, policy.base * (2 ** attempt))
    if status is None:
        transient = isinstance(failure, TRANSIENT_FAILURES)
        if transient and safe and policy.may_retry(attempt, told=False):
            return Decision("retry", backoff)
        hint = ("check the network, or that the sandbox is running" if transient else
                "the request could not be completed (see the reason); this is not a passing fault, so it was "
                "not sent again")
        return Decision("fail", hint=hint)
    if status < 400:
        return Decision("return")
    if status == 401 and may_refresh:
        return Decision("refresh")
    retryable = status in RETRY_STATUSES or (status in TRANSIENT_STATUSES and safe)
    if not retryable:
        return Decision("fail")
    wait = parse_retry_after(headers.get("Retry-After"))
    told = wait is not None and status in RETRY_STATUSES
    if not policy.may_retry(attempt, told):
        return Decision("fail")
    if wait is not None and wait > policy.max_retry_after:
        return Decision("fail")
    return Decision("retry", wait, hold=True) if wait is not None else Decision("retry", backoff)


MOST_UNITS = 5  # the most one Graph request costs in SharePoint's resource units (a permission call)
HEADROOM = 0.2  # SharePoint's RateLimit headers come from 80 % of an app's budget on: the last fifth is what is seen


def units_reserve(at_once: int) -> int:
    """The resource units a client keeps in hand when SharePoint's ``RateLimit-Remaining`` says how many are left:
    what the requests that may be in flight together (``at_once``, in every process of the app) can cost. When one
    answer says that few are left, every other request still in flight was sent on an earlier answer, and fits in
    them; each client then waits for the window to reset, so the budget is never over-asked."""
    return max(8, MOST_UNITS * at_once)


class GraphClient:
    """One client per tenant. Safe to share between threads (each thread gets its own session)."""

    def __init__(self, tokens: TokenSource, base_url: str = GLOBAL_GRAPH_URL, *, verify: str | bool = True,
                 timeout: float = 60.0, retry: RetryPolicy | None = None, name: str = "graph",
                 sleep: Callable[[float], None] = time.sleep, pool_size: int = 16, agent: str = USER_AGENT,
                 pacer: Pacer | None = None) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.name = name
        self._sleep = sleep
        self._pool_size = pool_size
        self.agent = agent
        self._local = threading.local()
        self._lock = threading.Lock()
        self._not_before = 0.0  # shared pacer: nobody sends before this (monotonic) time
        self._rnd = random.Random()
        self.stats = {"requests": 0, "retries": 0, "throttled": 0, "token_refreshes": 0, "failures": 0, "paced": 0}
        self.rate_reserve = units_reserve(1)  # resource units kept in hand when SharePoint says how many are left
        self.pacer = pacer  # a service that throttles without Retry-After (OneNote): the client's own pace

    # --- plumbing --------------------------------------------------------------------------------
    @property
    def session(self) -> VerifyingSession:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = VerifyingSession(self.verify, pool_size=self._pool_size, agent=self.agent)
            self._local.session = sess
        return sess

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _url(self, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _pace(self) -> None:
        with self._lock:
            wait = self._not_before - time.monotonic()
        if wait > 0:
            self._sleep(wait)

    def _hold_all(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def _heed_rate_limit(self, headers: Any) -> None:
        """SharePoint's ``RateLimit-*`` headers (sent from 80 % of the budget on): with little left, every
        thread of this client waits for the window to reset instead of running into 429s."""
        remaining = headers.get("RateLimit-Remaining")
        reset = headers.get("RateLimit-Reset")
        if remaining is None or reset is None:
            return
        try:
            left, wait = int(remaining), float(reset)
        except ValueError:
            return
        if left <= self.rate_reserve and wait > 0:
            self._count("paced")
            self._hold_all(wait)

    # --- requests --------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                data: Any = None, headers: dict[str, str] | None = None, stream: bool = False,
                idempotent: bool | None = None, authenticated: bool = True,
                expected: tuple[int, ...] = (), allow_redirects: bool = True) -> requests.Response:
        """Send one request with retries; return the response (2xx/3xx) or raise a :class:`GraphError`.
        Statuses in ``expected`` (a lookup's 404) still raise, but are not logged as failures. Whether to
        retry, and how long to wait, is :func:`decide`'s; this loop only carries it out."""
        method = method.upper()
        url = self._url(path)
        safe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        refreshed = False
        attempt = 0
        while True:
            self._pace()
            crid = str(uuid.uuid4())
            hdrs = {"client-request-id": crid, "return-client-request-id": "true", **(headers or {})}
            if authenticated:
                hdrs["Authorization"] = f"Bearer {self.tokens.token(force_refresh=False)}"
            started = time.monotonic()
            self._count("requests")
            resp: requests.Response | None = None
            failure: requests.RequestException | None = None
            if self.pacer is not None:
                self.pacer.acquire()
            try:
                resp = self.session.request(method, url, params=params, json=json, data=data, headers=hdrs,
                                            stream=stream, timeout=self.timeout, allow_redirects=allow_redirects)
            except requests.RequestException as exc:  # every failure of requests becomes a GraphError below
                failure = exc
            finally:  # the pacer's slot is given back whatever happened, or one slot would be lost for good
                if self.pacer is not None:
                    self.pacer.release(resp.status_code if resp is not None else None)
            attempt += 1
            if resp is None:
                assert failure is not None
                step = decide(None, {}, attempt, safe, self.retry, jitter=self._rnd.random(),
                              failure=failure)
                if step.action == "fail":
                    self._count("failures")
                    log.warning("%s %s: no answer after %d attempt(s): %s (client-request-id %s)",
                                method, redact(url), attempt, type(failure).__name__, crid)
                    raise GraphConnectionError(None, type(failure).__name__, redact(str(failure))[:300],
                                               method=method, url=redact(url), client_request_id=crid,
                                               hint=step.hint) from failure
                log.info("%s %s: %s, retry %d in %.2fs", method, redact(url), type(failure).__name__, attempt,
                         step.delay)
                self._count("retries")
                self._sleep(step.delay)
                continue
            status = resp.status_code
            log.debug("%s %s -> %d in %.0f ms (request-id %s)", method, redact(url), status,
                      (time.monotonic() - started) * 1000, resp.headers.get("request-id"))
            self._heed_rate_limit(resp.headers)
            step = decide(status, resp.headers, attempt, safe, self.retry, jitter=self._rnd.random(),
                          may_refresh=authenticated and not refreshed)
            if step.action == "return":
                return resp
            if step.action == "refresh":
                resp.close()
                refreshed = True
                attempt -= 1  # a new token is not a retry of the same failure
                self._count("token_refreshes")
                self.tokens.token(force_refresh=True)
                continue
            if step.action == "retry":
                if status == 429:
                    self._count("throttled")
                if step.hold:
                    self._hold_all(step.delay)
                log.info("%s %s -> %d, retry %d in %.2fs (request-id %s)", method, redact(url), status,
                         attempt, step.delay, resp.headers.get("request-id"))
                self._count("retries")
                resp.close()
                self._sleep(step.delay)
                continue
            error = error_from_response(resp, method, url)
            if status in expected:
                log.debug("%s %s -> %d (expected)", method, redact(url), status)
                raise error
            self._count("failures")
            log.warning("Graph call failed: %s", error.one_line())
            raise error

    def get(self, path: str, params: dict[str, Any] | None = None, *, expected: tuple[int, ...] = ()) -> dict[str, Any]:
        return self.request("GET", path, params=params, expected=expected).json()

    def post(self, path: str, json: Any = None, *, idempotent: bool | None = None) -> dict[str, Any]:
        resp = self.request("POST", path, json=json, idempotent=idempotent)
        return resp.json() if resp.content else {}

    def patch(self, path: str, json: Any, *, idempotent: bool = True) -> dict[str, Any]:
        """A PATCH sets values: sending it twice leaves the same state, so by default it is retried after a
        transient 500/502 or a dropped connection like a GET (pass ``idempotent=False`` for one that is not)."""
        resp = self.request("PATCH", path, json=json, idempotent=idempotent)
        return resp.json() if resp.content else {}

    def delete(self, path: str, *, expected: tuple[int, ...] = ()) -> None:
        self.request("DELETE", path, expected=expected)

    # --- paging ----------------------------------------------------------------------------------
    def iter_pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` list, following ``@odata.nextLink`` to the end."""
        body = self.get(path, params)
        while True:
            yield body.get("value", [])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            body = self.get(next_link)  # the link carries every query option already

    def iter_all(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(path, params):
            yield from page

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self.iter_all(path, params))

    # --- $batch ----------------------------------------------------------------------------------
    def batch(self, items: list[BatchRequest]) -> dict[str, BatchResponse]:
        """Send ``items`` in ``$batch`` calls of at most 20 (a ``dependsOn`` chain stays in one call)
        and return every response by id. Throttled sub-requests are retried alone after their own
        ``Retry-After``; other failures are returned for the caller to judge."""
        by_id: dict[str, BatchRequest] = {}
        for item in items:
            if item.id in by_id:
                raise ValueError(f"batch request id {item.id!r} is used twice")
            by_id[item.id] = item
        results: dict[str, BatchResponse] = {}
        for chunk in _chunks(items):
            results.update(self._batch_chunk(chunk))
        return results

    def _batch_chunk(self, chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
        results: dict[str, BatchResponse] = {}
        todo = list(chunk)
        attempts: dict[str, int] = {r.id: 0 for r in chunk}
        while todo:
            payload = []
            for req in todo:
                body = req.as_json()
                live_deps = [d for d in req.depends_on if d not in results]  # done ones need not be waited for
                if live_deps:
                    body["dependsOn"] = live_deps
                else:
                    body.pop("dependsOn", None)
                payload.append(body)
                attempts[req.id] += 1
            safe = all(r.method.upper() in IDEMPOTENT_METHODS for r in todo)
            resp = self.request("POST", "$batch", json={"requests": payload}, idempotent=safe).json()
            answered = {str(r["id"]): r for r in resp.get("responses", [])}
            retry: list[BatchRequest] = []
            waits: list[float] = []
            for req in todo:
                sub = answered.get(req.id)
                if sub is None:
                    raise GraphError(200, "BatchResponseMissing", f"$batch gave no response for id {req.id!r}",
                                     method="POST", url=self._url("$batch"))
                headers = {str(k): str(v) for k, v in (sub.get("headers") or {}).items()}
                status = int(sub.get("status", 0))
                item = BatchResponse(req.id, status, headers, sub.get("body"), attempts[req.id])
                throttled = status in RETRY_STATUSES
                blocked = status == 424 and any(
                    int(answered.get(d, {}).get("status", 0)) in RETRY_STATUSES for d in req.depends_on)
                wait = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
                if (throttled or blocked) and self.retry.may_retry(attempts[req.id], wait is not None):
                    if throttled:
                        self._count("throttled" if status == 429 else "retries")
                        waits.append(wait if wait is not None else self.retry.backoff(attempts[req.id], self._rnd))
                    retry.append(req)
                    continue
                results[req.id] = item
            if retry:
                delay = min(max(waits or [0.0]), self.retry.max_retry_after)
                log.info("$batch: %d sub-request(s) throttled, retrying them alone in %.2fs", len(retry), delay)
                self._count("retries", len(retry))
                self._sleep(delay)
            todo = retry
        return results


def batch_shape(items: list[BatchRequest]) -> str:
    """``parallel`` (no request depends on another) or ``sequential`` (one chain through every request):
    the only two shapes Graph accepts in one ``$batch``; anything else raises ValueError."""
    if not any(i.depends_on for i in items):
        return "parallel"
    ids = {i.id for i in items}
    heads = [i for i in items if not i.depends_on]
    parents = [d for i in items for d in i.depends_on]
    if len(heads) == 1 and all(len(i.depends_on) == 1 for i in items if i.depends_on) \
            and len(set(parents)) == len(parents) and set(parents) <= ids:
        return "sequential"
    raise ValueError("a $batch must be fully parallel or one dependsOn chain through every request")


def _chunks(items: list[BatchRequest]) -> list[list[BatchRequest]]:
    """Pack requests into ``$batch`` calls of at most 20 that Graph accepts: each ``dependsOn`` chain in a
    call of its own (fully sequential), the independent requests together (fully parallel)."""
    parent: dict[str, str] = {i.id: i.id for i in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for item in items:
        for dep in item.depends_on:
            if dep not in parent:
                raise ValueError(f"batch request {item.id!r} depends on unknown id {dep!r}")
            parent[find(item.id)] = find(dep)
    groups: dict[str, list[BatchRequest]] = {}
    for item in items:
        groups.setdefault(find(item.id), []).append(item)
    chunks: list[list[BatchRequest]] = []
    single: list[BatchRequest] = []
    for group in groups.values():
        if len(group) == 1:
            single.append(group[0])
            continue
        if len(group) > BATCH_LIMIT:
            raise ValueError(f"a dependsOn chain of {len(group)} requests does not fit one $batch of {BATCH_LIMIT}")
        batch_shape(group)  # a tree or a fork cannot be sent as one batch
        chunks.append(group)
    chunks += [single[i:i + BATCH_LIMIT] for i in range(0, len(single), BATCH_LIMIT)]
    return chunks
