"""Who made and last changed each list item, and when, through the real client and the sandbox: with a secret,
SharePoint's REST API is refused up front and the PnP script sets them, read back by the next run; with a
certificate, ValidateUpdateListItem sets them at once (no new version); someone who left keeps the migration
account there, named; an editor changed behind the runbook's back is named by the reconciliation; an item's
versions follow it in order, each with its editor and date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.phases.checks import workload_check
from tenantmove.services.auth import SignIn
from tenantmove.services.graph import GraphClient
from tenantmove.services.sprest import SharePointRest
from tenantmove.workloads.authorship import ListAuthorship
from tenantmove.workloads.lists import ListPlan, versions
from tenantmove.workloads.versions import ListVersions

from .conftest import TARGET_APP, make_client, tenant_config
from .files_helpers import NEW, make_target_users, new_upn, run_keeping
from .test_auth_sandbox import _self_signed
from .test_sites_sandbox import EMAILS, new_group, rebuild

MEGAN = new_upn("megan.bowen")


@pytest.fixture
def world(fresh_sandbox: Any) -> tuple[Any, GraphClient, GraphClient]:
    """Megan and Alex in the new tenant, Sales and Marketing made (their sites follow), as for phase 50."""
    sb = fresh_sandbox
    sb.set_knobs(group_site_seconds=0.3)
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    make_target_users(sb, new, ("megan.bowen", "alex.wilber"), provision=False)
    new_group(new, "sales", [new_upn("alex.wilber")])
    new_group(new, "marketing")
    return sb, old, new


def _rest(sb: Any, **overrides: str) -> SharePointRest:
    config = tenant_config("target", **overrides) if overrides else tenant_config("target")
    signin = SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file)
    return SharePointRest(signin, verify=sb.ca_file, sandbox_url=sb.endpoints["sharepoint_url"])


def _moved(sb: Any, old: GraphClient, new: GraphClient, tmp: Path,
           versions: bool = True) -> tuple[Any, dict[str, str], dict[str, str]]:
    out = rebuild(sb, old, new, tmp / "l.sqlite", versions=versions)
    with Ledger(tmp / "l.sqlite") as led:
        lists = {i.source_id: str(i.target_id) for i in led.items("list", ["done"]) if i.target_id}
        items = {i.source_id: str(i.target_id) for i in led.items("list-item", ["done", "manual"]) if i.target_id}
    return out["_sites"], lists, items


def _new_person(old: GraphClient) -> Any:
    ids = {u["id"].lower(): EMAILS[u["userPrincipalName"]] for u in old.get_all("users")
           if u["userPrincipalName"] in EMAILS}
    return lambda who: ids.get(who["id"].lower()) or EMAILS.get(who["email"])


def _run(tmp: Path, workload: ListAuthorship, run_id: str) -> Outcome:
    with Ledger(tmp / "authors.sqlite", run_id) as led:
        return run_keeping(Engine(led, "50_team_sites", folder=tmp / run_id, workers=4), workload)


def _customers(new: GraphClient) -> list[dict[str, Any]]:
    site = new.get("sites/contosonew.sharepoint.com:/sites/sales")
    lst = next(x for x in new.get(f"sites/{site['id']}/lists")["value"] if x["displayName"] == "Customers")
    return new.get_all(f"sites/{site['id']}/lists/{lst['id']}/items")


def test_with_a_secret_the_pnp_script_sets_the_authors_and_the_next_run_reads_them_back(world: tuple,
                                                                                        tmp_path: Path) -> None:
    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path)
    assert "certificate" in _rest(sb).usable()
    plan = ListPlan.read(sites)
    first = _run(tmp_path, ListAuthorship(plan, lists, items, _new_person(old)), "first")
    assert first.tally() == {"manual": len(items)}  # every item shows the migration account and today
    script = (tmp_path / "first" / "manual-list-authorship.ps1").read_text()
    per_site = {e.site.target_url for e in plan.lists if e.key in lists and e.items}
    assert script.count("Connect-PnPOnline") == len(per_site) and "-UpdateType UpdateOverwriteVersion" in script
    sb.admin("POST", f"powershell/{NEW}", data=script.encode())
    again = _run(tmp_path, ListAuthorship(ListPlan.read(sites), lists, items, _new_person(old)), "again")
    assert again.tally() == {"adopted": len(items)}
    with Ledger(tmp_path / "authors.sqlite") as led:
        left = [i.name for i in led.items("list-authorship") if "Pat Leaver" in str(i.detail.get("left"))]
    assert len(left) == len([e for e in plan.lists if e.key in lists and len(e.items) > 4])  # item 5 of each list
    megan_made = [i for i in _customers(new) if (i["createdBy"]["user"].get("email") or "") == MEGAN]
    assert megan_made and all(i["createdDateTime"].startswith("2023-05-0") for i in megan_made)


def test_with_a_certificate_rest_sets_them_at_once_and_a_change_behind_the_back_is_named(world: tuple,
                                                                                       tmp_path: Path) -> None:
    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path)
    pem = _self_signed(tmp_path)
    sb.admin("POST", f"apps/{TARGET_APP}/certificates", data=pem.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
    rest = _rest(sb, auth="certificate", certificate_file=str(pem), secret_env="")
    assert rest.usable() == ""
    plan = ListPlan.read(sites)
    before = {i["id"]: i["eTag"] for i in _customers(new)}
    first = _run(tmp_path, ListAuthorship(plan, lists, items, _new_person(old), rest), "first")
    assert first.tally() == {"updated": len(items)}
    customers = _customers(new)
    assert {i["id"]: i["eTag"] for i in customers} == before  # no version added
    check = ListAuthorship(ListPlan.read(sites), lists, items, _new_person(old))
    assert workload_check("list authorship", check).problems.empty
    site = new.get("sites/contosonew.sharepoint.com:/sites/sales")
    lst = next(x for x in new.get(f"sites/{site['id']}/lists")["value"] if x["displayName"] == "Customers")
    edited = next(i for i in customers if (i["lastModifiedBy"]["user"].get("email") or "") == MEGAN)
    new.patch(f"sites/{site['id']}/lists/{lst['id']}/items/{edited['id']}/fields", {"Notes": "changed"})
    found = workload_check("list authorship", check)
    assert list(found.problems["detail"]) == ["Editor, Modified differ"]


def test_files_take_their_authors_by_rest_or_by_pnp_and_a_leaver_is_named(fresh_sandbox: Any, tmp_path: Path) -> None:
    """Megan's Budget was last changed by Alex: the new file says so (its item in the OneDrive's list, found through
    sharepointIds); without a certificate the PnP script does it, read back by the next run."""
    from tenantmove.workloads.authorship import FileAuthorship
    from tenantmove.workloads.files import DriveCopy
    from tenantmove.workloads.onedrive import find_pairs

    from .files_helpers import clients, copy_files, moving

    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    make_target_users(sb, new)
    copy_files(sb, tmp_path / "files.sqlite")
    old_graph = make_client(sb, "source")[1]

    def workload(rest: SharePointRest | None) -> FileAuthorship:
        o, n = clients(sb)
        return FileAuthorship(DriveCopy(o, n, find_pairs(o, n, moving())), _new_person(old_graph), rest,
                              "drive-authorship")

    drive = new.get(f"users/{MEGAN}/drive")["id"]
    budget = new.get(f"drives/{drive}/root:/Campaigns/2026/Budget.xlsx")
    assert budget["lastModifiedBy"]["user"]["displayName"] == "tenantmove (app)"  # as copied
    first = _run(tmp_path, workload(None), "first")
    assert first.count("manual") > 0 and not first.failed
    script = (tmp_path / "first" / "manual-drive-authorship.ps1").read_text()
    assert "Connect-PnPOnline -Url 'https://contosonew-my.sharepoint.com/personal/" in script
    sb.admin("POST", f"powershell/{NEW}", data=script.encode())
    again = _run(tmp_path, workload(None), "again")
    assert again.tally() == {"adopted": first.count("manual")}
    budget = new.get(f"drives/{drive}/root:/Campaigns/2026/Budget.xlsx")
    assert (budget["createdBy"]["user"]["email"], budget["lastModifiedBy"]["user"]["email"]) == (
        MEGAN, new_upn("alex.wilber"))

    new.request("PUT", f"drives/{drive}/root:/Campaigns/2026/Budget.xlsx:/content", data=b"changed by the app")
    pem = _self_signed(tmp_path)
    sb.admin("POST", f"apps/{TARGET_APP}/certificates", data=pem.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
    rest = _rest(sb, auth="certificate", certificate_file=str(pem), secret_env="")
    check = workload(None)
    named = list(workload_check("OneDrive authorship", check).problems["detail"])  # Modified too, unless in the minute
    assert len(named) == 1 and named[0].startswith("Editor") and named[0].endswith("differ")
    with Ledger(tmp_path / "authors.sqlite", "repair") as led:  # as phase 90 reopens it
        keys = [i.source_id for i in led.items("drive-authorship") if "Budget.xlsx" in (i.name or "")]
        assert led.reopen("drive-authorship", keys, "differs") == 1
    repaired = _run(tmp_path, workload(rest), "repair")
    assert repaired.count("updated") == 1
    assert workload_check("OneDrive authorship", workload(None)).problems.empty


def test_attachments_move_with_their_items_once_each_and_a_missing_one_is_named(world: tuple, tmp_path: Path) -> None:
    """Graph has no API for a list item's attachments: with both apps' certificates (the sandbox made them)
    SharePoint's REST API reads them in the old site and adds them to the new item, byte for byte, once."""
    from tenantmove.workloads.attachments import ListAttachments

    from .conftest import SOURCE_APP

    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path)
    certs = sb.endpoints["app_certificates"]

    def rest(side: str, app: str) -> SharePointRest:
        config = tenant_config(side, auth="certificate", certificate_file=certs[app], secret_env="")
        return SharePointRest(SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file),
                              verify=sb.ca_file, sandbox_url=sb.endpoints["sharepoint_url"])

    old_rest, new_rest = rest("source", SOURCE_APP), rest("target", TARGET_APP)
    assert old_rest.usable() == "" and new_rest.usable() == ""
    plan = ListPlan.read(sites)
    with_files = [(e, i) for e in plan.lists if e.key in lists for i in e.items if (i.get("fields") or {})
                  .get("Attachments")]
    assert with_files, "the seed attaches files to some items"
    workload = ListAttachments(plan, lists, items, old_rest, new_rest)
    first = _run(tmp_path, workload, "first")
    assert first.tally() == {"created": 2 * len(with_files)}  # a contract and a photo each
    assert workload.made == {f"{e.key}|{i['id']}" for e, i in with_files}
    again = _run(tmp_path, ListAttachments(ListPlan.read(sites), lists, items, old_rest, new_rest), "again")
    assert again.tally() == {"done before": 2 * len(with_files)}
    e, item = with_files[0]
    title = e.source["displayName"]
    new_id = items[f"{e.key}|{item['id']}"]
    files = new_rest.get(e.site.target_url, f"web/lists/GetByTitle('{title}')/items({new_id})/AttachmentFiles")["value"]
    contract = next(f for f in files if f["FileName"].startswith("contract"))
    new_bytes = new_rest.get_bytes(e.site.target_url, f"web/GetFileByServerRelativeUrl('{contract['ServerRelativeUrl']}')/$value")
    old_files = old_rest.get(e.site.label, f"web/lists/GetByTitle('{title}')/items({item['id']})/AttachmentFiles")["value"]
    old_url = next(f for f in old_files if f["FileName"] == contract["FileName"])["ServerRelativeUrl"]
    assert new_bytes == old_rest.get_bytes(e.site.label, f"web/GetFileByServerRelativeUrl('{old_url}')/$value")
    check = ListAttachments(ListPlan.read(sites), lists, items, old_rest, new_rest)
    assert workload_check("list attachments", check).problems.empty
    without = ListAttachments(ListPlan.read(sites), lists, items, None, new_rest)  # no certificate in the old tenant
    manual = _run(tmp_path, without, "no certificate")
    assert manual.tally() == {"manual": len(with_files)}
    assert "Add-PnPListItemAttachment" in (tmp_path / "no certificate" / "manual-list-attachment.ps1").read_text()


def test_without_certificates_phase_90_says_attachments_were_not_compared_not_that_they_differ(
        fresh_sandbox: Any) -> None:
    from tenantmove.phases.team_sites import attachments_check

    sb = fresh_sandbox

    class SecretsOnly:  # a phase whose apps sign in with secrets only
        def sharepoint(self, side: str) -> SharePointRest:
            return _rest(sb) if side == "target" else SharePointRest(
                SignIn(tenant_config("source"), authority_host=sb.endpoints["authority_host"], verify=sb.ca_file))

    check = attachments_check(SecretsOnly(), ListPlan(None, []), {})  # type: ignore[arg-type]
    assert check.problems.empty and check.rows[0]["item"] == "(not compared)"
    assert "certificates" in check.rows[0]["detail"]


# --- a list item's versions (workloads/versions.py): made as its first version, the later ones replayed ---

def _cert_rest(sb: Any) -> SharePointRest:
    config = tenant_config("target", auth="certificate", certificate_file=sb.endpoints["app_certificates"][TARGET_APP],
                           secret_env="")
    return SharePointRest(SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file),
                          verify=sb.ca_file, sandbox_url=sb.endpoints["sharepoint_url"])


def _run_versions(tmp: Path, workload: ListVersions, run_id: str) -> Outcome:
    with Ledger(tmp / "versions.sqlite", run_id) as led:
        return run_keeping(Engine(led, "50_team_sites", folder=tmp / run_id, workers=4), workload)


def _history(new: GraphClient, item_id: str) -> list[tuple[str, str, str]]:
    site = new.get("sites/contosonew.sharepoint.com:/sites/sales")
    lst = next(x for x in new.get(f"sites/{site['id']}/lists")["value"] if x["displayName"] == "Customers")
    return [(v["fields"]["Title"], str(v["lastModifiedBy"]["user"].get("email") or ""), v["lastModifiedDateTime"])
            for v in versions(new, site["id"], lst["id"], item_id)]


def test_an_items_versions_follow_in_order_with_their_editors_and_dates(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path, versions=False)
    plan = ListPlan.read(sites)
    customers = next(e for e in plan.lists if e.source["displayName"] == "Customers" and e.key in lists)
    fourth = next(i for i in customers.items if i["id"] == "4")  # seeded with a draft and a reviewed version
    new_id = items[f"{customers.key}|4"]
    assert [t for t, _, _ in _history(new, new_id)] == ["Customers 004 (draft)"]  # made as its first version

    first = _run_versions(tmp_path, ListVersions(plan, lists, items, EMAILS, _new_person(old), _cert_rest(sb)), "first")
    assert not first.failed and first.count("updated") >= 3, first.rows
    history = _history(new, new_id)
    old_history = versions(old, customers.site.source["id"], customers.source["id"], "4")
    assert [t for t, _, _ in history] == ["Customers 004 (draft)", "Customers 004 (reviewed)", "Customers 004"]
    assert [d[:16] for _, _, d in history] == [str(v["lastModifiedDateTime"])[:16] for v in old_history]
    mapped = [EMAILS.get(str(v["lastModifiedBy"]["user"].get("email")), "") for v in old_history]
    assert [e for _, e, _ in history if e] == [m for m in mapped if m]  # each version's editor, where they move
    assert fourth["fields"]["_UIVersionString"] == "3.0"

    again = _run_versions(tmp_path, ListVersions(ListPlan.read(sites), lists, items, EMAILS, _new_person(old), _cert_rest(sb)),
                 "again")
    assert set(again.tally()) == {"done before"}
    check = workload_check("list versions", ListVersions(ListPlan.read(sites), lists, items, EMAILS, _new_person(old),
                                                         _cert_rest(sb)))
    assert check.problems.empty and len(check.rows) == first.count("updated")
    assert len(_history(new, new_id)) == 3  # nothing written twice


def test_without_a_certificate_the_content_follows_and_the_item_says_whose_it_is(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path, versions=False)
    plan = ListPlan.read(sites)
    first = _run_versions(tmp_path, ListVersions(plan, lists, items, EMAILS, _new_person(old), None), "first")
    assert not first.failed and first.count("updated") >= 3
    with Ledger(tmp_path / "versions.sqlite") as led:
        notes = [led.history("list-version", r["key"])[-1]["note"] for r in first.rows if r["action"] == "updated"]
    assert notes and all("migration account" in n for n in notes)  # said on each item, never silently
    customers = next(e for e in plan.lists if e.source["displayName"] == "Customers" and e.key in lists)
    assert [t for t, _, _ in _history(new, items[f"{customers.key}|4"])] == [
        "Customers 004 (draft)", "Customers 004 (reviewed)", "Customers 004"]


def test_an_item_made_by_a_killed_pass_is_adopted_as_its_first_version(world: tuple, tmp_path: Path) -> None:
    """Killed after the item was made and before the ledger said so: the rerun finds it and leaves it a draft (no
    current content written over it), so its history still follows in order."""
    from tenantmove.workloads.lists import ListItems

    sb, old, new = world
    sites, lists, items = _moved(sb, old, new, tmp_path, versions=False)
    plan = ListPlan.read(sites)
    customers = next(e for e in plan.lists if e.source["displayName"] == "Customers" and e.key in lists)
    with Ledger(tmp_path / "forgot.sqlite", "rerun") as led:  # a ledger that never heard of the items
        again = run_keeping(Engine(led, "50_team_sites", folder=tmp_path / "rerun", workers=4),
                            ListItems(plan, [customers], lists, items, EMAILS))
    fourth = next(r for r in again.rows if r["key"] == f"{customers.key}|4")
    assert fourth["action"] == "adopted"
    assert [t for t, _, _ in _history(new, items[f"{customers.key}|4"])] == ["Customers 004 (draft)"]
    _run_versions(tmp_path, ListVersions(plan, lists, items, EMAILS, _new_person(old), _cert_rest(sb)), "first")
    assert [t for t, _, _ in _history(new, items[f"{customers.key}|4"])] == [
        "Customers 004 (draft)", "Customers 004 (reviewed)", "Customers 004"]
