"""Pure logic of the Graph client: retry timing, batch packing, errors (no network)."""

import email.utils
import random
import time

import pytest

from tenantmove.services.graph import BatchRequest, RetryPolicy, _chunks, error_from_parts, parse_retry_after


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


def test_batches_hold_at_most_twenty_and_keep_chains_together() -> None:
    items = [BatchRequest(str(i), "GET", f"/users/{i}") for i in range(45)]
    items[30].depends_on = ["19"]  # a chain across the 20 boundary
    chunks = _chunks(items)
    assert all(len(c) <= 20 for c in chunks)
    assert sum(len(c) for c in chunks) == 45
    holder = next(c for c in chunks if any(r.id == "19" for r in c))
    assert any(r.id == "30" for r in holder)


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
