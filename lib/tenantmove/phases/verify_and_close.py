"""Phase 90: before the old subscription is cancelled, every workload reconciled from the ledger and from
fresh reads of both tenants (users and licences, groups and members, sites' lists, files by hash, mail by
folder and by fidelity, notebooks by section), one verdict, and the closing checklist. Read-only: it changes
nothing in either tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine.workload import REMOVED, DeltaLinks
from ..report import Report, ShowsItself
from ..runbook.context import Phase
from ..services.conditional_access import CaClient
from ..services.dnsops import from_graph
from ..services.drives import DriveClient
from ..services.graph import GraphClient, GraphError, path
from ..services.outlook import OutlookClient
from ..workloads import dnssnapshot, fidelity, security, setting_areas, settings
from ..workloads.dnsrecords import SPF_INCLUDE, is_spf
from ..workloads.files import DriveCopy, reconcile
from ..workloads.inventory import Inventory
from ..workloads.lists import left_blank
from ..workloads.sites import Libraries
from . import admin_settings, mailboxes, onedrive, onenote, team_sites
from .common import StepResult

COLUMNS = ["area", "item", "source", "target", "missing", "extra", "mismatched", "detail"]
# the phase whose rerun repairs each area (the ledger's own phase column says it for its kinds)
RERUN = {"DNS records": "30_add_domain_and_users", "settings": "40_admin_settings",
         "users": "30_add_domain_and_users", "groups": "30_add_domain_and_users", "lists": "50_team_sites",
         "files": "70_onedrive", "library files": "50_team_sites", "security": "40_admin_settings", "mail": "60_mailboxes", "mail fidelity": "60_mailboxes", "notebooks": "80_onenote"}


@dataclass
class Check:
    area: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    # what to do again, found wrong: (ledger kind, "name" | "scope" | "folder", value, why)
    reopen: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, item: str, source: int, target: int, missing: int = 0, extra: int = 0, mismatched: int = 0,
            detail: str = "") -> None:
        self.rows.append({"area": self.area, "item": item, "source": source, "target": target, "missing": missing,
                          "extra": extra, "mismatched": mismatched, "detail": detail})

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)

    @property
    def problems(self) -> pd.DataFrame:
        df = self.frame
        return df[(df["missing"] + df["extra"] + df["mismatched"]) > 0]


def ledger_check(phase: Phase) -> tuple[Check, pd.DataFrame]:
    """Per kind: how many items the ledger holds done; every item not done, named, with its phase."""
    check = Check("ledger")
    open_items = []
    by_kind: dict[str, list[Any]] = {}
    for item in phase.ledger().items():
        if item.version == REMOVED and item.state == "done":
            continue
        by_kind.setdefault(item.kind, []).append(item)
    for kind, items in sorted(by_kind.items()):
        waiting = [i for i in items if i.state != "done" and i.state != "skipped"]
        check.add(kind, len(items), sum(1 for i in items if i.state == "done"), missing=len(waiting),
                  detail="; ".join(f"{i.name or i.source_id} ({i.state})" for i in waiting[:5]))
        open_items += [{"phase": i.phase, "kind": kind, "item": i.name or i.source_id, "state": i.state,
                        "reason": i.error or "", "attempts": i.attempts} for i in waiting]
    return check, pd.DataFrame(open_items, columns=["phase", "kind", "item", "state", "reason", "attempts"])


def _skus(value: Any) -> set[str]:
    return {s for s in str(value if isinstance(value, str) else "").replace(";", " ").split() if s}


def users_check(moving: pd.DataFrame, tgt: Inventory) -> Check:
    """Every mapped user in the new tenant, enabled, with the licences the mapping gives."""
    check = Check("users")
    new = {str(u).lower(): r for u, (_, r) in zip(tgt.users["userPrincipalName"], tgt.users.iterrows(), strict=True)}
    for _, row in moving.iterrows():
        there = new.get(str(row["target_upn"]).lower())
        if there is None:
            check.add(str(row["target_upn"]), 1, 0, missing=1, detail="not in the new tenant")
            continue
        lacking = _skus(row.get("licences")) - _skus(there.get("licences"))
        check.add(str(row["target_upn"]), 1, 1, mismatched=int(bool(lacking)),
                  detail=f"licences missing: {', '.join(sorted(lacking))}" if lacking else "")
    return check


def groups_check(src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Check:
    """Every old group in the new tenant (by mail nickname) with the same members, mapped to their new names."""
    check = Check("groups")
    renamed = {str(s).lower(): str(t).lower() for s, t in zip(moving["source_upn"], moving["target_upn"], strict=True)}
    new_ids = {str(n).lower(): i for n, i in zip(tgt.groups["mailNickname"], tgt.groups["id"], strict=True)}

    def members(inv: Inventory, group_id: str) -> set[str]:
        m = inv.memberships
        return {str(x).lower() for x in m[m["group_id"] == group_id]["member"]}

    for _, group in src.groups.iterrows():
        nick = str(group["mailNickname"]).lower()
        wanted = {renamed[m] for m in members(src, group["id"]) if m in renamed}
        if nick not in new_ids:
            check.add(str(group["displayName"]), len(wanted), 0, missing=1, detail="no such group in the new tenant")
            continue
        got = members(tgt, new_ids[nick])
        lost, more = sorted(wanted - got), sorted(got - wanted)
        back = {t: s for s, t in renamed.items()}
        check.reopen += [("member", "name", f"{group['displayName']}: {back[m]}", f"{m} is not in {group['displayName']}")
                         for m in lost]
        check.add(str(group["displayName"]), len(wanted), len(got), missing=len(lost), extra=len(more),
                  detail="; ".join(([f"members missing: {', '.join(lost)}"] if lost else [])
                                   + ([f"members not in the old group: {', '.join(more)}"] if more else [])))
    return check


def settings_check(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory,
                   tgt: Inventory) -> tuple[Check, Check]:
    """The settings phase 40 applied (its settings_apply areas), old against new, and every conditional-access
    policy present in the new tenant by name; then the security gaps. A setting that differs reopens its item for
    phase 40."""
    check = Check("settings")
    areas = admin_settings.selected(phase)
    found = setting_areas.areas(admin_settings.sides(phase, old, new, src, admin_settings.group_map(src, tgt),
                                                     tgt.initial_domain))
    table = settings.diff(found, areas)
    for _, row in table[table["applied"] == "yes"].iterrows():
        differs = bool(row["differs"])
        if differs:
            check.reopen.append(("setting", "name", f"{row['area']}: {row['setting']}",
                                 f"{row['area']}: {row['setting']} is {row['new tenant']} in the new tenant"))
        check.add(f"{row['area']}: {row['setting']}", 1, 1, mismatched=int(differs),
                  detail=f"{row['old tenant']} -> {row['new tenant']}" if differs else "")
    old_policies, new_policies = CaClient(old).all("policies"), CaClient(new).all("policies")
    there = {str(p["displayName"]).lower(): p for p in new_policies}
    for policy in old_policies:
        found = there.get(str(policy["displayName"]).lower())
        check.add(f"conditional access: {policy['displayName']}", 1, int(found is not None),
                  missing=int(found is None), detail=f"new tenant: {found.get('state')}" if found else "")
    return check, security_check(phase, old_policies, new_policies)


def security_check(phase: Phase, old_policies: list[dict[str, Any]], new_policies: list[dict[str, Any]]) -> Check:
    """Protections on in the old tenant and weaker in the new one: each a gap until switched on or waived."""
    check = Check("security")
    for gap in security.ca_gaps(old_policies, new_policies, security.waivers(phase.state_dir)):
        check.add(gap.key, 1, int(not gap.open), mismatched=int(gap.open), detail=gap.detail())
    return check


def dns_check(phase: Phase, new: GraphClient, src: Inventory) -> Check:
    """Every record the new tenant asks of the custom domain, served by every authoritative server; beside it,
    whether the old tenant's domain had that record (phase 00's inventory). An optional record not served is
    named, not counted missing."""
    check = Check("DNS records")
    domain = phase.params.domain.lower()
    try:
        wanted = new.get(path("domains", domain, "serviceConfigurationRecords"))["value"]
    except GraphError as exc:
        check.add(domain, 1, 0, missing=1, detail=f"the new tenant does not serve its records: {exc.one_line()}")
        return check
    old = src.dns_records[src.dns_records["domain"].str.lower() == domain]
    before = {(str(t).upper(), (f"{str(v).split()[0]}.{lab}" if str(t).upper() == "SRV" else str(lab)).lower())
              for t, lab, v in zip(old["type"], old["label"], old["value"], strict=True)}
    ns, _ = phase.dns()
    for raw in wanted:
        rec = from_graph(raw)
        if rec.type == "TXT" and is_spf(rec.value):  # one SPF record with Microsoft's include is what SPF needs
            served = sum(1 for vals in ns.values(rec.name, "TXT") if any(is_spf(v) and SPF_INCLUDE in v.lower()
                                                                         for v in vals))
        else:
            served = ns.presence(rec)
        ok = served == len(ns.servers)
        optional = bool(raw.get("isOptional"))
        check.add(f"{rec.type} {rec.name}", int((rec.type, rec.name) in before), int(ok),
                  missing=int(not ok and not optional),
                  detail="" if ok else f"{'optional, ' if optional else ''}served by {served} of {len(ns.servers)} "
                                       f"server(s): publish {rec.value}")
    return check


def kept_dns_check(phase: Phase) -> Check:
    """Every record of the custom domain that is not Microsoft 365's (phase 00's snapshot: SPF, DMARC, a web host, a
    mail filter, CAA, ...) still served as it was: the cutover must not have touched it. A record that changed or
    vanished is named; only the admin can put it back."""
    check = Check("DNS records kept")
    snapshot = dnssnapshot.load(phase.state_dir)
    if snapshot is None:
        check.add(phase.params.domain, 1, 0, missing=1,
                  detail="no snapshot of the domain's DNS from before the cutover: rerun phase 00 before phase 20")
        return check
    ns, _ = phase.dns()
    for row in dnssnapshot.compare(ns, snapshot):
        ok = row["status"] == "kept"
        check.add(f"{row['type']} {row['name']} {row['value']}", 1, int(ok), missing=int(not ok),
                  detail="" if ok else f"{row['status']}: restore it at your DNS host")
    return check


def files_check(phase: Phase, old: GraphClient, new: GraphClient, moving: pd.DataFrame, tgt: Inventory) -> Check:
    """Every OneDrive, folder by folder, from full listings of both sides (bytes; Office files by number)."""
    check = Check("files")
    drives = onedrive.connect(phase, old, new, moving, tgt)
    for pair in drives.copy.pairs:
        if pair.source and pair.target is None:
            check.add(pair.source_name, 1, 0, missing=1, detail="no OneDrive in the new tenant")
    return _folders(check, drives.copy, "drive-file", "the new OneDrive")


def sites_made(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory,
               moving: pd.DataFrame) -> team_sites.TeamSites:
    """Both tenants' sites, each old one paired with the new one the ledger says was made (read once for the
    lists and the libraries)."""
    ts = team_sites.connect(phase, old, new, src, moving)
    ts.sites.attach({i.source_id: str(i.target_id) for i in phase.ledger().items("site", ["done", "manual"])
                     if i.target_id})
    return ts


def library_files_check(phase: Phase, old: GraphClient, new: GraphClient, ts: team_sites.TeamSites) -> Check:
    """Every team-site document library the ledger says was made, folder by folder, as for OneDrives."""
    check = Check("library files")
    ledger = phase.ledger()
    libraries = Libraries(ts.sites)
    list(libraries.list(DeltaLinks(None, libraries.kind)))
    targets = {i.source_id: str(i.target_id) for i in ledger.items(libraries.kind, ["done"]) if i.target_id}
    for key, (_, lib, source_drive) in libraries.listed.items():
        if source_drive is not None and key not in targets:
            check.add(str(lib.get("displayName")), 1, 0, missing=1, detail="no library in the new site")
    copy = DriveCopy(DriveClient(old), DriveClient(new), libraries.pairs_for(targets))
    return _folders(check, copy, "library-file", "the new library")


def _folders(check: Check, copy: DriveCopy, kind: str, where: str) -> Check:
    """Files per folder on both sides of each pair (bytes; Office files by number); a folder that differs reopens
    its ledger items of ``kind``."""
    for row in reconcile(copy):
        bad = row["verdict"] == "MISMATCH"
        if bad:
            check.reopen.append((kind, "folder", f"{row['drive'].lower()}|{row['folder']}",
                                 f"{row['drive']}: {row['folder']} differs in {where}"))
        check.add(f"{row['drive']}: {row['folder']}", row["old files"], row["new files"],
                  missing=max(0, row["old files"] - row["new files"]) if bad else 0,
                  mismatched=int(bad and row["old files"] <= row["new files"]),
                  detail=f"bytes {row['old bytes (not Office)']} -> {row['new bytes (not Office)']}" if bad else "")
    return check


def lists_check(phase: Phase, ts: team_sites.TeamSites) -> Check:
    """Items per list, old and new, for the lists the ledger says were made."""
    check = Check("lists")
    ledger = phase.ledger()
    plan_ = team_sites.ListPlan.read(ts.sites)
    targets = {i.source_id: str(i.target_id) for i in ledger.items("list", ["done"]) if i.target_id}
    for _, row in team_sites.list_counts(ts, plan_, targets).iterrows():
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


def mail_checks(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory,
                moving: pd.DataFrame) -> list[Check]:
    """Items per folder on both sides, and every item's fidelity read through Outlook and To Do."""
    mail = mailboxes.connect(phase, old, new, src, tgt, moving)
    counts, same = Check("mail"), Check("mail fidelity")
    for pair in mail.copy.pairs:
        if pair.source and pair.target is None:
            counts.add(pair.source_name, 1, 0, missing=1, detail="no mailbox in the new tenant")
    for _, row in mailboxes.counts(mail).iterrows():
        placed = bool(row["in its place"])
        counts.add(f"{row['mailbox']}: {row['folder']}", int(row["old"]), int(row["new"]),
                   missing=int(row["missing"]) or int(not placed), extra=max(0, int(row["new"]) - int(row["old"])),
                   detail="" if placed else "the folder is not in its place in the new mailbox")
    table = fidelity.compare(OutlookClient(old), OutlookClient(new),
                                       [(p.source_name, mail.old_keys[p.source_name], str(p.target_name))
                                        for p in mail.copy.ready()])
    for _, row in table.iterrows():
        same.add(f"{row['mailbox']}: {row['kind']}", int(row["old"]), int(row["new"]),
                 missing=int(row["missing or changed"]), extra=int(row["extra or duplicate"]))
        if row["missing or changed"]:  # which item is not known (the streams are opaque): the mailbox again
            same.reopen.append(("mail-item", "scope", str(row["mailbox"]).lower(),
                                f"{row['mailbox']}: {row['kind']} not identical in the new mailbox"))
    return [counts, same]


def notes_check(phase: Phase, old: GraphClient, new: GraphClient, old_person: GraphClient, new_person: GraphClient,
                src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Check:
    check = Check("notebooks")
    notes = onenote.connect(phase, old, new, old_person, new_person, src, tgt, moving)
    for owner in notes.copy.owners:
        if not owner.ready:
            check.add(owner.source_name, len(owner.packages), 0, missing=len(owner.packages),
                      detail="the signed-in people cannot reach both sides (phase 80 writes the steps)")
    list(notes.pages.list(DeltaLinks(None, notes.pages.kind)))  # the old sections and their pages
    for _, row in onenote.counts(notes).iterrows():
        check.add(f"{row['user']}: {row['path']}", int(row["old"]), int(row["new"]), missing=int(row["missing"]),
                  extra=max(0, int(row["new"]) - int(row["old"])), mismatched=int(row["order kept"] == "no"),
                  detail="pages in another order" if row["order kept"] == "no" else "")
    return check


@dataclass(repr=False)
class Verdict(ShowsItself):
    checks: list[Check]
    open_items: pd.DataFrame
    reopened: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def green(self) -> bool:
        return self.open_items.empty and all(c.problems.empty for c in self.checks)

    def rerun(self) -> list[str]:
        phases = {RERUN[c.area] for c in self.checks if not c.problems.empty and c.area in RERUN}
        reopened = set(self.reopened["rerun"]) if not self.reopened.empty else set()
        return sorted((phases | set(self.open_items["phase"]) | reopened) - {""})

    def summary(self) -> pd.DataFrame:
        rows = []
        for c in self.checks:
            df = c.frame
            rows.append({"area": c.area, "items": len(df), "source": int(df["source"].sum()),
                         "target": int(df["target"].sum()), "missing": int(df["missing"].sum()),
                         "extra": int(df["extra"].sum()), "mismatched": int(df["mismatched"].sum())})
        return pd.DataFrame(rows, columns=["area", "items", "source", "target", "missing", "extra", "mismatched"])

    def report(self) -> Report:
        summary = self.summary()
        report = Report().table(summary, "Reconciliation per area: source, target, and what differs")
        report.bars(summary, "area", ["target", "missing", "extra", "mismatched"],
                    "Per area: items in the new tenant, and what differs", "items")
        for c in self.checks:
            report.table(c.problems if not c.problems.empty else c.frame.head(0),
                         f"{c.area}: {'what differs, named' if not c.problems.empty else 'nothing differs'}"
                         f" ({len(c.rows)} item(s) compared)")
        if not self.open_items.empty:
            report.table(self.open_items, "Ledger items not done (failed, waiting for the admin, or never reached)")
        if not self.reopened.empty:
            report.table(self.reopened, "Reopened in the ledger, so that the rerun repairs them")
        if self.green:
            return report.banner("ok", "VERDICT: GREEN. Every workload reconciles and the ledger holds nothing "
                                       "open: follow the closing checklist below.")
        again = self.rerun()
        return report.banner("fail", "VERDICT: RED. " + ("Rerun, in this order: " + ", ".join(again)
                                                         + " (after the manual steps they name); then"
                                                         if again else "Fix what is named above; then")
                             + " run this phase again.")


def _folder(name: str | None) -> str:
    return "/" + (name or "").strip("/").rsplit("/", 1)[0].lower() if "/" in (name or "").strip("/") else "/"


def reopen(phase: Phase, verdict: Verdict) -> pd.DataFrame:
    """What differs in the target, made to do again: the ledger's items behind each difference are reopened and
    their delta links forgotten, so that the rerun the verdict names repairs them (a full listing there). It
    writes the ledger only, never a tenant; every reopened item keeps the reason in its history."""
    ledger = phase.ledger()
    rows = []
    for check in verdict.checks:
        for kind, field_, value, why in check.reopen:
            items = ledger.items(kind, ["done"])
            if field_ == "name":
                keys = [i.source_id for i in items if (i.name or "").lower() == value.lower()]
            elif field_ == "scope":
                keys = [i.source_id for i in items if i.scope == value]
            else:
                scope, folder = value.split("|", 1)
                keys = [i.source_id for i in items if i.scope == scope and _folder(i.name) == "/" + folder.strip("/")]
            count = ledger.reopen(kind, keys, why)
            wanted = set(keys)
            chosen = [i for i in items if i.source_id in wanted]
            for scope in {i.scope for i in chosen}:
                ledger.forget_delta_links(kind, scope)
            rows.append({"area": check.area, "what": why, "ledger kind": kind, "items reopened": count,
                         "rerun": chosen[0].phase if chosen else RERUN.get(check.area, "")})
    table = pd.DataFrame(rows, columns=["area", "what", "ledger kind", "items reopened", "rerun"])
    phase.save_table("reopened", table)
    return table


def every_check(phase: Phase, old: GraphClient, new: GraphClient, old_person: GraphClient, new_person: GraphClient,
                src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> list[Check]:
    """Every area's fresh reads of both tenants, in the order the report shows them."""
    ts = sites_made(phase, old, new, src, moving)
    return [users_check(moving, tgt), groups_check(src, tgt, moving), dns_check(phase, new, src), kept_dns_check(phase),
            *settings_check(phase, old, new, src, tgt),
            lists_check(phase, ts), library_files_check(phase, old, new, ts),
            files_check(phase, old, new, moving, tgt),
            *mail_checks(phase, old, new, src, tgt, moving),
            notes_check(phase, old, new, old_person, new_person, src, tgt, moving)]


def reconcile_all(phase: Phase, checks: list[Check]) -> Verdict:
    ledger, open_items = ledger_check(phase)
    verdict = Verdict([ledger, *checks], open_items)
    verdict.reopened = reopen(phase, verdict)
    for c in verdict.checks:
        phase.save_table(f"reconcile-{c.area.replace(' ', '-')}", c.frame)
    phase.save_table("reconcile-summary", verdict.summary())
    return verdict


def closing_checklist(phase: Phase, verdict: Verdict, src: Inventory, moving: pd.DataFrame) -> StepResult:
    """Green: what to do before and after cancelling the old subscription. Red: nothing to close yet."""
    report = Report()
    summary: dict[str, Any] = {"verdict": "green" if verdict.green else "red", "rerun": verdict.rerun(),
                               **{f"{r['area']} differing": int(r["missing"] + r["extra"] + r["mismatched"])
                                  for _, r in verdict.summary().iterrows()}}
    if not verdict.green:
        again = verdict.rerun()
        report.banner("fail", "not ready to close: " + (f"rerun {', '.join(again)}, then this phase" if again else
                                                         "fix what the verdict names, then run this phase again"))
        return StepResult(report, summary)
    mailboxes_old = [str(u) for u in moving["source_upn"]]
    steps = [
        ("Turn off the old tenant's Calendar Repair Assistant", "It can send stray meeting updates about every 26 "
         "hours for the meetings that moved. Exchange Online PowerShell, old tenant: "
         f"Connect-ExchangeOnline -Organization {src.initial_domain}; then, per moved mailbox: "
         + "; ".join(f"Set-Mailbox -Identity '{u}' -CalendarRepairDisabled $true" for u in mailboxes_old[:3])
         + (f"; ... ({len(mailboxes_old)} in all: the run folder's closing-checklist.csv)" if len(mailboxes_old) > 3
            else "")),
        ("Tell the users", "Their temporary passwords are in the state folder's passwords/ (owner-only, encrypted with "
         "your vault key): `python -m tenantmove passwords PARAMS --out FILE` writes them out for you to hand over; "
         "each must sign in once and change it. Outlook profiles and OneDrive sync must be set up again for the "
         "new tenant."),
        ("Keep the old subscription running", "Until users confirm they have everything and your retention rules are "
         "met: the old tenant is the only copy of what no API could move (see the manual items)."),
        ("Remove the migration's access", "The Set-SPOUser site collection admin rights phase 80 asked for, and the "
         "app registrations' consent in both tenants, once nothing reruns."),
        ("Cancel the old subscription", "Through Microsoft support, as Microsoft's article says; the old tenant's "
         f"onmicrosoft name ({src.initial_domain}) stays taken and cannot be reused."),
    ]
    table = pd.DataFrame([{"step": s, "what to do": w, "done": "☐"} for s, w in steps])
    phase.save_table("closing-checklist", pd.DataFrame(
        [{"step": "Calendar Repair Assistant", "command": f"Set-Mailbox -Identity '{u}' -CalendarRepairDisabled $true"}
         for u in mailboxes_old]))
    report.banner("ok", "ready to close: every workload reconciles").table(table, "Closing checklist")
    return StepResult(report, summary)
