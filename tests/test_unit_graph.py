"""Pure logic of the Graph client: retry timing, batch packing, errors (no network)."""

import email.utils
import random
import time

import pytest
import requests

from tenantmove.services.graph import (
    BatchRequest,
    GraphClient,
    GraphConnectionError,
    RetryPolicy,
    _chunks,
    batch_shape,
    decide,
    error_from_parts,
    parse_retry_after,
)
from tenantmove.services.pacing import Budget, Pacer


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    rnd = random.Random(1)
    delays = [policy.backoff(attempt, rnd) for attempt in range(1, 12) for _ in range(20)]
    assert max(delays) <= 8.0
    assert len({round(d, 3) for d in delays}) > 50  # jitter: not the same value again and again


def test_batches_hold_at_most_twenty_and_are_fully_parallel_or_fully_sequential() -> None:
    items = [BatchRequest(str(i), "GET", f"/users/{i}") for i in range(45)]
    items[30].depends_on = ["19"]  # a chain across the 20 boundary
    items[31].depends_on = ["30"]
    chunks = _chunks(items)
    assert all(len(c) <= 20 for c in chunks)
    assert sorted(r.id for c in chunks for r in c) == sorted(i.id for i in items)
    holder = next(c for c in chunks if any(r.id == "19" for r in c))
    assert {r.id for r in holder} == {"19", "30", "31"} and batch_shape(holder) == "sequential"
    assert all(batch_shape(c) == "parallel" for c in chunks if c is not holder)


def test_a_fork_cannot_be_one_batch() -> None:
    fork = [BatchRequest("a", "GET", "/a"), BatchRequest("b", "GET", "/b", depends_on=["a"]),
            BatchRequest("c", "GET", "/c", depends_on=["a"])]
    with pytest.raises(ValueError, match="fully parallel or one dependsOn chain"):
        _chunks(fork)


def test_chain_longer_than_a_batch_is_refused() -> None:
    items = [BatchRequest("0", "GET", "/a")] + [BatchRequest(str(i), "GET", "/a", depends_on=[str(i - 1)])
                                                  for i in range(1, 21)]
    with pytest.raises(ValueError, match="does not fit"):
        _chunks(items)


def test_error_types_carry_ids() -> None:
    err = error_from_parts(404, "Request_ResourceNotFound", "nope", {"request-id": "rid-1", "client-request-id": "c-1"},
                           "GET", "https://x/v1.0/users/1")
    assert type(err).__name__ == "GraphNotFound"
    assert err.request_id == "rid-1" and err.client_request_id == "c-1"
    assert "rid-1" in str(err)
    denied = error_from_parts(403, "Authorization_RequestDenied", "Insufficient privileges", {}, "GET", "u")
    assert "permission" in denied.hint


def test_a_storm_that_says_when_is_waited_out_and_silence_is_not() -> None:
    """A third of requests throttled makes seven 429s in a row likely somewhere in a big run; with a
    Retry-After the client keeps obeying, without one it gives up after ``max_attempts``."""
    policy = RetryPolicy()
    assert policy.may_retry(policy.max_attempts - 1, told=False)
    assert not policy.may_retry(policy.max_attempts, told=False)
    assert policy.may_retry(policy.max_attempts, told=True)
    assert not policy.may_retry(policy.max_told_attempts, told=True)
    assert 0.33 ** policy.max_told_attempts * 100_000 < 1e-6  # a 100,000-request run under a 33 % storm


class _Tokens:
    def token(self, force_refresh: bool = False) -> str:
        return "t"


class _Session:
    """Raises each exception of ``failures`` in turn, then answers 200."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = list(failures)
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        resp = requests.Response()
        resp.status_code, resp._content = 200, b"{}"
        return resp


def _client(failures: list[Exception]) -> tuple[GraphClient, _Session]:
    client = GraphClient(_Tokens(), "https://graph.test/v1.0", sleep=lambda s: None,
                         pacer=Pacer([Budget(1000, 1.0)], 1))
    session = _Session(failures)
    client._local.session = session
    return client, session


@pytest.mark.parametrize("failure", [requests.TooManyRedirects("30 redirects"),
                                     requests.exceptions.InvalidURL("bad url")])
def test_a_request_failure_that_is_no_passing_fault_fails_once_and_frees_the_pacer_slot(failure: Exception) -> None:
    client, session = _client([failure])
    with pytest.raises(GraphConnectionError, match=type(failure).__name__):
        client.get("users")
    assert session.calls == 1  # not sent again
    assert client.get("users") == {}  # the pacer's only slot was given back: this call does not block
    assert client.pacer is not None and client.pacer.flying == 0


def test_a_dropped_transfer_is_retried_for_a_safe_request_and_not_for_an_unsafe_one() -> None:
    client, session = _client([requests.exceptions.ChunkedEncodingError("cut off")])
    assert client.get("users") == {} and session.calls == 2
    client, session = _client([requests.exceptions.ChunkedEncodingError("cut off")])
    with pytest.raises(GraphConnectionError, match="ChunkedEncodingError"):
        client.post("users", {"a": 1})
    assert session.calls == 1 and client.get("users") == {}


def test_decide_is_the_whole_retry_rule() -> None:
    policy = RetryPolicy()
    assert decide(200, {}, 1, True, policy).action == "return"
    assert decide(401, {}, 1, True, policy, may_refresh=True).action == "refresh"
    assert decide(401, {}, 1, True, policy, may_refresh=False).action == "fail"
    told = decide(429, {"Retry-After": "3"}, 1, False, policy)
    assert (told.action, told.delay, told.hold) == ("retry", 3.0, True)
    assert decide(429, {"Retry-After": "3"}, policy.max_attempts, False, policy).action == "retry"
    assert decide(429, {}, policy.max_attempts, False, policy).action == "fail"
    assert decide(429, {"Retry-After": "3600"}, 1, True, policy).action == "fail"  # longer than we sleep
    assert decide(500, {}, 1, True, policy).action == "retry"
    assert decide(500, {}, 1, False, policy).action == "fail"  # a POST may have been done
    assert decide(400, {}, 1, True, policy).action == "fail"
    backoff = decide(503, {}, 3, True, policy, jitter=0.5)
    assert backoff.action == "retry" and not backoff.hold and backoff.delay == 0.5 * policy.base * 8
    assert decide(None, {}, 1, True, policy, failure=requests.ConnectionError()).action == "retry"
    assert decide(None, {}, 1, False, policy, failure=requests.ConnectionError()).action == "fail"
    assert decide(None, {}, 1, True, policy, failure=requests.TooManyRedirects()).action == "fail"
