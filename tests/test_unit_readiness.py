"""Readiness and permission rules on small hand-built inventories (no network)."""

from __future__ import annotations

import pandas as pd
import pytest

from tenantmove.errors import NotReady
from tenantmove.runbook.permissions import check, satisfied_by
from tenantmove.runbook.readiness import Verdict, assess, require, stop_unless_ready, verdict
from tenantmove.workloads.inventory import Inventory

ALL_APP = {"Directory.ReadWrite.All", "Domain.ReadWrite.All", "Organization.Read.All", "Application.ReadWrite.All",
           "Policy.ReadWrite.ApplicationConfiguration", "Sites.FullControl.All", "Files.ReadWrite.All",
           "Mail.ReadWrite", "Contacts.ReadWrite", "Calendars.ReadWrite", "Tasks.ReadWrite.All", "Group.ReadWrite.All",
           "MailboxFolder.ReadWrite.All", "MailboxItem.ImportExport.All", "Policy.ReadWrite.ConditionalAccess",
           "Policy.ReadWrite.Authorization", "SharePointTenantSettings.ReadWrite.All",
           "Policy.ReadWrite.AuthenticationMethod", "Organization.ReadWrite.All", "GroupSettings.ReadWrite.All",
           "TeamsUserConfiguration.Read.All", "ReportSettings.ReadWrite.All", "PeopleSettings.ReadWrite.All",
           "MailboxSettings.ReadWrite", "Place.Read.All", "Teamwork.Migrate.All", "ChannelMember.ReadWrite.All",
           "ChannelMessage.Read.All", "Chat.Read.All", "Chat.Create", "TeamsTab.ReadWrite.All", "Mail.Send",
           "UserAuthenticationMethod.ReadWrite.All", "Device.Read.All", "DeviceManagementManagedDevices.Read.All",
           "DeviceManagementServiceConfig.Read.All"}


def inv(tid: str, initial: str, domains: list[tuple[str, bool]], users: list[str], skus: dict[str, int]) -> Inventory:
    return Inventory(
        organization={"id": tid, "verifiedDomains": [{"name": initial, "isInitial": True}]},
        domains=pd.DataFrame([{"domain": d, "verified": v, "default": False, "initial": d == initial, "services": ""}
                              for d, v in [(initial, True), *domains]]),
        users=pd.DataFrame([{"id": str(i), "userPrincipalName": f"u{i}@x", "licences": lic} for i, lic in enumerate(users)],
                           columns=["id", "userPrincipalName", "licences"]),
        groups=pd.DataFrame(columns=["id"]), memberships=pd.DataFrame(columns=["group_id"]),
        licences=pd.DataFrame([{"skuPartNumber": k, "available": v} for k, v in skus.items()],
                              columns=["skuPartNumber", "available"]),
        dns_records=pd.DataFrame())


def results(checks: list) -> dict[str, str]:  # noqa: ANN001
    return {c.check: c.result for c in checks}


def test_a_healthy_pair_is_ready() -> None:
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], ["E3", "E3", ""], {"E3": 0})
    new = inv("t2", "b.onmicrosoft.com", [], [], {"E3": 5})
    perms = check({"source": ALL_APP, "target": ALL_APP}, {"source": "application", "target": "application"})
    checks = assess("a.com", old, new, perms)
    assert verdict(checks) == "ready", checks


def test_same_tenant_and_same_initial_domain_fail() -> None:
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], [], {})
    r = results(assess("a.com", old, old, []))
    assert r["two tenants"] == "fail" and r["initial domain"] == "fail"


def test_domain_not_in_old_tenant_fails_and_already_moved_warns() -> None:
    old = inv("t1", "a.onmicrosoft.com", [], [], {})
    assert results(assess("a.com", old, inv("t2", "b.onmicrosoft.com", [], [], {}), []))["custom domain"] == "fail"
    moved = inv("t2", "b.onmicrosoft.com", [("a.com", True)], [], {})
    assert results(assess("a.com", old, moved, []))["custom domain"] == "warn"


def test_too_few_seats_warn_per_sku() -> None:
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], ["E3", "E3", "E3 F1"], {})
    new = inv("t2", "b.onmicrosoft.com", [], [], {"E3": 2, "F1": 1})
    check_ = next(c for c in assess("a.com", old, new, []) if c.check == "licences in the new tenant")
    assert check_.result == "warn" and "E3: 3 needed, 2 available" in check_.detail and "F1" not in check_.detail


def test_missing_permission_for_this_phase_fails_and_later_warns() -> None:
    rows = check({"source": {"Directory.Read.All"}, "target": {"Directory.Read.All"}},
                 {"source": "application", "target": "application"})
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], [], {})
    new = inv("t2", "b.onmicrosoft.com", [], [], {})
    r = results(assess("a.com", old, new, rows))
    assert r["permissions for this phase"] == "ok"  # Directory.Read.All covers every read of phase 00
    assert r["permissions for the cutover (phases 10-30)"] == "fail"  # cannot rename or create users
    assert r["permissions for later phases"] == "warn"
    rows = check({"source": {"User.Read.All"}, "target": set()}, {"source": "application", "target": "application"})
    assert results(assess("a.com", old, new, rows))["permissions for this phase"] == "fail"


def test_a_device_code_sign_in_is_judged_by_its_delegated_scopes() -> None:
    scopes = {"User.Read", "Directory.Read.All", "Notes.Read.All"}  # can read, cannot rename users
    rows = check({"source": scopes, "target": scopes}, {"source": "delegated", "target": "delegated"})
    by_phase = {(r.phase, r.permission): r.status for r in rows if r.side == "source"}
    assert by_phase[("00_prepare", "User.Read.All")] == "granted"
    assert by_phase[("20_release_domain", "User.ReadWrite.All")] == "MISSING"  # not "at sign-in" any more
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], [], {})
    new = inv("t2", "b.onmicrosoft.com", [], [], {})
    verdict_rows = results(assess("a.com", old, new, rows))
    assert verdict_rows["permissions for this phase"] == "ok"
    assert verdict_rows["permissions for the cutover (phases 10-30)"] == "fail"  # stopped in phase 00


def test_delegated_rows_are_not_judged_from_an_app_token() -> None:
    rows = check({"source": ALL_APP, "target": ALL_APP}, {"source": "application", "target": "application"},
                 phases=["80_onenote"])
    assert {r.status for r in rows} == {"at sign-in"}
    assert satisfied_by("User.Read.All", {"Directory.Read.All"}) == "Directory.Read.All"
    assert satisfied_by("User.ReadWrite.All", {"User.Read.All"}) == ""


def test_later_phases_read_the_verdict(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(NotReady, match="has not produced"):
        require(tmp_path)
    Verdict("not ready", [], "now", "r1").save(tmp_path)
    with pytest.raises(NotReady, match="not ready"):
        require(tmp_path)
    Verdict("ready with warnings", [], "now", "r2").save(tmp_path)
    assert require(tmp_path)["run_id"] == "r2"
    with pytest.raises(NotReady):
        stop_unless_ready(Verdict("not ready", []))


def test_tokens_are_renewed_five_minutes_before_a_long_lifetime_ends() -> None:
    from tenantmove.services.auth import SignIn, TenantConfig

    s = SignIn(TenantConfig("source", "t.onmicrosoft.com", "00000000-0000-0000-0000-000000000000"))
    s._lifetime = 3600
    assert s.refresh_margin_for_lifetime() == 300
    s._lifetime = 10
    assert s.refresh_margin_for_lifetime() == 2


def test_a_device_code_sign_in_also_needs_the_directory_roles_of_the_cutover() -> None:
    scopes = ALL_APP | {"User.Read"}
    kinds = {"source": "delegated", "target": "delegated"}
    reader = check({"source": scopes, "target": scopes}, kinds, roles={"source": set(), "target": set()})
    missing = {(r.phase, r.permission) for r in reader if r.missing}
    assert ("20_release_domain", "role: User Administrator") in missing
    assert ("30_add_domain_and_users", "role: Domain Name Administrator") in missing
    old = inv("t1", "a.onmicrosoft.com", [("a.com", True)], [], {})
    new = inv("t2", "b.onmicrosoft.com", [], [], {})
    assert results(assess("a.com", old, new, reader))["permissions for the cutover (phases 10-30)"] == "fail"
    admin = check({"source": scopes, "target": scopes}, kinds,
                  roles={"source": {"Global Administrator"}, "target": {"Global Administrator"}})
    assert not [r for r in admin if r.missing and r.permission.startswith("role:")]
    app = check({"source": ALL_APP, "target": ALL_APP}, {"source": "application", "target": "application"}, roles={})
    assert not [r for r in app if r.permission.startswith("role:")]  # an app holds no directory role


def test_a_permission_only_a_parameter_asks_for_is_not_needed_without_it() -> None:
    from types import SimpleNamespace

    granted = {"source": ALL_APP - {"Mail.Send"}, "target": ALL_APP - {"UserAuthenticationMethod.ReadWrite.All"}}
    quiet = check(granted, params=SimpleNamespace(announce_from="", first_day_passes=False))
    assert not [r for r in quiet if r.missing]
    assert {r.status for r in quiet if r.permission in ("Mail.Send", "UserAuthenticationMethod.ReadWrite.All")} == {
        "not needed (announce_from is not set)", "not needed (first_day_passes is not set)"}
    asked = check(granted, params=SimpleNamespace(announce_from="it@a.com", first_day_passes=True))
    assert {(r.phase, r.permission) for r in asked if r.missing} == {
        ("10_new_subscription", "Mail.Send"), ("40_admin_settings", "UserAuthenticationMethod.ReadWrite.All")}
