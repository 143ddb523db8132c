"""The Graph client against the sandbox over real HTTPS sockets: paging, Retry-After, 5xx and
dropped connections, $batch with per-request retries, token refresh, tenant isolation, errors."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import BatchRequest, GraphAuthError, GraphClient, GraphNotFound, RetryPolicy

from .conftest import CANARY_SOURCE, make_client


def test_paging_follows_next_link_across_three_pages(sandbox: Sandbox, source_client: GraphClient) -> None:
    everyone = source_client.get_all("users", {"$select": "id", "$top": "999"})
    assert len(everyone) >= 21  # the default seed: 4 named + 20 generated users
    before = source_client.stats["requests"]
    pages = list(source_client.iter_pages("users", {"$select": "id,userPrincipalName", "$top": "10"}))
    assert len(pages) >= 3
    assert source_client.stats["requests"] - before == len(pages)
    paged_ids = [u["id"] for page in pages for u in page]
    assert paged_ids == [u["id"] for u in everyone]  # nothing lost, nothing twice, same order
    assert all(set(u) == {"id", "userPrincipalName"} for page in pages for u in page)  # $select kept


def test_page_size_limit_is_graphs(source_client: GraphClient) -> None:
    from tenantmove.services.graph import GraphError

    with pytest.raises(GraphError) as info:
        source_client.get("users", {"$top": "1000"})
    assert info.value.status == 400 and "between 1 and 999" in info.value.graph_message


def test_429_waits_for_retry_after(sandbox: Sandbox, source_client: GraphClient) -> None:
    source_client.get("organization")  # sign in first, so only the throttled call is timed
    sandbox.set_knobs(faults=[{"match": "^users$", "status": 429, "retry_after": 1, "count": 1}])
    started = time.monotonic()
    body = source_client.get("users", {"$top": "5"})
    elapsed = time.monotonic() - started
    assert len(body["value"]) == 5
    assert elapsed >= 1.0, f"retried after {elapsed:.3f}s, before Retry-After"
    assert elapsed < 5.0
    assert source_client.stats["throttled"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_5xx_is_retried(sandbox: Sandbox, status: int) -> None:
    _, client = make_client(sandbox)
    client.get("organization")
    sandbox.set_knobs(faults=[{"match": "^domains$", "status": status, "count": 2}])
    assert client.get("domains")["value"]
    assert client.stats["retries"] == 2


def test_dropped_connection_is_retried(sandbox: Sandbox, source_client: GraphClient) -> None:
    source_client.get("organization")
    sandbox.set_knobs(faults=[{"match": "^subscribedSkus$", "status": "drop", "count": 1}])
    skus = source_client.get("subscribedSkus")["value"]
    assert {s["skuPartNumber"] for s in skus} >= {"O365_BUSINESS_PREMIUM"}
    assert source_client.stats["retries"] == 1
    assert sandbox.stats()["counts"].get("dropped", 0) >= 1


def test_post_is_not_blindly_retried_after_a_500(sandbox: Sandbox, source_client: GraphClient) -> None:
    from tenantmove.services.graph import GraphError

    source_client.get("organization")
    sandbox.set_knobs(faults=[{"match": r"^\$batch$", "status": 500, "count": 1}])
    with pytest.raises(GraphError) as info:
        source_client.request("POST", "$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users"}]})
    assert info.value.status == 500


def test_throttled_batch_subrequest_is_retried_alone(sandbox: Sandbox, source_client: GraphClient) -> None:
    source_client.get("organization")
    sandbox.admin("POST", "stats/reset")
    sandbox.set_knobs(faults=[{"match": "^domains$", "status": 429, "retry_after": 1, "count": 1, "in_batch": True}])
    items = [BatchRequest("u", "GET", "/users?$top=1"), BatchRequest("d", "GET", "/domains"),
             BatchRequest("o", "GET", "/organization")]
    started = time.monotonic()
    answers = source_client.batch(items)
    elapsed = time.monotonic() - started
    assert {k: v.status for k, v in answers.items()} == {"u": 200, "d": 200, "o": 200}
    assert answers["d"].attempts == 2 and answers["u"].attempts == 1 and answers["o"].attempts == 1
    counts = sandbox.stats()["counts"]
    assert counts["batch"] == 2 and counts["batch_sub"] == 4  # 3, then the throttled one alone
    assert elapsed >= 1.0


def test_batch_over_twenty_is_split_and_matched_by_id(sandbox: Sandbox, source_client: GraphClient) -> None:
    users = source_client.get_all("users", {"$select": "id,userPrincipalName", "$top": "999"})
    sandbox.admin("POST", "stats/reset")
    items = [BatchRequest(u["id"], "GET", f"/users/{u['id']}?$select=id,userPrincipalName") for u in users]
    answers = source_client.batch(items)
    assert len(answers) == len(users)
    assert all(answers[u["id"]].body["userPrincipalName"] == u["userPrincipalName"] for u in users)
    assert sandbox.stats()["counts"]["batch"] == -(-len(users) // 20)


def test_batch_depends_on(source_client: GraphClient) -> None:
    answers = source_client.batch([BatchRequest("a", "GET", "/users/nobody@contoso.example"),
                                   BatchRequest("b", "GET", "/organization", depends_on=["a"])])
    assert answers["a"].status == 404
    assert answers["b"].status == 424


def test_expired_token_is_refreshed_without_the_caller_noticing(sandbox: Sandbox) -> None:
    signin, client = make_client(sandbox)
    client.get("organization")
    sandbox.admin("POST", "tokens/expire")  # every token issued so far is now refused with 401
    assert client.get("users", {"$top": "1"})["value"]
    assert client.stats["token_refreshes"] == 1
    assert signin.acquired == 2


@pytest.mark.waits
def test_short_lived_tokens_are_renewed_before_they_expire(sandbox: Sandbox) -> None:
    sandbox.set_knobs(token_lifetime=3)
    signin, client = make_client(sandbox)
    client.get("organization")
    time.sleep(2.7)  # inside the renewal margin, not yet expired
    client.get("organization")
    assert signin.acquired == 2
    assert client.stats["token_refreshes"] == 0  # renewed ahead of time: no 401 was ever seen


def test_a_token_of_one_tenant_is_refused_by_the_other(sandbox: Sandbox, source_client: GraphClient) -> None:
    new_tenant = sandbox.tenant("new")["id"]
    old_tenant = sandbox.tenant("old")["id"]
    assert source_client.get(f"{old_tenant}/organization")["value"][0]["id"] == old_tenant
    with pytest.raises(GraphAuthError) as info:
        source_client.get(f"{new_tenant}/users")
    assert info.value.status == 401
    # and the old tenant's app cannot sign in at the new tenant's authority at all
    from tenantmove.errors import SignInError
    from tenantmove.services.auth import SignIn

    from .conftest import tenant_config

    cross = SignIn(tenant_config("source", tenant="contosonew.onmicrosoft.com"),
                   authority_host=sandbox.endpoints["authority_host"], verify=sandbox.ca_file)
    with pytest.raises(SignInError, match="unauthorized_client"):
        cross.token()


def test_failure_carries_request_id(source_client: GraphClient) -> None:
    with pytest.raises(GraphNotFound) as info:
        source_client.get("users/nobody@contoso.example")
    err = info.value
    assert err.status == 404 and err.code == "Request_ResourceNotFound"
    assert uuid.UUID(err.request_id) and uuid.UUID(err.client_request_id)
    assert err.request_id in str(err)


def test_client_is_safe_across_threads(sandbox: Sandbox) -> None:
    sandbox.set_knobs(latency_ms=5, throttle_probability=0.05, retry_after=0.2)  # the waits are not what is tested
    _, client = make_client(sandbox, retry=RetryPolicy(base=0.01, cap=0.1, max_attempts=10))
    client.get("organization")
    errors: list[BaseException] = []
    seen: list[int] = []

    def work() -> None:
        try:
            for _ in range(15):
                seen.append(len(client.get("users", {"$top": "3"})["value"]))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen == [3] * 120
    assert client.stats["requests"] == 1 + 120 + client.stats["retries"] + client.stats["token_refreshes"]


def test_logs_carry_no_token_or_secret(sandbox: Sandbox, debug_logs: pytest.LogCaptureFixture) -> None:
    from tenantmove.redact import install_log_redaction

    install_log_redaction()
    signin, client = make_client(sandbox)
    sandbox.set_knobs(faults=[{"match": "^groups$", "status": 429, "retry_after": 1, "count": 1}])
    client.get("groups")
    with pytest.raises(GraphNotFound):
        client.get("groups/00000000-0000-0000-0000-000000000000")
    token = signin.token()
    text = debug_logs.text
    assert "request-id" in text  # the failure was logged with its ids
    assert token not in text and CANARY_SOURCE not in text
    assert "Bearer ey" not in text


def test_sequential_calls_reuse_one_keep_alive_connection(sandbox: Sandbox, source_client: GraphClient) -> None:
    source_client.get("organization")
    before = sandbox.stats()["connections"]
    for _ in range(30):
        source_client.get("users", {"$top": "1"})
    assert sandbox.stats()["connections"] - before <= 2  # the admin call itself may open one


def test_rate_limit_throttling_is_absorbed(sandbox: Sandbox) -> None:
    _, client = make_client(sandbox, retry=RetryPolicy(base=0.05, cap=0.5, max_attempts=10))
    client.get("organization")
    sandbox.set_knobs(throttle_rate=10, retry_after=1)
    results = [client.get("users", {"$top": "1"})["value"] for _ in range(25)]
    assert all(len(r) == 1 for r in results)
    assert client.stats["throttled"] >= 1  # the limit bit, and every request still got its answer


def test_scale_knob_reseeds(sandbox: Sandbox, source_client: GraphClient) -> None:
    base = len(source_client.get_all("users", {"$select": "id", "$top": "999"}))
    try:
        sandbox.admin("POST", "reset", json={"scale": 3})
        assert len(source_client.get_all("users", {"$select": "id", "$top": "999"})) == base + 40
    finally:
        sandbox.admin("POST", "reset", json={"scale": 1})
    assert len(source_client.get_all("users", {"$select": "id", "$top": "999"})) == base


@pytest.mark.waits
def test_sandbox_stops_when_its_parent_dies(tmp_path) -> None:  # noqa: ANN001
    """A sandbox started by a process that is killed must not linger on its ports."""
    import os
    import signal
    import subprocess
    import sys

    code = ("import sys, time; from pathlib import Path; from tenantmove.sandbox import Sandbox; "
            "sb = Sandbox(Path(sys.argv[1])).start(); print(sb.proc.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        try:  # reap it if it became ours; otherwise init does
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the sandbox outlived its parent")
    assert not (tmp_path / "endpoints.json").exists()
