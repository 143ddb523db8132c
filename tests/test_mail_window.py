"""The cutover's mail window as a sender sees it: phases 20 and 30 run in-process (their own plan and apply)
against the sandbox while its outside mail server writes to Megan every half second. A long MX TTL and no holding
MX on a mail-only domain loses mail; each option loses none (lowered TTLs on a domain with an address record, a
holding MX on a mail-only one). The runbook never lets a sender meet Exchange Online Protection for a domain no
tenant holds, so what EOP answers then (550 or 451, unsettled in Microsoft's documentation) does not matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantmove.phases.rehearsal import Option, cutover, prepare
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.outside import HOLDING_HOST

pytestmark = pytest.mark.waits

DOMAIN, MEGAN = "contoso.example", "megan.bowen@contoso.example"


def _rehearse(sb: Sandbox, tmp_path: Path, option: Option) -> dict:
    before = sb.stats()["counts"].get("eop refused: domain in no tenant", 0)
    prepare(sb.state_dir, tmp_path, DOMAIN, option)
    result = cutover(sb.state_dir, tmp_path, DOMAIN, option, [MEGAN], every_seconds=0.5)
    result["eop asked for a domain in no tenant"] = sb.stats()["counts"].get("eop refused: domain in no tenant", 0) \
        - before
    return result


def test_a_long_ttl_and_no_holding_mx_bounce_the_mail_of_a_mail_only_domain(fresh_sandbox: Sandbox,
                                                                             tmp_path: Path) -> None:
    result = _rehearse(fresh_sandbox, tmp_path, Option("no change", mx_ttl=3600, mail_only=True))
    letters = result["letters"]
    lost = letters[letters["state"] == "bounced"]
    assert len(lost) >= 1 and result["bounced"] == len(lost)  # what the window costs without an option
    assert all(last.startswith("5.4.4") for last in lost["last"])  # neither MX nor address: bounced at once
    assert set(lost["attempts"]) == {1}
    assert "still has a TTL of 3600 s" in result["released"]["MX TTL"]  # started only through ttl_override
    assert result["eop asked for a domain in no tenant"] == 0


@pytest.mark.parametrize("option", [Option("lowered TTLs", lower=True),
                                    Option("holding MX", lower=True, holding_mx=HOLDING_HOST, mail_only=True)],
                         ids=lambda o: o.name)
def test_each_option_loses_nothing_the_window_only_delays(fresh_sandbox: Sandbox, tmp_path: Path,
                                                          option: Option) -> None:
    result = _rehearse(fresh_sandbox, tmp_path, option)
    assert result["bounced"] == 0 and result["still queued (retrying)"] == 0
    assert result["delivered"] == result["letters sent"] >= 10
    assert result["retried at least once"] >= 1  # letters sent in the window waited, then arrived
    assert "waited" in result["released"]["MX TTL"]  # phase 20 let the old TTL run out first
    assert result["eop asked for a domain in no tenant"] == 0
    if option.holding_mx:
        held = result["letters"][result["letters"]["attempts"] > 1]
        assert result["released"]["MX in the window"].startswith(f"10 {HOLDING_HOST} ({HOLDING_HOST} answered 451")
        assert len(held) >= 1


@pytest.mark.parametrize("answer, host, said", [
    ("reject", HOLDING_HOST, "refuses the domain's mail for good"),
    ("defer", "mx-hold.nowhere.invalid", "does not answer"),
])
def test_a_holding_mx_that_would_bounce_or_does_not_answer_is_refused_before_anything_changes(
        fresh_sandbox: Sandbox, answer: str, host: str, said: str) -> None:
    from tenantmove.services.dnsops import Nameservers
    from tenantmove.workloads.mailwindow import HoldingMxRefused, plan_window

    fresh_sandbox.set_knobs(holding_mx_answer=answer)
    dns = fresh_sandbox.endpoints["dns"]
    ns = Nameservers([(dns["host"], dns["port"])])
    known = {k: (v[0], int(v[1])) for k, v in fresh_sandbox.endpoints["smtp"]["hosts"].items()}
    before = ns.values(DOMAIN, "MX")
    with pytest.raises(HoldingMxRefused) as refused:
        plan_window(ns, DOMAIN, host, known)
    line = refused.value.one_line()
    assert said in line and "holding_mx" in line and "answer 4xx" in line and "\n" not in line
    assert ns.values(DOMAIN, "MX") == before  # nothing changed
    fresh_sandbox.set_knobs(holding_mx_answer="defer")
    ok = plan_window(ns, DOMAIN, HOLDING_HOST, known)
    assert ok.answer is not None and ok.answer.kind == "temporary" and ok.addresses == ["192.0.2.80"]
    assert ok.lines()[0][0] == "ok" and "senders keep the mail and retry" in ok.lines()[0][1]
    assert plan_window(ns, DOMAIN, "", known).lines()[0][0] == "warn"  # no holding MX, but an address: they retry
