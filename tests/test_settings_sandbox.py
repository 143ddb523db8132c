"""Phase 40's workloads against the sandbox: the side-by-side diff, settings applied and read back,
conditional access rebuilt report-only through the mappings (an unmapped user stops its policy, named), switched
on only by its own step, and paced under conditional access's one request a second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.services.conditional_access import CaClient
from tenantmove.workloads import readback
from tenantmove.workloads.setting_areas import Sides, areas, domain_map
from tenantmove.workloads.settings import (
    REPORT_ONLY,
    ConditionalAccess,
    ConditionalAccessOn,
    ManualSettings,
    NamedLocations,
    Settings,
    diff,
    mark_done,
)

from .conftest import make_client
from .files_helpers import run_keeping


def ids(client, upn: str) -> str:  # type: ignore[no-untyped-def]
    return str(client.get(f"users/{upn}")["id"])


def sides_for(sb: Sandbox, groups: dict[str, str] | None = None) -> Sides:
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    captured = {str(d["id"]): {"passwordValidityPeriodInDays": d["passwordValidityPeriodInDays"],
                               "passwordNotificationWindowInDays": d["passwordNotificationWindowInDays"],
                               "initial": d["isInitial"]} for d in old.get("domains")["value"]}
    names = {g["id"]: g["displayName"] for g in old.get_all("groups")}
    return Sides(old, new, groups=groups or {}, group_names=names, domains=domain_map(captured, "contosonew.onmicrosoft.com", "x.invalid"),
                 captured=captured)


def test_the_diff_then_settings_applied_and_read_back(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    found = areas(sides_for(fresh_sandbox))
    before = diff(found, ["sharepoint"])
    differs = before[before["differs"]]
    assert {"isResharingByExternalUsersEnabled", "blockMsolPowerShell"} <= set(differs["setting"])
    assert set(before[before["applied"] == "yes"]["area"]) == {"SharePoint tenant settings"}
    assert set(before[before["applied"] == "read-only"]["setting"]) >= {"street", "city"}  # shown, never written
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        out = run_keeping(Engine(ledger, "40_admin_settings"), Settings(found, ["sharepoint"]))
    assert not out.failed and out.count("applied") == 4 and out.count("already so") == 3  # the 4 that differ
    after = diff(found, ["sharepoint"])
    assert not after[after["area"] == "SharePoint tenant settings"]["differs"].any()
    assert after[after["area"] == "authorisation policy"]["differs"].any()  # not selected: left as it was


def test_profile_branding_group_settings_and_password_expiry_carried(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    """The new tenant starts with no branding (Graph makes the default only with a first language), no group
    settings object (the template's defaults) and passwords that never expire; after the run all four areas
    read back like the old tenant's, the logo byte for byte and the allowed group creators as the new group."""
    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    sales_old = old.get("groups", {"$filter": "mailNickname eq 'sales'"})["value"][0]["id"]
    chosen = ["organization", "branding", "groupSettings", "domains"]
    unmapped = areas(sides_for(sb))
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        engine = Engine(ledger, "40_admin_settings")
        first = run_keeping(engine, Settings(unmapped, ["groupSettings"]))
        assert [r["error"].split(" HINT")[0] for r in first.failed] == [
            "GroupCreationAllowedGroupId names the group Sales, which has no copy in the new tenant"], first.failed
        sales_new = new.post("groups", {"displayName": "Sales", "mailNickname": "sales", "mailEnabled": True,
                                        "securityEnabled": False, "groupTypes": ["Unified"]})["id"]
        found = areas(sides_for(sb, {sales_old: sales_new}))
        before = diff(found, chosen)
        assert before[before["differs"] & (before["applied"] == "yes")]["area"].nunique() == 4
        out = run_keeping(engine, Settings(found, chosen))
    assert not out.failed, [r["error"] for r in out.failed]
    after = diff(found, chosen)
    assert not after[after["applied"] == "yes"]["differs"].any(), after[after["differs"]]
    org = new.get("organization")["value"][0]
    assert org["technicalNotificationMails"] == ["it@contoso.example"] and org["street"] is None  # read-only stays
    oid = org["id"]
    logo = new.request("GET", f"organization/{oid}/branding/localizations/0/bannerLogo").content
    old_oid = old.get("organization")["value"][0]["id"]
    assert logo[:8] == b"\x89PNG\r\n\x1a\n" and logo == old.request(
        "GET", f"organization/{old_oid}/branding/localizations/0/bannerLogo").content
    assert {x["id"] for x in new.get(f"organization/{oid}/branding/localizations")["value"]} == {"0", "nl-NL"}
    unified = new.get("groupSettings")["value"][0]
    values = {v["name"]: v["value"] for v in unified["values"]}
    assert values["EnableGroupCreation"] == "false" and values["GroupCreationAllowedGroupId"] == sales_new
    assert new.get("domains/contosonew.onmicrosoft.com")["passwordValidityPeriodInDays"] == 90


def test_an_area_the_token_may_not_read_is_reported_and_the_rest_goes_on(fresh_sandbox: Sandbox,
                                                                        tmp_path: Path) -> None:
    sb = fresh_sandbox
    granted = sb.admin("PATCH", "apps/6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02", json={})["roles"]
    sb.admin("PATCH", "apps/6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02",
             json={"roles": [r for r in granted if r not in ("GroupSettings.ReadWrite.All", "Directory.Read.All")]})
    found = areas(sides_for(sb))
    table = diff(found, ["groupSettings", "sharepoint"])
    cannot = table[table["setting"] == "(cannot read)"]
    assert list(cannot["area"]) == ["Microsoft 365 group settings"] and "403" in cannot["old tenant"].iloc[0]
    assert not table[table["area"] == "SharePoint tenant settings"].empty
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        out = run_keeping(Engine(ledger, "40_admin_settings"), Settings(found, ["groupSettings", "sharepoint"]))
    assert out.count("applied") == 4 and out.failed and all("group settings" in r["error"] for r in out.failed)


def test_manual_items_read_back_teams_policies_and_the_generated_script_makes_them_hold(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    """Marked done is not enough where Graph can read: the Teams policies in effect differ until the script the
    read-back wrote has run in the new tenant; then the item is done, with the reading as evidence."""
    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    megan_new = new.post("users", {"accountEnabled": True, "displayName": "Megan", "mailNickname": "megan",
                                   "userPrincipalName": "megan@contosonew.onmicrosoft.com", "usageLocation": "NL",
                                   "passwordProfile": {"password": "Xy!9-long-enough"}})["id"]
    sku = next(s["skuId"] for s in new.get("subscribedSkus")["value"] if s["skuPartNumber"] == "O365_BUSINESS_PREMIUM")
    new.post(f"users/{megan_new}/assignLicense", {"addLicenses": [{"skuId": sku}], "removeLicenses": []})
    users = {ids(old, "megan.bowen@contoso.example"): megan_new}
    probes = {"teams-policies": readback.teams_policies(old, new, users, {megan_new: "megan@contosonew.onmicrosoft.com"})}
    state = tmp_path / "state"
    state.mkdir()
    mark_done(state, ["teams-policies"], "tester", "said so")
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        engine = Engine(ledger, "40_admin_settings", folder=tmp_path / "run")
        first = run_keeping(engine, ManualSettings(state, probes))
        step = next(r for r in first.rows if r["key"] == "teams-policies")
        assert step["action"] == "manual", step
        script = (tmp_path / "run" / "manual-manual-setting.ps1").read_text()
        assert "but it does not read back so" in script and "'Keep chats'" in script
        teams = "\n".join(line for line in script.splitlines() if "CsTeams" in line and not line.startswith("#"))
        assert teams == ("New-CsTeamsMessagingPolicy -Identity 'Keep chats'\n"
                         "Grant-CsTeamsMessagingPolicy -Identity 'megan@contosonew.onmicrosoft.com' "
                         "-PolicyName 'Keep chats'")
        assert sb.admin("POST", "powershell/contosonew.onmicrosoft.com", data=teams.encode())["ok"]
        again = run_keeping(engine, ManualSettings(state, probes))
    done = next(r for r in again.rows if r["key"] == "teams-policies")
    assert done["action"] == "done by the admin, read back", done


@pytest.mark.waits
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


@pytest.mark.waits
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
