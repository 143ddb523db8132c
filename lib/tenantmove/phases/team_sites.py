"""Phase 50: team sites (structure, libraries, lists) and the public website. The sites first (a group's
site comes with the group, others through Graph beta or a manual step), then each ready site's libraries
and their files, then its lists: the lists, their columns, their items in lookup order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import DeltaLinks, Outcome
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.drives import DriveClient
from ..services.graph import GraphClient
from ..services.sites import SiteClient
from ..services.sprest import SharePointRest
from ..workloads import security
from ..workloads.attachments import ListAttachments
from ..workloads.authorship import FileAuthorship, ListAuthorship, mapped_people
from ..workloads.dnsrecords import RELEASED_RECORDS
from ..workloads.files import DriveCopy, DriveFiles, DriveFolders
from ..workloads.inventory import Inventory, group_kind
from ..workloads.lists import NOT_SETTABLE, Columns, ListItems, ListPlan, Lists, column_type, left_blank
from ..workloads.sharing import Sharing
from ..workloads.siteaccess import SiteAccess, old_table
from ..workloads.sites import Libraries, SiteMap, Sites, map_sites, structure
from ..workloads.versions import ListVersions
from .access import access_check, authored, carry, holders, sharing_for, site_access, site_access_check
from .checks import Check, Reads, folder_check, reconciles, workload_check
from .common import StepResult, Steps, apply_workloads, merge_resolution, plan_workloads, reconciliation

ARTICLE_STEPS = [
    ("save the public website's content", "the new tenant has no SharePoint public website; copy its pages, "
                                          "images and documents out of the old one (or the host the www record "
                                          "points to) before the old subscription ends"),
    ("recreate it elsewhere", "with a web host of your choice (Microsoft retired SharePoint Online public "
                              "websites); the old site is not moved by this runbook"),
    ("point DNS at it", "publish www.<domain> (CNAME or A) at your DNS host for the new web host; phase 20 removed "
                        "the old record, which is shown below"),
]


@dataclass
class TeamSites:
    sites: SiteMap
    old: GraphClient
    new: GraphClient
    emails: dict[str, str]  # old e-mail/UPN -> new (from the user mapping)
    src: Inventory
    tgt: Inventory
    moving: pd.DataFrame

    new_person: Callable[[dict[str, str]], str | None] = lambda who: None  # an old author or editor -> new UPN

    def sharing(self, phase: Phase, copy: DriveCopy) -> Sharing:
        """Who may open what in the libraries of ``copy`` (their changed links listed per library)."""
        return sharing_for(phase, copy, self.src, self.tgt, self.moving, "library-sharing",
                           owner_of=lambda pair: str(pair.target_name))

    def site_access(self, phase: Phase) -> SiteAccess:
        """Each site's SharePoint groups and the permissions of its own of each site, list, folder and item."""
        return SiteAccess(self.sites, holders(phase, self.src, self.tgt, self.moving),
                          str(self.tgt.organization.get("id", "")), made_items(phase), *rest_both(phase))


def connect(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, moving: pd.DataFrame,
            tgt: Inventory) -> TeamSites:
    groups = {str(g["mailNickname"]).lower(): dict(g) for _, g in src.groups.iterrows()
              if g["kind"] == group_kind({"groupTypes": ["Unified"]})}
    res = merge_resolution(phase)  # in a merge: the sites' new paths (a renamed group's site with the group)
    target_host = new.get("sites/root")["siteCollection"]["hostname"]
    sites = map_sites(SiteClient(old), SiteClient(new), new, groups, target_host, res.sites if res else {})
    emails: dict[str, str] = {}
    for _, row in moving.iterrows():
        local = str(row["source_upn"]).split("@", 1)[0]
        emails[str(row["source_upn"]).lower()] = str(row["target_upn"]).lower()
        emails[f"{local}@{src.initial_domain}".lower()] = str(row["target_upn"]).lower()  # renamed in phase 20
    return TeamSites(sites, old, new, emails, src, tgt, moving, mapped_people(src, moving))


ACCESS_UNREAD = ("The sites' SharePoint groups and permissions are read through SharePoint's REST API, which takes an "
                 "app-only token only from a certificate: give both tenants' apps a certificate (certificate_file) to "
                 "have them compared and carried by script; without one each site is a manual item.")


@dataclass(repr=False)
class SitesPlan(ShowsItself):
    structure: pd.DataFrame
    lists: pd.DataFrame
    columns: pd.DataFrame
    outcome: Outcome
    website: Report
    access: pd.DataFrame | None = None  # each old site's groups and permissions of its own (None: not readable)

    def report(self) -> Report:
        report = Report().table(self.structure, "The old tenant's sites and where each goes (the structure is "
                                                "recorded: sites, subsites, libraries, lists)")
        report.add(self.outcome.report())
        report.table(self.lists, "Lists to rebuild (columns, items)")
        report.table(self.columns, "Columns that need a hand: Graph cannot create them or cannot tell their type")
        report.text(NOT_SETTABLE)
        if self.access is None:
            report.text(ACCESS_UNREAD)
        else:
            report.table(self.access, "Who may do what in each site, as the old tenant has it (SharePoint groups' "
                                      "members, and each object with permissions of its own): carried by a PnP script "
                                      "after the lists, read back by the next run; '(not moving)' is given to nobody")
        return report.add(self.website)


def plan(phase: Phase, ts: TeamSites) -> SitesPlan:
    sites = ts.sites
    outcome = plan_workloads(phase, [sites_workload(phase, ts)])[0]  # what follows is made from the sites
    frame = pd.DataFrame(structure(sites))
    phase.save_table("site-structure", frame)
    preview = ListPlan.read(sites, every=True)
    lists = pd.DataFrame([{"list": e.label, "columns": sum(1 for c in e.columns if not c.get("readOnly")
                                                           and c["name"] != "Title"), "items": len(e.items),
                           "looks up": ", ".join(sorted(e.looks_up())) or ""} for e in preview.lists])
    manual = pd.DataFrame([{"list": e.label, "column": c["displayName"], "type": column_type(c, e.items)}
                           for e in preview.lists for c in e.columns
                           if column_type(c, e.items) in ("term", "unknown") and not c.get("hidden")],
                          columns=["list", "column", "type"])
    old_rest = rest_both(phase)[0]
    access = None if old_rest is None else old_table(sites, holders(phase, ts.src, ts.tgt, ts.moving),
                                                     str(ts.tgt.organization.get("id", "")), old_rest)
    if access is not None:
        phase.save_table("site-access-plan", access)
    return SitesPlan(frame, lists, manual, outcome, public_website(phase, ts), access)


def sites_workload(phase: Phase, ts: TeamSites) -> Sites:
    wait = float(phase.params.site_wait_seconds)
    return Sites(ts.sites, phase.params.site_owner or _admin(ts.new), beta=phase.params.sites_beta,
                 wait_seconds=wait, poll_seconds=0.5 if phase.params.cloud == "sandbox" else 15.0)


def _admin(new: GraphClient) -> str:
    """The owner of sites created when ``site_owner`` names none: admin@ the new onmicrosoft domain."""
    org = new.get("organization")["value"][0]
    initial = next(d["name"] for d in org["verifiedDomains"] if d["isInitial"])
    return f"admin@{initial}"


def public_website(phase: Phase, ts: TeamSites) -> Report:
    """The article: save the public website, recreate it elsewhere, point DNS at it — as a checklist, with
    the www record phase 20 removed and any legacy SharePoint public website found in the old tenant."""
    domain = phase.params.domain
    released = phase.state_dir / RELEASED_RECORDS
    records = pd.read_csv(released) if released.is_file() else pd.DataFrame(columns=["name", "type", "value"])
    www = records[(records["name"] == f"www.{domain}")] if not records.empty else records
    ns, _ = phase.dns()
    now = ns.values(f"www.{domain}", "CNAME")
    facts = {"www record before phase 20": ", ".join(f"{r['type']} {r['value']}" for _, r in www.iterrows())
             or "none found",
             "www record now": ", ".join(sorted(now[0])) if now and now[0] else "none",
             "legacy SharePoint public website": ", ".join(s["webUrl"] for s in ts.sites.public) or "none"}
    report = Report().facts(f"The public website of {domain}", facts)
    if www.empty and not ts.sites.public:
        return report.banner("ok", "no public website found: nothing to do")
    elsewhere = "action" in www.columns and not www.empty and (www["action"] != "remove").all()
    if elsewhere and not ts.sites.public:
        return report.banner("ok", "the public website is hosted elsewhere and its www record was kept: it keeps "
                                   "working, nothing to change (Microsoft's article)")
    report.table(pd.DataFrame([{"step": s, "what to do": w, "done": "☐"} for s, w in ARTICLE_STEPS]),
                 "Checklist (Microsoft's article): the public website is not moved by this runbook")
    return report


def apply(phase: Phase, ts: TeamSites, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "changed", "item(s)", lambda steps: rebuild_and_count(phase, ts, steps))


def rebuild_and_count(phase: Phase, ts: TeamSites, steps: Steps) -> dict[str, Any]:
    """Phase 50's apply: sites, then their libraries (with folders and files), lists, columns and items level by
    level, each workload made from what the one before produced; then folders, files and list items counted."""
    report = steps.report
    run = steps.run  # one site or file failing stops nothing else
    ts.sites.attach(run(sites_workload(phase, ts)).targets())
    libraries = Libraries(ts.sites)
    pairs = libraries.pairs_for(run(libraries).targets())  # done before included: a rerun copies their files too
    copy = DriveCopy(DriveClient(ts.old), DriveClient(ts.new), pairs, versions=phase.params.file_versions)
    run(DriveFolders(copy, "library-folder", "library folders"))
    files = run(DriveFiles(copy, "library-file", "library files"))
    folders = reconciliation(phase, copy, report, "library-folders")
    access = carry(phase, steps, ts.sharing(phase, copy), "the new libraries")
    plan_ = ListPlan.read(ts.sites)
    lists = run(Lists(plan_))
    targets = lists.targets()
    run(Columns(plan_, targets, calculated=False))
    run(Columns(plan_, targets, calculated=True))
    done_items: dict[str, str] = {}
    rewritten: set[str] = set()  # items this pass wrote: the app is their editor again
    for level in plan_.levels():
        outcome = run(ListItems(plan_, level, targets, done_items, ts.emails))
        done_items.update(outcome.targets())
        rewritten |= {r["key"] for r in outcome.rows if r["action"] in ("created", "updated", "manual")}
    history = ListVersions(plan_, targets, made_items(phase), ts.emails, ts.new_person, rest_both(phase)[1])
    replayed = run(history)  # an item with history was made as its first version: the later ones follow, in order
    rewritten |= history.replayed
    attachments = ListAttachments(plan_, targets, made_items(phase), *rest_both(phase))
    run(attachments)
    rewritten |= attachments.made  # an attachment added makes the app the item's editor
    authors = authored(phase, steps, lambda rest: ListAuthorship(plan_, targets, made_items(phase), ts.new_person,
                                                                 rest, rewritten), "list items")
    uploaded = {r["key"] for r in files.rows if r["action"] in ("created", "updated")}
    authors.update(authored(phase, steps, lambda rest: FileAuthorship(copy, ts.new_person, rest,
                                                                      "library-authorship", uploaded), "library files"))
    access.update(site_access(phase, steps, ts.site_access(phase)))
    counts = list_counts(ts, plan_, targets)
    phase.save_table("list-counts", counts)
    report.table(counts, "Items per list, old and new")
    blanks = left_blank(phase.ledger().items("list-item"))
    phase.save_table("list-values-left-blank", blanks)
    if not blanks.empty:
        report.banner("warn", f"{len(blanks)} list value(s) could not be carried and were left blank: a person not in "
                              "the user mapping, or a lookup whose item was not moved. Map the person (or move the "
                              "item) and rerun this phase, or accept each one with python -m tenantmove waive; phase "
                              "90 names them until then")
        report.table(blanks, "List values left blank, named")
    report.bars(counts, "list", ["new", "missing"], "Items per list in the new site, and missing", "items")
    report.text(NOT_SETTABLE)
    report.add(public_website(phase, ts))
    summary: dict[str, Any] = {"sites": len(ts.sites.entries), "sites in the new tenant": len(ts.sites.ready()),
                               "list items old": int(counts["old"].sum()) if not counts.empty else 0,
                               "list items new": int(counts["new"].sum()) if not counts.empty else 0,
                               "library files listed": len(files.rows), "library folders reconciled": len(folders),
                               "library folders differing": int((folders["verdict"] == "MISMATCH").sum()),
                               "list values left blank": len(blanks),
                               "list items whose earlier versions were written": replayed.count("updated"),
                               **authors, **access}
    return summary


def rest_both(phase: Phase) -> tuple[SharePointRest | None, SharePointRest | None]:
    """SharePoint's REST API in the old and the new tenant, each None where SharePoint will not take its tokens."""
    old, new = phase.sharepoint("source"), phase.sharepoint("target")
    return (None if old.usable() else old), (None if new.usable() else new)


def made_items(phase: Phase) -> dict[str, str]:
    """Old list item key -> the new item's id, over every pass (the ledger)."""
    return {i.source_id: str(i.target_id) for i in phase.ledger().items("list-item", ["done", "manual"])
            if i.target_id}


def list_counts(ts: TeamSites, plan_: ListPlan, targets: dict[str, str]) -> pd.DataFrame:
    rows = []
    for e in plan_.lists:
        new = len(ts.sites.new.items(e.site.target["id"], targets[e.key])) if e.key in targets else 0
        rows.append({"list": e.label, "old": len(e.items), "new": new, "missing": max(0, len(e.items) - new)})
    return pd.DataFrame(rows, columns=["list", "old", "new", "missing"])


def sites_made(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, moving: pd.DataFrame,
               tgt: Inventory) -> TeamSites:
    """Both tenants' sites, each old one paired with the new one the ledger says was made (read once for the
    lists and the libraries)."""
    ts = connect(phase, old, new, src, moving, tgt)
    ts.sites.attach({i.source_id: str(i.target_id) for i in phase.ledger().items("site", ["done", "manual"])
                     if i.target_id})
    return ts


def library_copy(phase: Phase, ts: TeamSites) -> tuple[DriveCopy, list[tuple[str, str]]]:
    """The libraries the ledger says were made, paired with the old ones; the old ones with no new library (by
    name)."""
    ledger = phase.ledger()
    libraries = Libraries(ts.sites)
    list(libraries.list(DeltaLinks(None, libraries.kind)))
    targets = {i.source_id: str(i.target_id) for i in ledger.items(libraries.kind, ["done"]) if i.target_id}
    missing = [(key, str(lib.get("displayName"))) for key, (_, lib, source_drive) in libraries.listed.items()
               if source_drive is not None and key not in targets]
    return DriveCopy(DriveClient(ts.old), DriveClient(ts.new), libraries.pairs_for(targets)), missing


def library_files_check(phase: Phase, copy: DriveCopy, missing: list[tuple[str, str]]) -> Check:
    """Every team-site document library the ledger says was made, folder by folder, as for OneDrives."""
    check = Check("library files")
    for _, name in missing:
        check.add(name, 1, 0, missing=1, detail="no library in the new site")
    return folder_check(check, copy, "library-file", "the new library")


def lists_check(phase: Phase, ts: TeamSites, plan_: ListPlan, targets: dict[str, str]) -> Check:
    """Items per list, old and new, for the lists the ledger says were made."""
    check = Check("lists")
    ledger = phase.ledger()
    for _, row in list_counts(ts, plan_, targets).iterrows():
        check.add(str(row["list"]), int(row["old"]), int(row["new"]), missing=int(row["missing"]),
                  extra=max(0, int(row["new"]) - int(row["old"])))
    waived = security.waivers(phase.state_dir)
    for _, row in left_blank(ledger.items("list-item")).iterrows():  # values a reader would miss: named, never silent
        key = f"list value: {row['item']}: {row['value left blank']}"
        waiver = waived.get(key)
        if waiver is None:
            check.reopen.append(("list-item", "name", str(row["item"]), f"{row['item']}: {row['value left blank']} "
                                                                         "left blank"))
        check.add(key, 1, int(waiver is not None), mismatched=int(waiver is None),
                  detail=f"waived by {waiver.get('by')}: {waiver.get('why')}" if waiver else
                  "left blank: map the person (or move the item) and rerun 50_team_sites, or accept it: python -m "
                  f"tenantmove waive PARAMS '{key}' --why '...'")
    return check



def attachments_check(phase: Phase, plan_: ListPlan, targets: dict[str, str]) -> Check:
    """Each attachment by name on both sides; without SharePoint's REST API in both tenants nothing can be read, and
    the ledger (the admin marked each item's copy done) is the record: said, not counted as a difference."""
    old, new = rest_both(phase)
    if old is None or new is None:
        check = Check("list attachments")
        check.add("(not compared)", 0, 0, detail="SharePoint's REST API needs both apps' certificates (certificate_file) "
                                                 "to read attachments; the ledger holds the admin's word per item")
        return check
    return workload_check("list attachments", ListAttachments(plan_, targets, made_items(phase), old, new))


@reconciles("lists", "list versions", "list attachments", "list authorship", "library files", "library authorship",
            "library access", "site access")
def sites_reconciled(r: Reads) -> list[Check]:
    ts = sites_made(r.phase, r.old, r.new, r.src, r.moving, r.tgt)
    copy, missing = library_copy(r.phase, ts)
    plan_ = ListPlan.read(ts.sites)
    targets = {i.source_id: str(i.target_id) for i in r.phase.ledger().items("list", ["done"]) if i.target_id}
    return [lists_check(r.phase, ts, plan_, targets),
            workload_check("list versions", ListVersions(plan_, targets, made_items(r.phase), ts.emails, ts.new_person,
                                                         rest_both(r.phase)[1])),
            attachments_check(r.phase, plan_, targets),
            workload_check("list authorship", ListAuthorship(plan_, targets, made_items(r.phase), ts.new_person)),
            library_files_check(r.phase, copy, missing),
            workload_check("library authorship", FileAuthorship(copy, ts.new_person, kind="library-authorship")),
            access_check("library access", ts.sharing(r.phase, copy)),
            site_access_check(ts.site_access(r.phase))]
