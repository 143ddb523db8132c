"""Pure logic of the Graph client: retry timing, batch packing, errors (no network)."""

import email.utils
import random
import time

import pytest

from tenantmove.services.graph import (
    BatchRequest,
    RetryPolicy,
    _chunks,
    batch_shape,
    error_from_parts,
    parse_retry_after,
)


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
