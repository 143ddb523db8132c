"""The outside world's mail server in the sandbox, as a sender sees the cutover: it delivers through the domain's MX
to Exchange Online Protection, keeps using a cached MX until its TTL runs out, bounces at once when the domain has
neither MX nor address record, and retries a holding MX's 4xx until the MX points at a tenant again."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.outside import HOLDING_HOST
from tenantmove.services.dnsops import RecordPlan, Rfc2136Provider, load_tsig, record

from .test_mail_sandbox import counts

DOMAIN, MEGAN = "contoso.example", "megan.bowen@contoso.example"
EOP_MX = "0 contoso-example.mail.protection.outlook.com"


def _provider(sb: Sandbox) -> Rfc2136Provider:
    dns = sb.endpoints["dns"]
    return Rfc2136Provider(dns["host"], dns["port"], DOMAIN, load_tsig(key_file=dns["tsig_file"]))


def _settled(sb: Sandbox, sent: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = sb.admin("GET", "mailflow")
        if view["figures"]["sent"] >= sent and not view["figures"]["queued"]:
            return view
        assert time.monotonic() < deadline, view["figures"]
        time.sleep(0.1)


def test_letters_reach_the_inbox_through_the_mx(fresh_sandbox: Sandbox) -> None:
    before = counts(fresh_sandbox, "source", MEGAN)["Inbox"]
    fresh_sandbox.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 3, "label": "t1"})
    view = _settled(fresh_sandbox, 3)
    assert view["figures"] | {"longest_delay_seconds": 0} == {
        "sent": 3, "delivered": 3, "bounced": 0, "queued": 0, "retried": 0, "longest_delay_seconds": 0,
        "scale": view["figures"]["scale"]}
    assert {x["via"] for x in view["letters"]} == {"contoso-example.mail.protection.outlook.com"}
    assert counts(fresh_sandbox, "source", MEGAN)["Inbox"] == before + 3


def test_a_cached_mx_is_used_until_its_ttl_runs_out_then_the_address_then_a_bounce(fresh_sandbox: Sandbox) -> None:
    sb, provider = fresh_sandbox, _provider(fresh_sandbox)
    sb.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 1, "label": "warm"})
    _settled(sb, 1)  # the sender's resolver now holds the MX, for 3600 s at the sandbox's scale
    provider.apply(RecordPlan(remove=[record(DOMAIN, "MX", EOP_MX)]))
    removed = time.monotonic()
    sb.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 1, "label": "cached"})
    view = _settled(sb, 2)
    ttl = 3600 * view["figures"]["scale"]
    assert time.monotonic() - removed < ttl, "the test was too slow to see the cache"
    assert view["letters"][1]["state"] == "delivered"  # the MX it cached still leads to EOP
    time.sleep(max(0.0, ttl - (time.monotonic() - removed)) + 0.2)
    # no MX now: the domain's own address (the website's) is tried, nothing answers SMTP there, the letter waits
    sb.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 1, "label": "no MX"})
    time.sleep(1.5)
    waiting = sb.admin("GET", "mailflow")["letters"][2]
    assert waiting["state"] == "queued" and waiting["attempts"] >= 2
    assert waiting["last"] == f"{DOMAIN}: connection refused (no mail server there)"
    # a mail-only domain: neither MX nor address once the address's TTL has run out too: bounced at the next try
    provider.apply(RecordPlan(remove=[record(DOMAIN, "A", "192.0.2.80")]))
    late = _settled(sb, 3, timeout=ttl + 15)["letters"][2]
    assert late["state"] == "bounced" and late["attempts"] >= 3
    assert late["last"].startswith("5.4.4") and "neither an MX nor an address record" in late["last"]


def test_a_holding_mx_keeps_the_mail_queued_until_the_mx_is_back(fresh_sandbox: Sandbox) -> None:
    sb, provider = fresh_sandbox, _provider(fresh_sandbox)
    hold = record(DOMAIN, "MX", f"10 {HOLDING_HOST}", ttl=1)
    provider.apply(RecordPlan(add=[hold], remove=[record(DOMAIN, "MX", EOP_MX)]))
    sb.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 2, "label": "held"})
    time.sleep(2.5)  # a few retries: 0.6 s, then 1.2 s at the sandbox's scale
    view = sb.admin("GET", "mailflow")
    assert view["figures"]["queued"] == 2 and view["figures"]["bounced"] == 0
    assert all(x["attempts"] >= 2 and x["last"].startswith(f"{HOLDING_HOST}: 451") for x in view["letters"])
    provider.apply(RecordPlan(add=[record(DOMAIN, "MX", EOP_MX, ttl=1)], remove=[hold]))
    view = _settled(sb, 2, timeout=30)
    assert view["figures"]["delivered"] == 2 and view["figures"]["retried"] == 2


@pytest.mark.parametrize("answer, state", [("reject", "bounced")])
def test_a_holding_server_that_refuses_bounces_the_mail(fresh_sandbox: Sandbox, answer: str, state: str) -> None:
    sb, provider = fresh_sandbox, _provider(fresh_sandbox)
    sb.set_knobs(holding_mx_answer=answer)
    provider.apply(RecordPlan(add=[record(DOMAIN, "MX", f"10 {HOLDING_HOST}", ttl=1)],
                              remove=[record(DOMAIN, "MX", EOP_MX)]))
    sb.admin("POST", "mailflow", json={"to": [MEGAN], "every_seconds": 0.05, "count": 1, "label": "refused"})
    letter = _settled(sb, 1)["letters"][0]
    assert letter["state"] == state and letter["last"].startswith(f"{HOLDING_HOST}: 550")
