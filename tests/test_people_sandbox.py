"""The people as they were, through the real client and the sandbox: every writable attribute and the manager
carried once both people exist, a rerun that changes nothing, a manager who does not move named as a manual item
and read back once the admin set one, and a difference made behind the runbook's back found and reopened."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.graphperson import PERSON_ATTRIBUTES, attributes
from tenantmove.sandbox import Sandbox
from tenantmove.workloads import inventory
from tenantmove.workloads.people import (
    Managers,
    People,
    PersonAttributes,
    from_inventory,
    from_tenant,
    reconcile,
)

from .conftest import make_client
from .files_helpers import make_target_users, new_upn, run_keeping

NICKS = ("megan.bowen", "alex.wilber")


def move_people(sb: Sandbox, ledger: Path, nicks: tuple[str, ...] = NICKS, run_id: str = "r") -> dict[str, Outcome]:
    """What phase 30 does after the users: the old tenant as phase 00 read it, the attributes, then managers."""
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    mapping = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in nicks])
    people = People(new, mapping, from_inventory(inventory.collect(old, people=True)))
    with Ledger(ledger, run_id) as led:
        engine = Engine(led, "30_add_domain_and_users", folder=ledger.parent / "phase", workers=4)
        return {w.kind: run_keeping(engine, w) for w in (PersonAttributes(people), Managers(people))}


def test_attributes_and_managers_arrive_once_and_a_rerun_changes_nothing(fresh_sandbox: Sandbox,
                                                                          tmp_path: Path) -> None:
    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    make_target_users(sb, new, NICKS, provision=False)
    out = move_people(sb, tmp_path / "l.sqlite")
    assert out["person-attributes"].tally() == {"updated": 2}
    assert out["manager"].tally() == {"created": 1}  # Alex reports to Megan; Megan to nobody
    select = {"$select": ",".join(PERSON_ATTRIBUTES)}
    for nick in NICKS:
        before = attributes(old.get(f"users/{nick}@contoso.example", select))
        after = new.get(f"users/{new_upn(nick)}", select)
        assert {k: after[k] for k in before} == before and len(before) >= 9  # Alex chose no language
    assert new.get(f"users/{new_upn('alex.wilber')}/manager")["userPrincipalName"] == new_upn("megan.bowen")
    again = move_people(sb, tmp_path / "l.sqlite", run_id="again")
    assert again["person-attributes"].tally() == {"done before": 2} and again["manager"].tally() == {"done before": 1}
    mapping = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in NICKS])
    rows = reconcile(People(new, mapping, from_tenant(old, inventory.collect(old))))
    assert not [r for r in rows if r["differing"] or r["manager differs"]], rows

    # behind the runbook's back: a title changed and the manager removed: both named
    new.patch(f"users/{new_upn('megan.bowen')}", {"jobTitle": "Intern"})
    new.request("DELETE", f"users/{new_upn('alex.wilber')}/manager/$ref")
    rows = {r["person"]: r for r in reconcile(People(new, mapping, from_tenant(old, inventory.collect(old))))}
    assert rows["megan.bowen@contoso.example"]["differing"] == ["jobTitle"]
    assert rows["alex.wilber@contoso.example"]["manager differs"] is True


def test_a_manager_who_does_not_move_is_named_then_read_back(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    make_target_users(sb, new, ("alex.wilber",), provision=False)
    out = move_people(sb, tmp_path / "l.sqlite", ("alex.wilber",))
    assert out["manager"].tally() == {"manual": 1}
    script = out["manager"].script
    assert script is not None and "megan.bowen@contoso.example" in script.read_text()
    assert "add megan.bowen@contoso.example to the user mapping" in script.read_text()
    boss = new.post("users", {"accountEnabled": True, "displayName": "Boss", "mailNickname": "boss",
                              "userPrincipalName": "boss@contosonew.onmicrosoft.com",
                              "passwordProfile": {"password": "Tm-test-Pa55word!", "forceChangePasswordNextSignIn": True}})
    new.request("PUT", f"users/{new_upn('alex.wilber')}/manager/$ref",
                json={"@odata.id": f"{new.base_url}/users/{boss['id']}"})  # the admin decides by hand
    again = move_people(sb, tmp_path / "l.sqlite", ("alex.wilber",), run_id="again")
    assert [r["action"] for r in again["manager"].rows] == ["done by the admin, read back"]


def test_teams_turned_off_and_the_group_owners_arrive_by_name_and_a_removed_owner_is_named(fresh_sandbox: Sandbox,
                                                                                             tmp_path: Path) -> None:
    """Alex had Teams off: the new licence has the plan of that name off (matched by name, not id). The Sales group's
    two owners are its owners in the new tenant; an owner removed behind the runbook's back is named and reopened."""
    from tenantmove.phases.checks import workload_check
    from tenantmove.workloads.licenceplans import LicencePlans
    from tenantmove.workloads.owners import GroupOwners, owners_from_inventory, owners_from_tenant

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    make_target_users(sb, new, NICKS, provision=False)
    skus = new.get("subscribedSkus")["value"]
    premium = next(s for s in skus if s["skuPartNumber"] == "O365_BUSINESS_PREMIUM")
    for nick in NICKS:
        new.post(f"users/{new_upn(nick)}/assignLicense",
                 {"addLicenses": [{"skuId": premium["skuId"], "disabledPlans": []}], "removeLicenses": []})
    src = inventory.collect(old, people=True)
    sales = new.post("groups", {"displayName": "Sales", "mailNickname": "sales", "mailEnabled": True,
                                "securityEnabled": False, "groupTypes": ["Unified"]})
    made = {str(src.groups[src.groups["mailNickname"] == "sales"].iloc[0]["id"]): sales["id"]}
    mapping = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in NICKS])
    people = People(new, mapping, from_inventory(src))
    plans, owners = LicencePlans(people, skus), GroupOwners(new, src.groups, owners_from_inventory(src), made, mapping)
    with Ledger(tmp_path / "l.sqlite", "r") as led:
        engine = Engine(led, "30_add_domain_and_users", folder=tmp_path / "phase", workers=4)
        out = {w.kind: run_keeping(engine, w) for w in (plans, owners)}
    assert out["licence-plans"].tally() == {"updated": 1, "adopted": 1}  # Alex's Teams off; Megan's as it was
    teams = next(p["servicePlanId"] for p in premium["servicePlans"] if p["servicePlanName"] == "TEAMS1")
    alex = new.get(f"users/{new_upn('alex.wilber')}", {"$select": "assignedLicenses"})["assignedLicenses"]
    assert alex == [{"skuId": premium["skuId"], "disabledPlans": [teams]}]
    assert out["group-owner"].tally() == {"created": 2}
    assert {o["userPrincipalName"] for o in new.get(f"groups/{sales['id']}/owners")["value"]} == \
        {new_upn(n) for n in NICKS}
    fresh = People(new, mapping, from_tenant(old, src))
    again = GroupOwners(new, src.groups, owners_from_tenant(old, src), made, mapping)
    assert workload_check("service plans", LicencePlans(fresh, skus)).problems.empty
    assert workload_check("group owners", again).problems.empty

    megan = new.get(f"users/{new_upn('megan.bowen')}")["id"]
    new.delete(f"groups/{sales['id']}/owners/{megan}/$ref")
    new.post(f"users/{new_upn('alex.wilber')}/assignLicense",
             {"addLicenses": [{"skuId": premium["skuId"], "disabledPlans": []}], "removeLicenses": []})
    owners_found = workload_check("group owners", again)
    assert list(owners_found.problems["detail"]) == [f"{new_upn('megan.bowen')} is not an owner of Sales"]
    plans_found = workload_check("service plans", LicencePlans(fresh, skus))
    assert list(plans_found.problems["detail"]) == ["O365_BUSINESS_PREMIUM: plans off should be TEAMS1"]
    assert plans_found.reopen == [("licence-plans", "key", "alex.wilber@contoso.example",
                                   "alex.wilber@contoso.example: O365_BUSINESS_PREMIUM: plans off should be TEAMS1")]


def test_guests_are_invited_without_mail_once_even_after_a_kill_and_a_blocked_one_fails_alone(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    from tenantmove.workloads.guests import Guests, guest_states
    from tenantmove.workloads.mapping import generate, guests

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    src = inventory.collect(old)
    rows = guests(generate(src, "contoso.example", "contosonew.onmicrosoft.com"))
    assert sorted(rows["target_upn"]) == ["ann.berg@fabrikam.example", "tom.ito@northwind.example"]
    assert set(src.users[src.users["userType"] == "Guest"]["userPrincipalName"]) == set(rows["source_upn"])
    sb.admin("POST", "stats/reset")
    sb.set_knobs(invitations_blocked=["northwind.example"])  # Northwind's settings block invitations
    with Ledger(tmp_path / "l.sqlite", "r") as led:
        first = run_keeping(Engine(led, "30_add_domain_and_users", folder=tmp_path / "p"), Guests(new, rows, src))
    assert first.tally() == {"created": 1, "failed": 1}
    blocked = next(r for r in first.rows if r["action"] == "failed")
    assert "could not invite tom.ito@northwind.example" in blocked["error"] and "cross-tenant access" in blocked["error"]
    sb.set_knobs(invitations_blocked=[])  # they allowed it: the rerun invites only Tom
    with Ledger(tmp_path / "l.sqlite", "again") as led:
        again = run_keeping(Engine(led, "30_add_domain_and_users", folder=tmp_path / "p"), Guests(new, rows, src))
    assert again.tally() == {"done before": 1, "created": 1}
    with Ledger(tmp_path / "lost.sqlite", "after-kill") as led:  # a ledger that never heard of them: found, adopted
        lost = run_keeping(Engine(led, "30_add_domain_and_users", folder=tmp_path / "p"), Guests(new, rows, src))
    assert lost.tally() == {"adopted": 2}
    states = guest_states(new, rows).set_index("invited at")
    assert list(states["state"]) == ["PendingAcceptance", "PendingAcceptance"]  # reported; nobody redeemed yet
    assert len([u for u in new.get_all("users", {"$select": "userType"}) if u.get("userType") == "Guest"]) == 2
    assert sb.admin("GET", "stats")["counts"].get("invitation mails", 0) == 0  # nobody was mailed
    new.post("invitations", {"invitedUserEmailAddress": "eve@example.org", "sendInvitationMessage": True,
                             "inviteRedirectUrl": "https://myapps.microsoft.com"})
    assert sb.admin("GET", "stats")["counts"]["invitation mails"] == 1  # the counter counts (it is not just absent)


def test_a_group_found_in_the_new_tenant_takes_the_old_description_and_visibility_but_not_hidden_membership(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    from tenantmove.workloads.groups import Groups, settings_change

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    src = inventory.collect(old)
    new.post("groups", {"displayName": "Sales", "mailNickname": "sales", "mailEnabled": True, "securityEnabled": False,
                        "groupTypes": ["Unified"], "visibility": "Public", "description": "made by hand"})
    with Ledger(tmp_path / "l.sqlite", "r") as led:
        out = run_keeping(Engine(led, "30_add_domain_and_users", folder=tmp_path / "p"), Groups(new, src))
    sales = next(r for r in out.rows if r["name"] == "Sales")
    assert sales["action"] == "updated"
    made = new.get(f"groups/{sales['target_id']}", {"$select": "description,visibility"})
    assert (made["description"], made["visibility"]) == ("Sales (unified)", "Private")
    marketing = new.get("groups", {"$filter": "mailNickname eq 'marketing'"})["value"][0]
    assert new.get(f"groups/{marketing['id']}", {"$select": "description"})["description"] == "Marketing (unified)"
    change, note = settings_change({"visibility": "HiddenMembership", "kind": "Microsoft 365"},
                                   {"visibility": "Private"})
    assert change == {} and "set only when a group is created" in note


def test_a_groups_delivery_settings_move_by_script_and_are_read_back_and_a_change_is_named(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    """Sales took mail from outside and subscribed its new members: Graph needs a delegated token for both, so the
    old tenant's read-only export is the first item, then one script sets every group (read back from the new
    tenant's export it ends with); the rerun changes nothing; a setting changed behind the back is named."""
    from tenantmove.phases.checks import workload_check
    from tenantmove.workloads.groupdelivery import GroupDelivery
    from tenantmove.workloads.groups import Groups

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    src = inventory.collect(old)
    folder = tmp_path / "readback"
    delivery = GroupDelivery(folder, src.initial_domain, "contosonew.onmicrosoft.com", src.groups)

    def run(run_id: str) -> Outcome:
        with Ledger(tmp_path / "l.sqlite", run_id) as led:
            engine = Engine(led, "30_add_domain_and_users", folder=tmp_path / run_id)
            run_keeping(engine, Groups(new, src))
            return run_keeping(engine, delivery)

    first = run("first")
    assert [r["key"] for r in first.rows] == ["old-export"] and first.tally() == {"manual": 1}
    assert first.script is not None and "Get-UnifiedGroup" in first.script.read_text()
    sb.admin("POST", "powershell/contosonew.onmicrosoft.com", data=first.script.read_bytes())  # it connects to old
    second = run("second")
    moving = set(src.groups[src.groups["kind"] == "Microsoft 365"]["mailNickname"])
    assert {r["key"] for r in second.rows} == {"old-export"} | moving
    assert second.tally() == {"adopted": 1, "manual": len(moving)}
    assert second.script is not None
    text = second.script.read_text()
    assert "Set-UnifiedGroup -Identity 'sales' -RequireSenderAuthenticationEnabled $false " \
           "-AutoSubscribeNewMembers:$true" in text
    assert text.index("Set-UnifiedGroup") < text.index("Get-UnifiedGroup")  # the settings, then the export
    sb.admin("POST", "powershell/contosonew.onmicrosoft.com", data=second.script.read_bytes())
    third = run("third")
    assert third.tally() == {"done before": 1, "adopted": len(moving)}
    assert workload_check("group delivery", delivery).problems.empty
    # behind the runbook's back: Sales closed to outside senders, the export run again
    export = next(line for line in text.splitlines() if line.startswith("Get-UnifiedGroup"))
    sb.admin("POST", "powershell/contosonew.onmicrosoft.com", data=(
        "Set-UnifiedGroup -Identity 'sales' -RequireSenderAuthenticationEnabled $true\n" + export).encode())
    found = workload_check("group delivery", delivery)
    assert list(found.problems["detail"]) == ["allowExternalSenders is False, the old group's True"]
    assert found.reopen == [("group-delivery", "key", "sales",
                             "Sales: delivery settings: allowExternalSenders is False, the old group's True")]
