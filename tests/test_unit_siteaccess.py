"""Site access without a sandbox: how holders are named on each side, the verdicts, and the order of the script."""

from __future__ import annotations

from tenantmove.engine import ManualStep
from tenantmove.workloads.sharing import Grantees
from tenantmove.workloads.siteaccess import EVERYONE, Namer, SiteAccess, compare

OLD_SALES, NEW_SALES = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002"
NAMER = Namer(Grantees({}, {OLD_SALES: NEW_SALES}, {NEW_SALES: "Sales"}, {"megan@old.example": "megan@new.example"}),
              "new-tenant-id")


def _member(login: str, title: str = "", kind: int = 1, email: str = "", mid: int = 9) -> dict[str, object]:
    return {"Id": mid, "LoginName": login, "Title": title, "PrincipalType": kind, "Email": email}


def test_holders_are_named_as_the_new_tenant_knows_them() -> None:
    person = NAMER.holder(_member("i:0#.f|membership|megan@old.example", "Megan", email="megan@old.example"), {}, "old")
    assert (person.key, person.kind, person.value) == ("megan@new.example", "User", "megan@new.example")
    leaver = NAMER.holder(_member("i:0#.f|membership|pat@old.example", "Pat Leaver"), {}, "old")
    assert leaver.left == "Pat Leaver" and leaver.key.endswith("(not moving)")
    owners = NAMER.holder(_member(f"c:0o.c|federateddirectoryclaimprovider|{OLD_SALES}_o", kind=4), {}, "old")
    assert (owners.key, owners.value) == ("group Sales (owners)", f"c:0o.c|federateddirectoryclaimprovider|{NEW_SALES}_o")
    everyone = NAMER.holder(_member("c:0-.f|rolemanager|spo-grid-all-users/old-tenant-id", kind=4), {}, "old")
    assert (everyone.key, everyone.value) == (EVERYONE, "c:0-.f|rolemanager|spo-grid-all-users/new-tenant-id")
    site_owners = NAMER.holder(_member("Contoso Owners", "Contoso Owners", kind=8, mid=3), {3: "Owners"}, "old")
    assert (site_owners.key, site_owners.kind, site_owners.value) == ("site group: the site's Owners", "Group", "")
    custom = NAMER.holder(_member("Finance team", "Finance team", kind=8, mid=4), {3: "Owners"}, "old")
    assert (custom.key, custom.value) == ("site group Finance team", "Finance team")


def test_verdicts_name_missing_extra_wider_and_narrower_and_leave_out_who_does_not_move() -> None:
    rows = {r["who"]: r["verdict"] for r in compare(
        {"a": {"Edit"}, "b": {"Read"}, "c": {"Full Control"}, "gone (not moving)": {"Read"}},
        {"b": {"Edit"}, "c": {"Read"}, "d": {"Read"}}, {"gone (not moving)"})}
    assert rows == {"a": "missing", "b": "wider than before", "c": "narrower than before",
                    "d": "extra: the old tenant did not give it"}


def test_the_script_sets_parents_before_children() -> None:
    url = "https://new.example/sites/x"
    keys = ["item/Suppliers/2", "folder/Finance/Payroll/2026", "list/Finance", "site", "group|site group Finance team",
            "folder/Finance/Payroll"]
    steps = [ManualStep(f"{url}|{k}", k, []) for k in keys]
    ordered = [s.title for s in SiteAccess.combine_manual(SiteAccess.__new__(SiteAccess), steps)]
    assert ordered == ["group|site group Finance team", "site", "list/Finance", "folder/Finance/Payroll",
                       "folder/Finance/Payroll/2026", "item/Suppliers/2"]
