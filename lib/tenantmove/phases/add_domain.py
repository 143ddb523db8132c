"""Phase 30: the new tenant takes the domain (add, TXT, verify, service records), then the users,
groups, distribution lists (manual: Exchange) and memberships."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ..engine import Outcome
from ..report import Report, ShowsItself
from ..runbook import outside_mail
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.dnsops import from_graph
from ..services.graph import GraphClient, GraphError, path
from ..workloads import dnssnapshot, dnsttl, mailwindow
from ..workloads import domain as domains
from ..workloads.distribution import DistributionLists
from ..workloads.dkim import DkimSigning
from ..workloads.dnsrecords import SPF_INCLUDE, DnsRecords, is_spf, spf_change
from ..workloads.exported import folder_of
from ..workloads.groupdelivery import GroupDelivery
from ..workloads.groups import GRAPH_KINDS, Groups, Members, settings_change
from ..workloads.guests import Guests, guest_states
from ..workloads.inventory import Inventory
from ..workloads.licenceplans import LicencePlans
from ..workloads.owners import GroupOwners, owners_from_inventory, owners_from_tenant
from ..workloads.people import Managers, People, PersonAttributes, from_inventory, from_tenant, plan_table
from ..workloads.people import reconcile as reconcile_people
from ..workloads.resourcemailboxes import ResourceMailboxes
from ..workloads.users import Users, prestage_upn
from .checks import Check, Reads, reconciles, workload_check
from .common import (
    ONEDRIVES_LATER,
    StepFailed,
    StepResult,
    elsewhere_rows,
    guest_rows,
    merge_resolution,
    merged_rows,
    people_elsewhere,
    request_onedrives,
    resource_rows,
)


@dataclass(frozen=True)
class DomainAdd:
    """One custom domain as phase 30 finds it in the new tenant, and what it publishes for it."""

    domain: str
    state: str
    services: list[str]
    expected: pd.DataFrame  # the service records the old tenant had

    def report(self) -> Report:
        return (Report().facts(f"{self.domain} in the new tenant", {"now": self.state,
                                                                    "services to enable": ", ".join(self.services)})
                .table(self.expected, f"Service records of {self.domain} to publish after verification (as the old "
                                      "tenant had them)"))


@dataclass(repr=False)
class AddPlan(ShowsItself):
    domains: list[DomainAdd]  # the migration's domain first, then also_domains
    moving: pd.DataFrame
    groups: pd.DataFrame
    people: pd.DataFrame
    guests: pd.DataFrame
    dns_facts: Report
    merge: pd.DataFrame | None = None  # in a merge: what it changes here (new names, people another migration makes)

    def report(self) -> Report:
        report = Report()
        for one in self.domains:
            report.add(one.report())
        return (report.table(self.moving[["source_upn", "target_upn", "usage_location", "licences", "groups"]],
                       "Users to create or update (usage location before licences)")
                .table(self.groups.drop(columns=["id"]),
                       "Groups to recreate (distribution lists: a script for Exchange Online PowerShell)")
                .table(self.people, "Per person: the attributes carried, the manager (a manager who does not move "
                                    "is a manual item), the service plans kept off, the groups they own")
                .table(self.guests[["source_upn", "target_upn", "display_name", "groups"]],
                       "Guests to invite again, at their own address (no invitation mail is sent; they redeem when "
                       "they first open what is shared with them)")
                .table(self.merge if self.merge is not None else pd.DataFrame(),
                       "The merge: what meets another migration's in the new tenant, and what happens here")
                .add(self.dns_facts))



def plan(phase: Phase, new: GraphClient, src: Inventory, moving: pd.DataFrame) -> AddPlan:
    names = {d["id"]: d for d in new.get("domains")["value"]}
    found = []
    for domain in phase.params.domains:
        state = "verified" if names.get(domain, {}).get("isVerified") else ("added, not verified" if domain in names
                                                                             else "not added yet")
        src_domain = src.domains[src.domains["domain"] == domain]
        services = [s.strip() for s in (src_domain.iloc[0]["services"] if not src_domain.empty else "Email").split(",")
                    if s.strip()] or ["Email"]
        found.append(DomainAdd(domain, state, services, src.dns_records[src.dns_records["domain"] == domain]))
    people = plan_table(People(new, moving, from_inventory(src), elsewhere_rows(phase)), src.raw.get("owners"))
    return AddPlan(found, moving, src.groups, people, guest_rows(phase), phase.dns_facts(), merge_table(phase))


def merge_table(phase: Phase) -> pd.DataFrame | None:
    """In a merge: each name this migration's objects take in the new tenant, and each person another migration
    makes (merged people; guests who are people there)."""
    res = merge_resolution(phase)
    if res is None:
        return None
    rows = [{"what": "group", "old": gid, "in the new tenant": ", ".join(f"{k} {v}" for k, v in names.items())}
            for gid, names in res.groups.items()]
    rows += [{"what": "person (suffix rule)", "old": o, "in the new tenant": n} for o, n in res.users.items()]
    rows += [{"what": "person another migration makes (merge)", "old": o, "in the new tenant": n}
             for o, n in res.merged.items()]
    rows += [{"what": "guest who is another migration's person (not invited)", "old": o, "in the new tenant": n}
             for o, n in res.members_elsewhere.items()]
    return pd.DataFrame(rows, columns=["what", "old", "in the new tenant"])


def apply(phase: Phase, new: GraphClient, src: Inventory, tgt: Inventory, moving: pd.DataFrame, add: AddPlan,
          gate: ConfirmGate) -> StepResult:
    users = Users(new, moving, src, tgt, phase.password_vault(), upn_for=lambda r: r["target_upn"],
                  also_look_for=lambda r: [prestage_upn(r["target_upn"], tgt.initial_domain)])
    groups = Groups(new, src)
    guests = Guests(new, add.guests, src)
    lists = DistributionLists(new, src, moving, phase.params.domains, tgt.initial_domain, later=resource_rows(phase))
    boxes = ResourceMailboxes(new, resource_rows(phase), src, tgt.initial_domain)
    delivery = GroupDelivery(folder_of(phase.state_dir), src.initial_domain, tgt.initial_domain, src.groups)
    report = Report()
    if phase.dry_run:
        for workload in (users, guests, groups, delivery, lists, boxes):
            report.add(phase.run(workload).report())
        report.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return StepResult(report, {"result": "dry run"})
    elsewhere, missing = people_elsewhere(phase, new)
    if missing:  # the first migration of the merge makes them: its phase 30 runs first
        raise StepFailed(f"{', '.join(missing)} is not in the new tenant yet: another migration of the merge "
                         "makes them", where=phase.id,
                         hint="run phase 30 of the merge's first migration (the merge file's order) first, then "
                              "this one")
    gate.require()
    views = phase.domain_views()
    verified = {view.params.domain: verify(view, new, gate) for view in views}  # each domain, before its people
    # the people and groups get their addresses on the domain before its MX leads to the new tenant: Exchange Online
    # Protection refuses mail for an address it does not know yet with a 5xx (a bounce), not a "try later"
    made_users, invited, made_groups = phase.run(users, gate), phase.run(guests, gate), phase.run(groups, gate)
    outcomes: list[Outcome] = [made_users, invited, made_groups, phase.run(delivery, gate), phase.run(lists, gate)]
    by_upn = dict(zip(src.users["userPrincipalName"].str.lower(), src.users["id"], strict=True))
    members = Members(new, src, made_groups.targets(), {**made_users.targets(), **invited.targets(),
                                                        **{by_upn[u]: t for u, t in elsewhere.items() if u in by_upn}})
    outcomes.append(phase.run(members, gate))
    published = [publish(view, new, tgt, one, report, gate) for view, one in zip(views, add.domains, strict=True)]
    services = sum(n for n, _ in published)
    records = [pair[0] for _, pair in published]  # the DNS changes: shown by their workload as they happen
    outcomes = [*records, *(pair[1] for _, pair in published), *outcomes]
    # the people as they were: attributes, managers (a merge's other people among them), plans, owners
    people = People(new, moving, from_inventory(src), elsewhere_rows(phase))
    outcomes.append(phase.run(boxes, gate))
    outcomes += [phase.run(PersonAttributes(people), gate), phase.run(Managers(people), gate),
                 phase.run(LicencePlans(people, tgt.raw.get("subscribedSkus") or []), gate),
                 phase.run(GroupOwners(new, src.groups, owners_from_inventory(src), made_groups.targets(),
                                       pd.concat([moving, merged_rows(phase)], ignore_index=True)), gate)]
    onedrives = request_onedrives(phase, new, moving, tgt)
    if onedrives is not None:
        outcomes.append(onedrives)
    else:
        report.text(ONEDRIVES_LATER)
    for outcome in outcomes[len(records):]:
        report.add(outcome.report())
    window = phase.downtime().window()
    report.facts("Mail downtime window" + (f" of {phase.params.domain}" if len(views) > 1 else ""), window)
    for view in views[1:]:
        report.facts(f"Mail downtime window of {view.params.domain}", view.downtime().window())
    flow = sender_view(phase)
    if flow:
        report.facts("Mail from outside in the window (the sandbox's sending mail server, RFC 5321)", flow)
    changed = any(a == "added" or v == "verified" for a, v in verified.values()) or any(o.changed for o in outcomes)
    if not changed:
        report.banner("ok", "nothing changed: the domain, the DNS records, the users, groups and members were all "
                            "done before")
    created = made_users.count("created")
    if created:
        report.text(f"Temporary passwords of the {created} new user(s) are in `{users.vault.path}` "
                    "(readable only by you, encrypted with your vault key; `python -m tenantmove passwords` writes "
                    "them out); users must change them at first sign-in. They are never shown here.")
    summary = {**({"domain": ", ".join(verified[phase.params.domain])} if len(views) == 1 else
                  {f"domain {d}": ", ".join(v) for d, v in verified.items()}), "service records": services}
    for outcome in outcomes:
        summary.update(outcome.summary())
    summary["members not moved (group is manual, or member not mapped)"] = len(src.memberships) - len(members.wanted())
    return StepResult(report, {**summary, **window, **{f"mail from outside: {k}": v for k, v in flow.items()}})


def verify(phase: Phase, new: GraphClient, gate: ConfirmGate) -> tuple[str, str]:
    """One custom domain (in its view of the phase) added to the new tenant, its verification TXT published and
    seen, and the domain verified: (added, verified)."""
    domain = phase.params.domain
    ns, provider = phase.dns()
    wait, poll = phase.dns_wait()
    added = domains.add_domain(new, domain)
    txt = domains.verification_records(new, domain) if added != "verified already" else []
    phase.run(DnsRecords(ns, provider, present=txt, wait_seconds=wait, poll_seconds=poll,
                         title="verification TXT records", progress=phase.progress("waiting for DNS: verification TXT")), gate)
    return added, domains.verify_domain(new, domain, pause=poll)  # DNS may take a poll or two to show the TXT


def publish(phase: Phase, new: GraphClient, tgt: Inventory, add: DomainAdd, report: Report,
            gate: ConfirmGate) -> tuple[int, tuple[Outcome, Outcome]]:
    """One custom domain's service records (the new MX last of the cutover: mail comes back when it answers), its
    TTLs given back, DKIM as the old tenant had it; its downtime record's mail_up. (records, (published, dkim))."""
    domain = phase.params.domain
    ns, provider = phase.dns()
    wait, poll = phase.dns_wait()
    after = phase.params.dns_ttl_after  # the TTL the admin wants once the cutover is done
    services, replaced, spf = spf_change(ns, domain, [replace(r, ttl=after) for r in
                                                      domains.service_records(new, domain, add.services)])
    report.text(f"SPF of {domain}: {spf}.")
    holding = [mailwindow.holding_record(domain, phase.params.holding_mx)] if phase.params.holding_mx else []
    if holding:  # the new MX and the holding MX's removal in one change: no moment without an MX
        report.text(f"The holding MX `{holding[0].value}` gives way to the new tenant's MX in the same change.")
    published = phase.run(DnsRecords(ns, provider, present=services, absent=replaced + holding, wait_seconds=wait,
                                     poll_seconds=poll, destructive=bool(replaced or holding),
                                     title="service records",
                                     progress=phase.progress("waiting for DNS: service records")), gate)
    for note in dnsttl.restore(ns, provider, domain, after):  # what phase 00 lowered and the cutover kept (SPF)
        report.text(f"TTL: {note}.")
    snapshot = dnssnapshot.load(phase.domain_state)
    had_dkim = snapshot is not None and bool((snapshot["owner"] == dnssnapshot.DKIM).any())
    dkim = phase.run(DkimSigning(ns, domain, tgt.initial_domain, had_dkim), gate)
    mx = [r for r in services if r.type == "MX"]
    if mx:  # nothing is left unpublished, so every authoritative server answers with the new MX
        phase.downtime().mark("mail_up", phase.run_id, phase.operator, f"MX {mx[0].value} answers")
    return len(services), (published, dkim)


def sender_view(phase: Phase) -> dict[str, Any]:
    """The sandbox's outside sender as it sees the window so far (a rehearsal only; {} against Microsoft 365): its
    figures, and each letter in ``mail-flow.csv``. Letters still queued are delivered later; phase 90 has the end."""
    sender = outside_mail.for_endpoints(phase.endpoints)
    view = sender.view() if sender is not None else {}
    if not view.get("letters"):
        return {}
    phase.save_table("mail-flow", mailwindow.letters(view))
    return mailwindow.figures(view)


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


def guests_renamed(src: Inventory, tgt: Inventory) -> dict[str, str]:
    """Each old guest's UPN -> their UPN as a guest of the new tenant (matched by their address)."""
    def by_mail(inv: Inventory) -> dict[str, str]:
        users = inv.users[inv.users["userType"] == "Guest"]
        return {str(m).lower(): str(u).lower() for m, u in zip(users["mail"], users["userPrincipalName"], strict=True)
                if m}
    new = by_mail(tgt)
    return {upn: new[mail] for mail, upn in by_mail(src).items() if mail in new}


def groups_check(src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Check:
    """Every old group in the new tenant (by mail nickname) with the same members, mapped to their new names."""
    check = Check("groups")
    renamed = {str(s).lower(): str(t).lower() for s, t in zip(moving["source_upn"], moving["target_upn"], strict=True)}
    renamed.update(guests_renamed(src, tgt))
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
        there = tgt.groups[tgt.groups["id"] == new_ids[nick]].iloc[0]
        change, note = settings_change(group, there) if group["kind"] in GRAPH_KINDS else ({}, "")
        if change:
            check.reopen.append(("group", "name", str(group["displayName"]),
                                 f"{group['displayName']}: {', '.join(sorted(change))} differ in the new tenant"))
        back = {t: s for s, t in renamed.items()}
        check.reopen += [("member", "name", f"{group['displayName']}: {back[m]}", f"{m} is not in {group['displayName']}")
                         for m in lost]
        check.add(str(group["displayName"]), len(wanted), len(got), missing=len(lost), extra=len(more),
                  mismatched=int(bool(change)),
                  detail="; ".join(([f"members missing: {', '.join(lost)}"] if lost else [])
                                   + ([f"members not in the old group: {', '.join(more)}"] if more else [])
                                   + ([f"{', '.join(sorted(change))} differ"] if change else [])
                                   + ([note] if note else [])))
    return check


def dns_check(phase: Phase, new: GraphClient, src: Inventory) -> Check:
    """Every record the new tenant asks of each custom domain, served by every authoritative server (the domain's
    own DNS settings); beside it, whether the old tenant's domain had that record (phase 00's inventory). An
    optional record not served is named, not counted missing."""
    check = Check("DNS records")
    for view in phase.domain_views():
        _dns_of(view, new, src, check)
    return check


def _dns_of(phase: Phase, new: GraphClient, src: Inventory, check: Check) -> None:
    domain = phase.params.domain.lower()
    try:
        wanted = new.get(path("domains", domain, "serviceConfigurationRecords"))["value"]
    except GraphError as exc:
        check.add(domain, 1, 0, missing=1, detail=f"the new tenant does not serve its records: {exc.one_line()}")
        return
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



@reconciles("users", "groups")
def directory_reconciled(r: Reads) -> list[Check]:
    boxes = resource_rows(r.phase)  # shared, room and equipment mailboxes are members too, once phase 60 added them
    return [users_check(r.moving, r.tgt), groups_check(r.src, r.tgt, pd.concat(  # a merge's other people too
        [r.moving, boxes, elsewhere_rows(r.phase)], ignore_index=True))]


@reconciles("DNS records")
def dns_reconciled(r: Reads) -> Check:
    return dns_check(r.phase, r.new, r.src)


SETTLE_SECONDS = 180  # how long phase 90 lets the outside sender's queue empty before it counts


@reconciles("mail flow", rerun="")
def mail_flow_reconciled(r: Reads) -> list[Check]:
    """A rehearsal's sender's view: every letter the outside world sent in the window is in its recipient's new
    mailbox (delivered in the old tenant before the cutover and moved by phase 60, or delivered in the new one);
    a bounced letter is lost for good, and nothing reruns it back."""
    sender = outside_mail.for_endpoints(r.phase.endpoints)
    view = sender.settle(SETTLE_SECONDS) if sender is not None else {}
    table = mailwindow.letters(view)
    if not table.empty:  # the letters to this migration's domains (a merge's other cutovers have their own)
        table = table[table["to"].str.lower().str.rpartition("@")[2].isin(r.phase.params.domains)]
    if table.empty:
        return []
    r.phase.save_table("mail-flow", table)
    found = mailwindow.found_in_mailboxes(r.new, table)
    check = Check("mail flow")
    for to, rows in table.groupby("to"):
        there = len(found.get(str(to), set()))
        bounced, queued = rows[rows["state"] == "bounced"], rows[rows["state"] == "queued"]
        notes = [f"sent {len(rows)}, delivered {int((rows['state'] == 'delivered').sum())}, bounced {len(bounced)}, "
                 f"longest delay {rows['delay_seconds'].max():.1f} s; {there} of {len(rows)} in the new mailbox"]
        notes += [f"bounced: {bounced.iloc[0]['last']}"] if len(bounced) else []
        notes += [f"{len(queued)} still queued at the sender"] if len(queued) else []
        check.add(f"{to}: letters from outside", len(rows), there, missing=len(rows) - there,
                  detail="; ".join(notes))
    return [check]


@reconciles("people")
def people_reconciled(r: Reads) -> Check:
    """Each moving person's attributes, one by one, and their manager by mapped person, against the old tenant as it
    is now; a difference reopens the person's item."""
    check = Check("people")
    for row in reconcile_people(People(r.new, r.moving, from_tenant(r.old, r.src), elsewhere_rows(r.phase))):
        bad = bool(row["differing"]) or row["manager differs"]
        if row["differing"] and not row["missing"]:
            check.reopen.append(("person-attributes", "name", row["person"],
                                 f"{row['new person']}: {', '.join(row['differing'])} differ in the new tenant"))
        if row["manager differs"] and not row["missing"]:
            check.reopen.append(("manager", "name", row["person"],
                                 f"{row['new person']}: the manager is not {row['manager']} in the new tenant"))
        check.add(str(row["new person"]), row["attributes"] + int(bool(row["manager"])),
                  0 if row["missing"] else row["attributes"] - len(row["differing"]) + int(bool(row["manager"]))
                  - int(row["manager differs"]), missing=int(row["missing"]), mismatched=int(bad and not row["missing"]),
                  detail="not in the new tenant" if row["missing"] else "; ".join(
                      [f"differs: {', '.join(row['differing'])}"] * bool(row["differing"])
                      + [f"manager is not {row['manager']}"] * bool(row["manager differs"])))
    return check


@reconciles("service plans", "group owners", "group delivery", "resource mailboxes")
def plans_and_owners_reconciled(r: Reads) -> list[Check]:
    """Each moving person's service plans off, by name, each recreated group's owners by mapped person (against the
    old tenant as it is now) and its delivery settings (against the newest export of each tenant), and each shared,
    room and equipment mailbox by its kind and place."""
    people = People(r.new, r.moving, from_tenant(r.old, r.src), elsewhere_rows(r.phase))
    made = {str(g): str(n) for g, n in _groups_made(r.src, r.tgt).items()}
    return [workload_check("service plans", LicencePlans(people, r.tgt.raw.get("subscribedSkus") or [])),
            workload_check("group owners", GroupOwners(r.new, r.src.groups, owners_from_tenant(r.old, r.src), made,
                                                       pd.concat([r.moving, merged_rows(r.phase)], ignore_index=True))),
            workload_check("group delivery", GroupDelivery(folder_of(r.phase.state_dir), r.src.initial_domain,
                                                           r.tgt.initial_domain, r.src.groups)),
            workload_check("resource mailboxes", ResourceMailboxes(r.new, resource_rows(r.phase), r.src,
                                                                   r.tgt.initial_domain))]


def _groups_made(src: Inventory, tgt: Inventory) -> dict[str, str]:
    """Old group id -> the new group's id, matched by mail nickname (as the groups check matches them)."""
    new_ids = {str(n).lower(): str(i) for n, i in zip(tgt.groups["mailNickname"], tgt.groups["id"], strict=True)}
    return {str(g): new_ids[str(n).lower()] for g, n, k in zip(src.groups["id"], src.groups["mailNickname"],
                                                               src.groups["kind"], strict=True)
            if k in GRAPH_KINDS and str(n).lower() in new_ids}


@reconciles("guests")
def guests_reconciled(r: Reads) -> Check:
    """Each guest of the mapping in the new tenant; one who has not redeemed the invitation yet is reported
    (PendingAcceptance), not counted as a difference."""
    check = Check("guests")
    for _, row in guest_states(r.new, guest_rows(r.phase)).iterrows():
        there = bool(row["in the new tenant"])
        if not there:
            check.reopen.append(("guest", "name", str(row["guest"]), f"{row['invited at']} is not a guest of the "
                                                                     "new tenant"))
        check.add(str(row["invited at"]), 1, int(there), missing=int(not there),
                  detail="" if not there else ("invited, not redeemed yet (PendingAcceptance): they redeem when they "
                                               "first open what is shared with them"
                                               if row["state"] == "PendingAcceptance" else str(row["state"])))
    return check
