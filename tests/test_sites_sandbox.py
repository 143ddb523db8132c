"""Team sites through the real client and the sandbox: group sites that appear late, sites made through
beta or by the admin, libraries and their files, lists with every column type, items with people and
lookups, the manual steps (and their rerun), a URL already taken, and a rerun that changes nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import Engine, ItemsFailed, Ledger, Outcome, Workload
from tenantmove.sandbox import Sandbox
from tenantmove.services.drives import DriveClient
from tenantmove.services.graph import GraphClient, GraphError
from tenantmove.services.sites import SiteClient
from tenantmove.workloads.files import DriveCopy, DriveFiles, DriveFolders
from tenantmove.workloads.lists import Columns, ListItems, ListPlan, Lists, left_blank
from tenantmove.workloads.sites import Libraries, Sites, map_sites
from tenantmove.workloads.versions import ListVersions

from .conftest import make_client
from .files_helpers import NEW, Confirmed, make_target_users, new_upn, run_keeping
from .files_helpers import OLD as OLD_TENANT

OLD_GROUPS = {"sales": {"mailNickname": "sales"}, "marketing": {"mailNickname": "marketing"}}


def new_group(new: GraphClient, nick: str, members: list[str] = ()) -> dict[str, Any]:
    group = new.post("groups", {"displayName": nick.title(), "mailNickname": nick, "mailEnabled": True,
                                "securityEnabled": False, "groupTypes": ["Unified"]})
    for upn in members:
        user = new.get(f"users/{upn}")
        new.post(f"groups/{group['id']}/members/$ref",
                 {"@odata.id": f"{new.base_url}/directoryObjects/{user['id']}"})
    return group


@pytest.fixture
def world(fresh_sandbox: Sandbox) -> tuple[Sandbox, GraphClient, GraphClient]:
    sb = fresh_sandbox
    sb.set_knobs(group_site_seconds=0.3)
    _, old = make_client(sb, "source")
    _, new = make_client(sb, "target")
    make_target_users(sb, new, ("megan.bowen", "alex.wilber"), provision=False)
    new_group(new, "sales", [new_upn("alex.wilber")])
    new_group(new, "marketing")
    return sb, old, new


EMAILS = {"megan.bowen@contoso.example": new_upn("megan.bowen"), "alex.wilber@contoso.example": new_upn("alex.wilber")}


def rebuild(sb: Sandbox, old: GraphClient, new: GraphClient, ledger_path: Path, *, beta: bool = True,
            wait: float = 10.0, stop_after_libraries: bool = False,
            emails: dict[str, str] | None = None, versions: bool = True) -> dict[str, Outcome]:
    """What phase 50's apply does, without a notebook around it (``versions``: with each item's history replayed)."""
    sites = map_sites(SiteClient(old), SiteClient(new), new, OLD_GROUPS, "contosonew.sharepoint.com")
    out: dict[str, Outcome] = {}
    with Ledger(ledger_path, "r") as ledger:
        engine = Engine(ledger, "50_team_sites", folder=ledger_path.parent / "phase", workers=4)

        def run(name: str, workload: Workload) -> Outcome:
            out[name] = run_keeping(engine, workload)
            return out[name]

        sites.attach(run("sites", Sites(sites, f"admin@{NEW}", beta=beta, wait_seconds=wait,
                                        poll_seconds=0.1)).targets())
        libraries = Libraries(sites)
        copy = DriveCopy(DriveClient(old), DriveClient(new), libraries.pairs_for(run("libraries", libraries).targets()))
        if stop_after_libraries:  # killed once the libraries were recorded, before any of their files
            return out
        run("folders", DriveFolders(copy, "library-folder"))
        run("files", DriveFiles(copy, "library-file"))
        plan = ListPlan.read(sites)
        targets = run("lists", Lists(plan)).targets()
        run("columns", Columns(plan, targets, calculated=False))
        run("calculated", Columns(plan, targets, calculated=True))
        done: dict[str, str] = {}
        for i, level in enumerate(plan.levels()):
            done.update(run(f"items{i}", ListItems(plan, level, targets, done, emails or EMAILS)).targets())
        if versions:
            run("versions", ListVersions(plan, targets, done, emails or EMAILS, lambda who: None, None))
    out["_sites"] = sites  # type: ignore[assignment]
    return out


def new_site(new: GraphClient, path: str) -> dict[str, Any]:
    return new.get(f"sites/contosonew.sharepoint.com:/{path}")


def test_sites_libraries_lists_columns_and_items_are_rebuilt(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    out = rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    assert out["sites"].counts() == {"ready": 3, "created (beta)": 1, "manual": 1}, out["sites"].rows
    subsite = (tmp_path / "phase" / "manual-site.ps1").read_text()
    assert "New-PnPWeb -Title 'EMEA sales' -Url 'emea' -Template 'STS#3'" in subsite
    assert not out["files"].failed and out["files"].count("copied") == 8  # sales 3, marketing 2, intranet 3
    sales = new_site(new, "sites/sales")
    contracts = next(d for d in new.get_all(f"sites/{sales['id']}/drives") if d["name"] == "Contracts")
    agreement = new.get(f"drives/{contracts['id']}/root:/2026/ACME master agreement.pdf")
    src_sales = old.get("sites/contoso.sharepoint.com:/sites/sales")
    src_contracts = next(d for d in old.get_all(f"sites/{src_sales['id']}/drives") if d["name"] == "Contracts")
    original = old.get(f"drives/{src_contracts['id']}/root:/2026/ACME master agreement.pdf")
    assert agreement["file"]["hashes"] == original["file"]["hashes"]
    assert agreement["fileSystemInfo"]["lastModifiedDateTime"] == "2026-02-03T04:05:06Z"

    columns = {c["name"]: c for c in new.get_all(f"sites/{sales['id']}/lists/Customers/columns")}
    for name, facet in (("Region", "choice"), ("Revenue", "currency"), ("Employees", "number"), ("Signed", "dateTime"),
                        ("Active", "boolean"), ("Notes", "text"), ("AccountManager", "personOrGroup"),
                        ("RevenuePerEmployee", "calculated")):
        assert facet in columns[name], name
    assert "Website" in columns  # hyperlink: Graph shows no facet; recognised by its values and created
    assert columns["Region"]["choice"]["choices"] == ["North", "South", "East", "West"]
    assert "Segment" not in columns  # managed metadata: the admin's step
    term = (tmp_path / "phase" / "manual-list-column.ps1").read_text()
    assert "Add-PnPField -List 'Customers' -DisplayName 'Segment' -InternalName 'Segment' -Type TaxonomyFieldType" in term
    orders_lookup = next(c for c in new.get_all(f"sites/{sales['id']}/lists/Orders/columns") if c["name"] == "Customer")
    customers = next(lst for lst in new.get_all(f"sites/{sales['id']}/lists") if lst["displayName"] == "Customers")
    assert orders_lookup["lookup"]["listId"] == customers["id"]

    old_items = {i["fields"]["Title"]: i["fields"] for i in SiteClient(old).items(src_sales["id"], "Customers")}
    new_items = {i["fields"]["Title"]: i["fields"] for i in SiteClient(new).items(sales["id"], "Customers")}
    assert set(new_items) == set(old_items) and len(new_items) == 30
    first = new_items["Customers 001"]
    assert first["Website"] == old_items["Customers 001"]["Website"] and first["Region"] == "North"
    assert first["RevenuePerEmployee"] == old_items["Customers 001"]["RevenuePerEmployee"]
    # lookups point at the same customer in the new list
    old_orders = {i["fields"]["Title"]: i["fields"] for i in SiteClient(old).items(src_sales["id"], "Orders")}
    new_orders = {i["fields"]["Title"]: i["fields"] for i in SiteClient(new).items(sales["id"], "Orders")}
    old_titles = {i["id"]: i["fields"]["Title"] for i in SiteClient(old).items(src_sales["id"], "Customers")}
    new_titles = {i["id"]: i["fields"]["Title"] for i in SiteClient(new).items(sales["id"], "Customers")}
    for title, fields in old_orders.items():
        assert new_titles[new_orders[title]["CustomerLookupId"]] == old_titles[fields["CustomerLookupId"]]
    # people: alex is a member of the new Sales group (known to its site); the others are reported, not dropped
    people = SiteClient(new).people(sales["id"])
    alex = next(k for k, v in people.items() if v == new_upn("alex.wilber"))
    assert any(f.get("AccountManagerLookupId") == alex for f in new_items.values())
    items = out["items0"]
    assert items.count("manual") > 0 and items.count("manual") + items.count("created") == 38  # Customers, Suppliers
    script = (tmp_path / "phase" / "manual-list-item.ps1").read_text()
    assert f"Add-SPOUser -Site 'https://contosonew.sharepoint.com/sites/sales' -LoginName '{new_upn('megan.bowen')}'" \
        in script
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        row = next(i for i in ledger.items("list-item") if i.name.endswith("Customers 001"))
    assert row.detail["author"] and row.detail["created"] == "2023-05-01T00:00:00Z"  # kept: Graph cannot set them


def test_after_the_admins_scripts_a_rerun_completes_without_duplicates(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    for script in sorted((tmp_path / "phase").glob("manual-*.ps1")):
        answer = sb._session.post(f"{sb.endpoints['admin_url']}/powershell/{NEW}", data=script.read_bytes(),
                                  verify=sb.ca_file, timeout=30)
        assert answer.status_code == 200, (script.name, answer.text)
    again = rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    assert again["sites"].counts() == {"done before": 4, "ready": 1}
    assert again["items0"].count("updated") > 0 and not again["items0"].count("manual")
    assert again["items0"].count("created") == 6  # the subsite's Events list, now that the subsite exists
    sales = new_site(new, "sites/sales")
    assert len(SiteClient(new).items(sales["id"], "Customers")) == 30  # updated in place, never a second copy
    people = SiteClient(new).people(sales["id"])
    fields = {i["fields"]["Title"]: i["fields"] for i in SiteClient(new).items(sales["id"], "Customers")}
    megan = next(k for k, v in people.items() if v == new_upn("megan.bowen"))  # known to the site now
    assert [f for f in fields.values() if f.get("AccountManagerLookupId") == megan]
    assert all(f["AccountManagerLookupId"] in people for f in fields.values() if f.get("AccountManagerLookupId"))
    third = rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    assert all(set(o.counts()) <= {"done before"} for k, o in third.items() if k != "_sites"), \
        {k: o.counts() for k, o in third.items() if k != "_sites"}
    # a user edits one customer and deletes another: the next pass updates one and removes one, nothing else
    sb.admin("POST", "lists/contoso.onmicrosoft.com", json={"site": "/sites/sales", "list": "Customers", "op": "update",
                                                          "id": "2", "fields": {"Notes": "edited after the first pass"}})
    sb.admin("POST", "lists/contoso.onmicrosoft.com", json={"site": "/sites/sales", "list": "Customers", "op": "delete",
                                                          "id": "3"})
    fourth = rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    assert fourth["items0"].count("updated") == 1 and fourth["items0"].count("removed") == 1
    fields = {i["fields"]["Title"]: i["fields"] for i in SiteClient(new).items(sales["id"], "Customers")}
    assert fields["Customers 002"]["Notes"] == "edited after the first pass" and "Customers 003" not in fields


def test_without_beta_a_site_is_a_command_for_the_admin(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    out = rebuild(sb, old, new, tmp_path / "ledger.sqlite", beta=False)
    script = (tmp_path / "phase" / "manual-site.ps1").read_text()
    assert (f"New-SPOSite -Url 'https://contosonew.sharepoint.com/sites/intranet' -Owner 'admin@{NEW}' "
            "-StorageQuota 1024 -Title 'Contoso intranet' -Template 'STS#3'") in script
    assert out["sites"].count("manual") == 2
    sb.admin("POST", f"powershell/{NEW}", data=script.replace("New-PnPWeb", "# New-PnPWeb").encode())
    again = rebuild(sb, old, new, tmp_path / "ledger.sqlite", beta=False)
    assert again["sites"].count("ready") == 1 and again["sites"].count("manual") == 1


def test_a_group_site_that_is_not_there_yet_is_waited_for_then_reported(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    sb.set_knobs(group_site_seconds=30)  # the new groups were made a moment ago: their sites are not there yet
    sites = map_sites(SiteClient(old), SiteClient(new), new, OLD_GROUPS, "contosonew.sharepoint.com")
    started = time.monotonic()
    with Ledger(tmp_path / "l.sqlite", "r") as ledger:
        engine = Engine(ledger, "50_team_sites", folder=tmp_path)
        with pytest.raises(ItemsFailed) as failed:
            engine.run(Sites(sites, f"admin@{NEW}", beta=True, wait_seconds=0.5, poll_seconds=0.1), dry_run=False,
                       gate=Confirmed())
    assert time.monotonic() - started >= 0.5  # it waited, with backoff, before giving up
    errors = {r["name"]: r["error"] for r in failed.value.outcome.failed}
    assert any("not there yet after waiting" in e and "rerun the phase later" in e for e in errors.values()), errors


def test_a_site_url_taken_by_another_site_is_reported(world: tuple, tmp_path: Path) -> None:
    sb, old, new = world
    sb.admin("POST", f"powershell/{NEW}", data=(
        f"New-SPOSite -Url 'https://contosonew.sharepoint.com/sites/intranet' -Owner 'admin@{NEW}' "
        "-StorageQuota 1024 -Title 'Somebody else' -Template 'STS#3'").encode())
    out = rebuild(sb, old, new, tmp_path / "ledger.sqlite")
    failed = {r["name"]: r["error"] for r in out["sites"].failed}
    assert list(failed) == ["https://contoso.sharepoint.com/sites/intranet"]
    assert "taken in the new tenant by another site ('Somebody else')" in failed[list(failed)[0]]
    assert out["items1"].count("created") == 45  # the rest went on


def test_killed_after_the_libraries_the_rerun_copies_their_files_and_a_later_pass_what_changed(
        world: tuple, tmp_path: Path) -> None:
    """Libraries recorded done before a kill: the rerun still pairs them (from the ledger's targets) and copies
    every file; a file added to a library done before arrives in the next pass, an edited one is copied again."""
    sb, old, new = world
    ledger = tmp_path / "ledger.sqlite"
    first = rebuild(sb, old, new, ledger, stop_after_libraries=True)
    assert first["libraries"].count("created") + first["libraries"].count("ready") == len(first["libraries"].rows)
    again = rebuild(sb, old, new, ledger)
    assert again["libraries"].count("done before") == len(again["libraries"].rows)
    assert not again["files"].failed and again["files"].count("copied") == 8  # every file, none lost
    src_sales = old.get("sites/contoso.sharepoint.com:/sites/sales")
    contracts = next(d for d in old.get_all(f"sites/{src_sales['id']}/drives") if d["name"] == "Contracts")
    sb.admin("POST", f"files/contoso.onmicrosoft.com/drive:{contracts['id']}",
             json={"op": "put", "path": "2026/Addendum.pdf", "size": "20 KiB"})
    sb.admin("POST", f"files/contoso.onmicrosoft.com/drive:{contracts['id']}",
             json={"op": "put", "path": "2026/ACME master agreement.pdf", "size": "31 KiB", "seed": "edited"})
    later = rebuild(sb, old, new, ledger)
    assert later["files"].count("copied") == 2 and not later["files"].failed, later["files"].rows
    sales = new_site(new, "sites/sales")
    new_contracts = next(d for d in new.get_all(f"sites/{sales['id']}/drives") if d["name"] == "Contracts")
    edited = old.get(f"drives/{contracts['id']}/root:/2026/ACME master agreement.pdf")
    there = new.get(f"drives/{new_contracts['id']}/root:/2026/ACME master agreement.pdf")
    assert there["file"]["hashes"] == edited["file"]["hashes"] and there["size"] == 31 * 1024
    assert new.get(f"drives/{new_contracts['id']}/root:/2026/Addendum.pdf")["size"] == 20 * 1024


def test_values_that_cannot_be_carried_are_named_not_left_silently_blank(world: tuple, tmp_path: Path) -> None:
    """Hostile: an order whose customer was deleted in the old list, and an account manager who does not move.
    Their values cannot be carried; each is named with its item, column and why (the phase's table, phase 90),
    and a second pass changes nothing."""
    sb, old, new = world
    sb.admin("POST", f"lists/{OLD_TENANT}", json={"site": "/sites/sales", "list": "Customers", "op": "delete",
                                                 "id": "3"})
    only_megan = {"megan.bowen@contoso.example": new_upn("megan.bowen")}
    out = rebuild(sb, old, new, tmp_path / "ledger.sqlite", emails=only_megan)
    assert not [r for k, o in out.items() if k.startswith("items") for r in o.failed]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        blanks = left_blank(ledger.items("list-item"))
    values = list(blanks["value left blank"])
    assert any(v.startswith("Customer: lookup 3 (its item was not moved or is gone)") for v in values), values
    assert any("alex.wilber@contoso.example (not in the user mapping)" in v for v in values), values
    assert {item.split(" #")[0].rsplit("/", 1)[1] for item in blanks["item"]} == {"Orders", "Customers"}
    again = rebuild(sb, old, new, tmp_path / "ledger.sqlite", emails=only_megan)
    assert all(set(o.counts()) <= {"done before", "manual"} for k, o in again.items() if k.startswith("items")), \
        {k: o.counts() for k, o in again.items() if k.startswith("items")}


def test_list_items_expand_only_the_fields_selected(world: tuple) -> None:
    """``$expand=fields(select=...)`` as Graph documents it: the chosen columns (and the item's id), paged."""
    sb, old, _ = world
    site = old.get("sites/contoso.sharepoint.com:/sites/sales")
    lst = next(x for x in old.get_all(f"sites/{site['id']}/lists") if not x.get("list", {}).get("hidden")
               and x.get("list", {}).get("template") == "genericList")
    every = old.get_all(f"sites/{site['id']}/lists/{lst['id']}/items", {"$expand": "fields"})
    chosen = old.get_all(f"sites/{site['id']}/lists/{lst['id']}/items",
                         {"$expand": "fields(select=Title)", "$top": "1"})
    assert len(chosen) == len(every) > 1  # every page kept the selection
    assert all(set(i["fields"]) <= {"Title", "id", "@odata.etag"} and "Title" in i["fields"] for i in chosen)
    assert any(len(i["fields"]) > 3 for i in every)
    with pytest.raises(GraphError) as caught:
        old.get(f"sites/{site['id']}/lists/{lst['id']}/items", {"$expand": "nonsense"}, expected=(400,))
    assert caught.value.status == 400


def test_a_sites_default_library_is_addressed_through_the_site(world: tuple) -> None:
    """``sites/{id}/drive/...`` is the site's default document library, as in Graph: children, and an item by
    path (percent-encoded names included)."""
    sb, old, _ = world
    site = old.get("sites/contoso.sharepoint.com:/sites/sales")
    drive = old.get(f"sites/{site['id']}/drive")
    through_site = {i["name"] for i in old.get_all(f"sites/{site['id']}/drive/root/children")}
    assert through_site and through_site == {i["name"] for i in old.get_all(f"drives/{drive['id']}/root/children")}
    sb.admin("POST", f"files/{OLD_TENANT}/drive:{drive['id']}", json={"op": "put", "path": "A b/c d.txt", "size": "1 KiB"})
    item = old.get(f"sites/{site['id']}/drive/root:/A b/c d.txt")
    assert item["size"] == 1024 and item["parentReference"]["driveId"] == drive["id"]
    assert old.get(f"sites/{site['id']}/drives/{drive['id']}/items/{item['id']}")["name"] == "c d.txt"
