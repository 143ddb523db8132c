"""The cutover's DNS TTLs against the sandbox's authoritative server: read and remembered (the first TTL seen is
the one to give back), lowered through the provider, phase 20's rule (refused while the MX is high or its old TTL
may still be cached, waited for when that is near, started anyway only with a reason), and given back by phase 30."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.services.dnsops import ManualProvider, record
from tenantmove.workloads.dnsttl import LOW, TtlNotRunOut, drain, lower, mx_ready, observe, restore

from .test_dns_ops import sandbox_ns, sandbox_provider

DOMAIN = "contoso.example"


def test_ttls_are_remembered_lowered_waited_for_and_given_back(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    ns, provider = sandbox_ns(fresh_sandbox), sandbox_provider(fresh_sandbox)
    plan = observe(ns, DOMAIN, tmp_path)
    assert list(plan.table["record"]) == [f"MX {DOMAIN}", f"CNAME autodiscover.{DOMAIN}", f"TXT {DOMAIN}"]
    assert list(plan.table["TTL now"]) == [3600] * 3 and len(plan.to_lower) == 3
    with pytest.raises(TtlNotRunOut) as high:  # phase 20 before anything was lowered
        mx_ready(ns, DOMAIN, tmp_path)
    assert "still has a TTL of 3600 s" in str(high.value) and "dns_lower_ttl" in high.value.hint
    assert "ttl_override says 'agreed in CHG-42'" in mx_ready(ns, DOMAIN, tmp_path, override="agreed in CHG-42")

    assert "set the TTL of MX" in ManualProvider().set_ttl(plan.sets[f"MX {DOMAIN}"], LOW)[0]  # the admin's change
    assert lower(provider, plan, tmp_path) and ns.ttl(DOMAIN, "MX") == LOW
    assert ns.values(DOMAIN, "TXT")[0] == {r.value for r in plan.sets[f"TXT {DOMAIN}"]}  # the whole set kept
    with pytest.raises(TtlNotRunOut) as soon:  # at real speed the old hour has not run out
        mx_ready(ns, DOMAIN, tmp_path, scale=1.0)
    assert "resolvers may keep the old one until" in str(soon.value) and "run this phase after" in soon.value.hint
    slept: list[float] = []
    said = mx_ready(ns, DOMAIN, tmp_path, scale=0.1, sleep=slept.append)  # 360 s away: waited for
    assert len(slept) == 1 and 0 < slept[0] <= 361 and "waited" in said
    time.sleep(1.01)  # the moment it may start is rounded up to the second: never early
    assert "has run out" in mx_ready(ns, DOMAIN, tmp_path, scale=0.0)
    held: list[float] = []  # once the MX is gone, its TTL passes before the domain leaves the old tenant
    assert "its TTL was 300 s" in drain(tmp_path, LOW, 0.5, sleep=held.append) and 149 < held[0] <= 150
    time.sleep(1.1)  # killed while waiting: the rerun finds the MX gone (no TTL) and waits only what is left
    assert "its TTL was 300 s" in drain(tmp_path, None, 0.5, sleep=held.append) and 147 < held[1] < 149.5
    assert drain(tmp_path / "elsewhere", None, 0.5, sleep=held.append) == "" and len(held) == 2  # never began

    again = observe(ns, DOMAIN, tmp_path)  # a later read keeps the TTL before the cutover
    assert list(again.table["TTL before the cutover"]) == [3600] * 3 and again.to_lower == []
    notes = restore(ns, provider, DOMAIN, 3600)
    assert len(notes) == 3 and ns.ttl(DOMAIN, "MX") == 3600 and ns.ttl(f"autodiscover.{DOMAIN}", "CNAME") == 3600


def test_a_ttl_the_dns_host_lowered_counts_from_when_it_was_first_seen_low(fresh_sandbox: Sandbox,
                                                                          tmp_path: Path) -> None:
    ns, provider = sandbox_ns(fresh_sandbox), sandbox_provider(fresh_sandbox)
    observe(ns, DOMAIN, tmp_path)  # phase 00, before
    mx = next(iter(ns.values(DOMAIN, "MX")[0]))
    provider.set_ttl([record(DOMAIN, "MX", mx)], 120)  # the admin, at the DNS host
    seen = observe(ns, DOMAIN, tmp_path)  # phase 00 again
    row = seen.table.set_index("record").loc[f"MX {DOMAIN}"]
    assert row["TTL now"] == 120 and row["low since (UTC)"] and row["old TTL runs out (UTC)"] > row["low since (UTC)"]
    assert "lowered" in row["to do"]
