"""Phase 60: each mapped user's mailbox (shared mailboxes too) through the import/export API: folders,
then every item. Counted per folder on both sides afterwards, and read back through the ordinary
endpoints: no draft made, no invitation sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import Outcome, Workload
from ..report import Report, ShowsItself
from ..runbook import permissions
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..services.mailboxes import MailboxClient
from ..services.outlook import OutlookClient
from ..workloads import fidelity
from ..workloads.addresses import Addresses, Owner
from ..workloads.calendarperms import CalendarPermissions
from ..workloads.exported import folder_of
from ..workloads.inboxrules import InboxRules, graph_folder_map
from ..workloads.inventory import Inventory
from ..workloads.mail import MailCopy, MailFolders, MailItems, find_mailboxes, folder_paths
from ..workloads.mailaddresses import MailAddresses, accepted_domains
from ..workloads.mailboxrights import MailboxRights
from ..workloads.mailboxsettings import MailboxSettings
from ..workloads.photos import Photos
from ..workloads.resourcemailboxes import ResourceMemberships, groups_by_old_id
from ..workloads.users import prestage_upn
from .checks import Check, Reads, reconciles, workload_check
from .common import (
    StepResult,
    Steps,
    apply_workloads,
    merge_resolution,
    merged_rows,
    plan_workloads,
    resource_rows,
)

KINDS = {"IPM.Note": "mail", "IPM.Appointment": "events", "IPM.Contact": "contacts", "IPM.Task": "tasks",
         "IPM.StickyNote": "notes"}


@dataclass
class Mail:
    copy: MailCopy
    folders: MailFolders
    items: MailItems
    old_keys: dict[str, str]  # mailbox name -> the old user's key (object id: phase 20 renamed them)
    people: tuple[Workload, ...] = ()  # the mailbox's people: photo, settings, who may act, rules
    shared: frozenset[str] = frozenset()  # a merge: mailboxes (names shown) whose new mailbox holds another
                                          # migration's mail too (its extras are not this migration's to count)

    @property
    def workloads(self) -> tuple[Workload, ...]:
        """What this phase declares: planned together, applied in this order (the folders; then the photo, the
        settings, the calendar's delegates and the rules, so that delegates see the content when it lands and rules
        find their folders; then the items)."""
        return (self.folders, *self.people, self.items)


def connect(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory,
            moving: pd.DataFrame) -> Mail:
    """The mailboxes to move. A tenant whose app may not use the import/export API stops the phase here,
    before anything is written, with the permission and how to grant it. In a merge, a person another migration
    made (action ``merge``) gets this old mailbox's folders under the merge's folder of their new mailbox, and the
    old addresses as aliases; their photo, settings, delegates, rules and rights stay as the other migration
    moved them (never overwritten)."""
    permissions.require(permissions.check(phase.granted(), phase.token_kinds(), phases=[phase.id]), phase.id)
    ids = {str(u).lower(): i for u, i in zip(src.users["userPrincipalName"], src.users["id"], strict=True)}
    o, n = MailboxClient(old), MailboxClient(new)
    boxes = resource_rows(phase)  # shared, room and equipment mailboxes: made by phase 30's script, moved like any
    res = merge_resolution(phase)
    merged = merged_rows(phase) if res is not None else pd.DataFrame(columns=["source_upn", "target_upn"])
    wanted = []
    for _, row in pd.concat([moving, boxes, merged], ignore_index=True).iterrows():
        target = row["target_upn"]
        if n.mailbox_id(target) is None and n.mailbox_id(prestage_upn(target, tgt.initial_domain)) is not None:
            target = prestage_upn(target, tgt.initial_domain)  # pre-staged, not renamed yet
        wanted.append((row["source_upn"], ids.get(str(row["source_upn"]).lower(), row["source_upn"]), target))
    under = {str(u): res.folder for u in merged["source_upn"]} if res is not None else {}
    copy = MailCopy(o, n, find_mailboxes(o, n, wanted, under))
    copy.load_folders()
    keys = {name: key for name, key, _ in wanted}
    owners = [Owner(p.source_name, keys[p.source_name], str(p.target_name)) for p in copy.ready()]
    own = [w for w in owners if w.name not in under]  # the people whose mailbox this migration made
    addresses = Addresses(pd.concat([moving, boxes], ignore_index=True), src)  # shared mailboxes have addresses too
    people = (ResourceMemberships(new, src, boxes, groups_by_old_id(src, tgt)),
              MailAddresses(new, owners, src, accepted_domains(new), tgt.initial_domain,
                            frozenset(str(u).lower() for u in under)),
              Photos(old, new, own), MailboxSettings(old, new, own),
              CalendarPermissions(old, new, own, addresses),
              InboxRules(old, new, own, addresses, graph_folder_map(old, new)),
              MailboxRights(folder_of(phase.state_dir), src.initial_domain, tgt.initial_domain, addresses,
                            [(keys[name], name, str(target)) for name, _, target in wanted if name not in under]))
    shared = {p.source_name for p in copy.pairs if p.under or (res is not None and str(p.target_name).lower() in
                                                               {k.lower() for k in res.merged_in})}
    return Mail(copy, MailFolders(copy), MailItems(copy), keys, people, frozenset(shared))


@dataclass(repr=False)
class MailPlan(ShowsItself):
    mailboxes: pd.DataFrame
    outcomes: list[Outcome]

    def report(self) -> Report:
        report = Report().table(self.mailboxes, "Per mailbox: what this pass moves (the first pass: everything; "
                                                "later passes: new and changed items), and what of its person "
                                                "moves with it (the aliases and X500 address are a script for "
                                                "Exchange; a rule forwarding outside is reported, not copied)")
        for outcome in self.outcomes:
            report.add(outcome.report())
        return report.text("Every item goes through Exchange's import/export API in full fidelity: nothing is "
                           "sent, so no draft is made and no meeting invitation goes out; dates, read state and "
                           "categories stay as they were.")


# the mailbox's people, per person in the plan: the ledger kind and its column
PEOPLE_COLUMNS = {"resource-member": "memberships (shared, room)", "mail-address": "aliases, X500",
                  "mailbox-right": "rights held on it", "photo": "photo", "mailbox-settings": "settings",
                  "calendar-permission": "calendar permissions", "inbox-rule": "inbox rules"}


def person_of(kind: str, row: dict[str, Any]) -> str:
    """Whose mailbox a planned item belongs to (the old UPN, lower case), from its ledger key: most kinds key by the
    person first; a right by ``right/mailbox/person``; a membership by group and member id, its name ends with the
    member."""
    key = str(row["key"])
    if kind == "mailbox-right":
        return key.split("/")[1] if key.count("/") == 2 else ""
    if kind == "resource-member":
        return str(row["name"]).rsplit(": ", 1)[-1].lower()
    return key.split("/", 1)[0]


def people_counts(outcomes: list[Outcome]) -> Counter[tuple[str, str]]:
    """(old UPN, column) -> how many items of that kind the plan lists for the person's mailbox."""
    people: Counter[tuple[str, str]] = Counter()
    for outcome in outcomes:
        if outcome.kind in PEOPLE_COLUMNS:
            for row in outcome.rows:
                people[(person_of(outcome.kind, row), PEOPLE_COLUMNS[outcome.kind])] += 1
    return people


def per_mailbox(mail: Mail, outcomes: list[Outcome] | None = None) -> pd.DataFrame:
    """Per mailbox: its folders and items by kind and size, and what of its person moves with it (the number of
    items of each kind the plan lists for them: a photo, their settings, each calendar permission, each rule)."""
    people = people_counts(outcomes or [])
    rows = []
    for pair in mail.copy.pairs:
        mine = [w for w in mail.items.listed if w.scope == pair.scope]
        kinds = Counter(KINDS.get(str(w.detail.get("type")), "other") for w in mine)
        rows.append({"mailbox": pair.source_name, "new mailbox": pair.target_name,
                     "old": "yes" if pair.source else "none", "new": "ready" if pair.target else
                     "not there yet (licence not assigned, or provisioning): rerun later",
                     "folders": len(pair.paths), **{k: kinds.get(k, 0) for k in KINDS.values()},
                     "bytes": sum(w.size or 0 for w in mine),
                     **{c: people[(pair.source_name.lower(), c)] for c in PEOPLE_COLUMNS.values()}})
    return pd.DataFrame(rows)


def plan(phase: Phase, mail: Mail) -> MailPlan:
    outcomes = plan_workloads(phase, mail.workloads)
    table = per_mailbox(mail, outcomes)
    phase.save_table("mailbox-plan", table)
    return MailPlan(table, outcomes)


def counts(mail: Mail) -> pd.DataFrame:
    """Items and bytes per folder, old and new, from each side's folders and their items; folders are compared by
    their place (the path from the mailbox's root), so a folder that arrived elsewhere, or not at all, even empty,
    is not in its place."""
    rows = []
    for pair in mail.copy.ready():
        sides = []
        for client, box in ((mail.copy.old, str(pair.source)), (mail.copy.new, str(pair.target))):
            folders = client.folders(box)
            paths = folder_paths(folders)
            sides.append({paths[f["id"]]: (f.get("totalItemCount", 0),
                                           sum(int(i.get("size") or 0) for i in client.items(box, f["id"]))
                                           if f.get("totalItemCount") else 0) for f in folders})
        old, new = sides
        for folder in sorted(old):
            there = new.get(pair.new_path(folder), (0, 0))
            rows.append({"mailbox": pair.source_name, "folder": folder, "old": old[folder][0], "new": there[0],
                         "missing": max(0, old[folder][0] - there[0]), "old bytes": old[folder][1],
                         "new bytes": there[1], "in its place": pair.new_path(folder) in new})
    return pd.DataFrame(rows, columns=["mailbox", "folder", "old", "new", "missing", "old bytes", "new bytes",
                                       "in its place"])


def drafts_made(old: GraphClient, new: GraphClient, mail: Mail, old_keys: dict[str, str]) -> int:
    """Drafts in the new mailboxes beyond those the old ones had (read through the ordinary endpoint)."""
    made = 0
    for pair in mail.copy.ready():
        if pair.source_name in mail.shared:  # another migration's drafts are there too: its folders' counts tell
            continue
        before = sum(1 for m in old.get_all(f"users/{old_keys[pair.source_name]}/messages") if m.get("isDraft"))
        after = sum(1 for m in new.get_all(f"users/{pair.target_name}/messages") if m.get("isDraft"))
        made += max(0, after - before)
    return made


def apply(phase: Phase, mail: Mail, old: GraphClient, new: GraphClient, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "moved", "folder(s) or item(s)",
                           lambda steps: move_and_compare(phase, mail, old, new, steps))


def move_and_compare(phase: Phase, mail: Mail, old: GraphClient, new: GraphClient, steps: Steps) -> dict[str, Any]:
    """Phase 60's apply: the declared workloads, then every folder counted and every item compared on both sides."""
    report = steps.report
    for workload in mail.workloads:
        steps.run(workload)
    table = counts(mail)
    phase.save_table("mailbox-counts", table)
    per = table.groupby("mailbox", as_index=False)[["old", "new", "missing"]].sum() if not table.empty else table
    report.table(table[table["old"] > 0], "Items per folder, old and new")
    report.bars(per, "mailbox", ["new", "missing"], "Items per mailbox in the new tenant, and missing", "items")
    drafts = drafts_made(old, new, mail, mail.old_keys)
    report.banner("ok" if drafts == 0 else "fail", f"drafts made by the move: {drafts}; invitations sent: none (the "
                  "import API sends nothing)")
    same = fidelity.compare(OutlookClient(old), OutlookClient(new),
                            [(p.source_name, mail.old_keys[p.source_name], str(p.target_name))
                             for p in mail.copy.ready()], phase.downtime().get("mail_down") or "", mail.shared)
    phase.save_table("mailbox-fidelity", same)
    report.table(same, "Fidelity per mailbox and kind, read through Outlook and To Do on both sides (mail with its "
                       "attachments by hash; series with moved and cancelled occurrences; contacts with photos; "
                       "tasks with list, checklist, linked resources and attachments)")
    extra, missing = int(same["extra or duplicate"].sum()), int(same["missing or changed"].sum())
    report.banner("fail" if extra else "warn" if missing else "ok",
                  f"{int(same['identical'].sum())} of {int(same['old'].sum())} items identical; {missing} missing or "
                  f"changed (mail that arrived after its folder was copied shows here until the next pass); {extra} "
                  f"extra or duplicated; {int(same['arrived since mail moved'].sum())} arrived in the new mailboxes "
                  "since mail moved")
    summary: dict[str, Any] = {"mailboxes": len(mail.copy.pairs), "mailboxes ready": len(mail.copy.ready()),
                               "items old": int(table["old"].sum()) if not table.empty else 0,
                               "items new": int(table["new"].sum()) if not table.empty else 0,
                               "drafts made": drafts, "items identical": int(same["identical"].sum()),
                               "items missing or changed": missing, "items extra or duplicate": extra,
                               "paced seconds": mail.copy.old.paced_seconds() + mail.copy.new.paced_seconds()}
    return summary


def mail_checks(mail: Mail, old: GraphClient, new: GraphClient, since: str = "") -> list[Check]:
    """Items per folder on both sides, and every item's fidelity read through Outlook and To Do. Mail received in
    the new mailbox since mail moved (``since``) is new mail, not extra."""
    in_folders, same = Check("mail"), Check("mail fidelity")
    table = fidelity.compare(OutlookClient(old), OutlookClient(new),
                             [(p.source_name, mail.old_keys[p.source_name], str(p.target_name))
                              for p in mail.copy.ready()], since, mail.shared)
    arrived = {str(r["mailbox"]): int(r["arrived since mail moved"]) for _, r in table.iterrows() if r["kind"] == "mail"}
    for pair in mail.copy.pairs:
        if pair.source and pair.target is None:
            in_folders.add(pair.source_name, 1, 0, missing=1, detail="no mailbox in the new tenant")
    for _, row in counts(mail).iterrows():
        placed = bool(row["in its place"])
        more = max(0, int(row["new"]) - int(row["old"]))
        new_mail = min(more, arrived.get(str(row["mailbox"]), 0))  # the new mail, where it arrived
        arrived[str(row["mailbox"])] = arrived.get(str(row["mailbox"]), 0) - new_mail
        notes = ([] if placed else ["the folder is not in its place in the new mailbox"]) + \
            ([f"{new_mail} arrived since mail moved"] if new_mail else [])
        in_folders.add(f"{row['mailbox']}: {row['folder']}", int(row["old"]), int(row["new"]),
                       missing=int(row["missing"]) or int(not placed), extra=more - new_mail, detail="; ".join(notes))
    for _, row in table.iterrows():
        same.add(f"{row['mailbox']}: {row['kind']}", int(row["old"]), int(row["new"]),
                 missing=int(row["missing or changed"]), extra=int(row["extra or duplicate"]))
        if row["missing or changed"]:  # which item is not known (the streams are opaque): the mailbox again
            same.reopen.append(("mail-item", "scope", str(row["mailbox"]).lower(),
                                f"{row['mailbox']}: {row['kind']} not identical in the new mailbox"))
    return [in_folders, same]


@reconciles("mail", "mail fidelity")
def mail_reconciled(r: Reads) -> list[Check]:
    return mail_checks(connected(r), r.old, r.new, r.phase.downtime().get("mail_down") or "")


def connected(r: Reads) -> Mail:
    """The mailboxes both of phase 90's mailbox checks read, connected once."""
    return r.once("mail", lambda: connect(r.phase, r.old, r.new, r.src, r.tgt, r.moving))


@reconciles("resource memberships", "addresses", "photos", "mailbox settings", "calendar permissions",
            "inbox rules", "mailbox rights")
def mailbox_people_reconciled(r: Reads) -> list[Check]:
    """Each moving person's aliases and X500 address (against phase 00's inventory: phase 20 renamed the old ones),
    photo (by hash), mailbox settings, calendar permissions (by mapped person and role) and inbox rules (with their
    people and folders mapped), against the old tenant as it is now."""
    mail = connected(r)
    return [workload_check(area, w) for area, w in zip(("resource memberships", "addresses", "photos",
                                                        "mailbox settings", "calendar permissions", "inbox rules",
                                                        "mailbox rights"), mail.people, strict=True)]
