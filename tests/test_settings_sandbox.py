"""Phase 40's workloads against the sandbox: the side-by-side diff, settings applied and read back,
conditional access rebuilt report-only through the mappings (an unmapped user stops its policy, named), switched
on only by its own step, and paced under conditional access's one request a second."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.services.conditional_access import CaClient
from tenantmove.workloads.settings import (
    REPORT_ONLY,
    ConditionalAccess,
    ConditionalAccessOn,
    NamedLocations,
    Settings,
    diff,
)

from .conftest import make_client
from .files_helpers import run_keeping


def ids(client, upn: str) -> str:  # type: ignore[no-untyped-def]
    return str(client.get(f"users/{upn}")["id"])


def test_the_diff_then_settings_applied_and_read_back(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    old, new = make_client(fresh_sandbox, "source")[1], make_client(fresh_sandbox, "target")[1]
    before = diff(old, new, ["sharepoint"])
    differs = before[before["differs"]]
    assert {"sharingCapability", "blockMsolPowerShell"} <= set(differs["setting"])
    assert set(before[before["applied"]]["area"]) == {"SharePoint tenant settings"}
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        out = run_keeping(Engine(ledger, "40_admin_settings"), Settings(old, new, ["sharepoint"]))
    assert not out.failed and out.count("applied") == 5 and out.count("already so") == 2  # the 5 that differ
    after = diff(old, new, ["sharepoint"])
    assert not after[after["area"] == "SharePoint tenant settings"]["differs"].any()
    assert after[after["area"] == "authorisation policy"]["differs"].any()  # not selected: left as it was


def test_conditional_access_report_only_through_the_mappings_then_switched_on(fresh_sandbox: Sandbox,
                                                                              tmp_path: Path) -> None:
    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    sales_new = new.post("groups", {"displayName": "Sales", "mailNickname": "sales", "mailEnabled": True,
                                    "securityEnabled": False, "groupTypes": ["Unified"]})["id"]
    sales_old = old.get("groups", {"$filter": "mailNickname eq 'sales'"})["value"][0]["id"]
    users = {ids(old, "admin@contoso.onmicrosoft.com"): ids(new, "admin@contosonew.onmicrosoft.com")}
    old_ca, new_ca = CaClient(old), CaClient(new)
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        engine = Engine(ledger, "40_admin_settings")
        locations = run_keeping(engine, NamedLocations(old_ca, new_ca))
        # first without the group mapped: the policy that names it stops, naming it; the other is made
        policies = run_keeping(engine, ConditionalAccess(old_ca, new_ca, users, {}, locations.targets(),
                                                         {sales_old: "Sales"}))
        assert [r["action"] for r in policies.rows].count("created report-only") == 1
        assert any("names group Sales, not moved" in (r["error"] or "") for r in policies.failed)
        policies = run_keeping(engine, ConditionalAccess(old_ca, new_ca, users, {sales_old: sales_new},
                                                         locations.targets(), {}))
        assert not policies.failed
        made = {p["displayName"]: p for p in new_ca.all("policies")}
        assert {p["state"] for p in made.values()} == {REPORT_ONLY}  # never on at first, whatever the old state
        mfa = made["Require MFA for administrators"]
        assert mfa["conditions"]["users"]["includeUsers"] == [users[next(iter(users))]]
        block = made["Sales: block outside the office"]
        assert block["conditions"]["users"]["includeGroups"] == [sales_new]
        assert block["conditions"]["locations"]["excludeLocations"] == list(locations.targets().values())
        copies = [(i.source_id, str(i.name), str(i.target_id)) for i in ledger.items("ca-policy", ["done"])
                  if (i.detail or {}).get("source state") == "enabled"]
        on = run_keeping(engine, ConditionalAccessOn(new_ca, copies))
    assert on.count("switched on") == 1
    states = {p["displayName"]: p["state"] for p in new_ca.all("policies")}
    assert states == {"Require MFA for administrators": "enabled", "Sales: block outside the office": REPORT_ONLY}


def test_conditional_access_answers_429_faster_than_a_request_a_second_and_the_client_paces(
        fresh_sandbox: Sandbox) -> None:
    old = make_client(fresh_sandbox, "source")[1]
    token = old.tokens.token()
    answers = [requests.get(f"{fresh_sandbox.endpoints['graph_url']}/identity/conditionalAccess/policies",
                            headers={"Authorization": f"Bearer {token}"}, verify=fresh_sandbox.ca_file, timeout=10)
               for _ in range(3)]
    assert answers[0].status_code == 200 and answers[1].status_code == 429 and answers[1].headers["Retry-After"]
    paced = CaClient(old)
    time.sleep(1.1)  # the raw calls above are not the pacer's to know
    for _ in range(3):
        assert paced.all("policies")
    assert paced.graph.stats["throttled"] == 0 and paced.graph.stats["requests"] == 3 and paced.pacer.waited > 1.5
