"""Phase 20: release the custom domain from the old tenant — point the MX at the holding host (or remove it)
with the old services' other DNS records, wait until DNS shows them gone and the MX's TTL has run out, rename
users off the domain, delete it (forceDelete within its limits)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.dnsops import Record
from ..services.graph import GraphClient
from ..workloads import dnssnapshot, dnsttl, mailwindow
from ..workloads import domain as domains
from ..workloads.dnsrecords import COLUMNS as DNS_COLUMNS
from ..workloads.dnsrecords import RELEASED_RECORDS, DnsRecords, records_to_remove
from ..workloads.inventory import Inventory
from ..workloads.renames import UserRenames, rename_plan
from .common import StepResult


@dataclass(repr=False)
class ReleasePlan(ShowsItself):
    domain: str
    present: bool
    refs: pd.DataFrame
    renames: pd.DataFrame
    records: list[Record]
    dns_table: pd.DataFrame
    dns_facts: Report
    window: mailwindow.WindowPlan | None = None  # how mail lives the window (None: the MX is gone already)

    @property
    def nothing_to_do(self) -> bool:
        return not self.present and not self.records

    def report(self) -> Report:
        report = Report().add(self.dns_facts)
        if not self.present:
            report.banner("ok", f"{self.domain} is no longer a domain of the old tenant: its DNS is not this "
                                "phase's any more")
        report.table(self.refs, f"Objects that reference {self.domain} (domainNameReferences)")
        report.table(self.renames, "Plan: rename users to the old onmicrosoft domain")
        report.table(self.dns_table, "DNS records (live lookup at the authoritative servers): Microsoft 365's are "
                                     "removed, every other one is kept as it is")
        others = len(self.refs) - int((self.renames["type"] == "user").sum())
        if self.present and others > 0:
            report.text(f"**forceDelete** will rename the other {others} object(s). It is limited to 1,000 objects "
                        "and refuses multitenant applications (Graph cannot show which apps are multitenant: if one "
                        "references the domain, change its identifier URIs in the Entra admin centre first).")
        if self.present or self.records:
            report.banner("warn", f"From the moment Microsoft 365's DNS records are removed, mail to {self.domain} "
                                  "and Skype/Lync stop (and a public website on SharePoint), until phase 30 publishes "
                                  "the new records.")
        for level, text in self.window.lines() if self.window is not None else []:
            report.banner(level, text)
        return report





@dataclass(repr=False)
class ReleasePlans(ShowsItself):
    """Each custom domain's release (the migration's ``domain``, then ``also_domains``), each in its own view of
    the phase (its DNS settings, its cutover state and downtime record)."""

    plans: list[tuple[Phase, ReleasePlan]]

    @property
    def nothing_to_do(self) -> bool:
        return all(one.nothing_to_do for _, one in self.plans)

    def report(self) -> Report:
        if len(self.plans) == 1:
            return self.plans[0][1].report()
        report = Report().text(f"{len(self.plans)} custom domains leave the old tenant, one after the other, each "
                               "with its own DNS and its own downtime record: "
                               + ", ".join(one.domain for _, one in self.plans))
        for _, one in self.plans:
            report.text(f"**{one.domain}**").add(one.report())
        return report


def plan(phase: Phase, old: GraphClient, src: Inventory) -> ReleasePlans:
    """Each custom domain's release, planned (nothing changes)."""
    return ReleasePlans([(view, plan_one(view, old, src)) for view in phase.domain_views()])


def plan_one(phase: Phase, old: GraphClient, src: Inventory) -> ReleasePlan:
    """One domain's release, in its view of the phase."""
    domain = phase.params.domain
    present = domain in {d["id"] for d in old.get("domains")["value"]}
    refs = domains.domain_references(old, domain) if present else pd.DataFrame(columns=["type", "id", "name", "address"])
    renames = rename_plan(refs, domain, src.initial_domain)
    ns, _ = phase.dns()
    if present and dnssnapshot.load(phase.domain_state) is None:  # phase 00 ran before snapshots: take it before removing
        dnssnapshot.save(phase.domain_state, dnssnapshot.take(ns, domain))
    if present:
        codes = {r.value for r in domains.verification_records(old, domain)}
        records, table = records_to_remove(ns, domain, codes)
    else:  # released: whatever DNS serves now belongs to the new tenant and must not be touched
        records, table = [], pd.DataFrame(columns=DNS_COLUMNS)
    suffix = "" if phase.domain_state == phase.state_dir else f"-{domain}"
    phase.save_table("references" + suffix, refs)
    phase.save_table("rename-plan" + suffix, renames)
    phase.save_table("dns-remove" + suffix, table)
    if present:  # what the domain served before its release: phase 50 reads the public website's record here
        released = phase.domain_state / RELEASED_RECORDS
        released.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(released, index=False)
    window = mailwindow.plan_window(ns, domain, phase.params.holding_mx, phase.endpoints.smtp_hosts) \
        if any(r.type == "MX" for r in records) else None  # a holding MX that would bounce is refused here
    return ReleasePlan(domain, present, refs, renames, records, table, phase.dns_facts(), window)


def apply(phase: Phase, old: GraphClient, src: Inventory, release: ReleasePlans, gate: ConfirmGate) -> StepResult:
    """Each custom domain released in turn (:func:`apply_one`); one confirmation covers them all."""
    if len(release.plans) == 1:
        view, one = release.plans[0]
        return apply_one(view, old, src, one, gate)
    report, summary = Report(), {}
    for view, one in release.plans:
        done = apply_one(view, old, src, one, gate)
        report.text(f"**{one.domain}**").add(done.report)
        summary.update({f"{one.domain}: {k}": v for k, v in done.summary.items()})
    return StepResult(report, summary)


def apply_one(phase: Phase, old: GraphClient, src: Inventory, release: ReleasePlan, gate: ConfirmGate) -> StepResult:
    """One domain, in its view of the phase. The MX goes first (to the holding host, or away), then the domain waits the MX's TTL with its people still on
    it (mail that followed a cached MX is delivered in the old tenant, and phase 60 moves it), then the users are
    renamed and the domain deleted: renamed first, a sender's cached MX would meet "recipient rejected" (5.4.1)."""
    if release.nothing_to_do:
        return StepResult(Report().banner("ok", "nothing to change: the domain is released and its records are gone"),
                          {"result": "nothing to change"})
    ns, provider = phase.dns()
    wait, poll = phase.dns_wait()
    renames = UserRenames(old, release.renames)  # empty once the domain has left the old tenant
    holding = [mailwindow.holding_record(release.domain, phase.params.holding_mx)] \
        if release.window is not None and release.window.holding else []
    records = DnsRecords(ns, provider, present=holding, absent=release.records, wait_seconds=wait,
                         poll_seconds=poll, destructive=True, title="DNS records",
                         progress=phase.progress("waiting for DNS: removals"))
    report = Report()
    if phase.dry_run:
        for workload in (records, renames):
            report.add(phase.run(workload).report())
        report.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return StepResult(report, {"result": "dry run"})
    ttl = dnsttl.mx_ready(ns, release.domain, phase.domain_state, phase.ttl_scale(), phase.params.ttl_override,
                          progress=lambda text: print(text, flush=True)) if release.records else ""
    mx_ttl = ns.ttl(release.domain, "MX") if any(r.type == "MX" for r in release.records) else None
    gate.require()
    downtime = phase.downtime()
    if release.records:
        what = f"MX to the holding host {holding[0].value}" if holding else "MX removed"
        downtime.mark("mail_down", phase.run_id, phase.operator,
                      f"{what}; {len(release.records)} DNS records of Microsoft 365 removed")
    removed = phase.run(records, gate)
    for note in records.notes:
        report.text(note)
    drained = dnsttl.drain(phase.domain_state, mx_ttl, phase.ttl_scale(), progress=lambda text: print(text, flush=True)) \
        if release.present else ""
    renamed = phase.run(renames, gate)
    deleted = domains.delete_domain(old, release.domain, src.initial_domain, wait) if release.present \
        else "already deleted"
    summary = {**removed.summary(), **renamed.summary(), "domain": deleted,
               "mail stopped at (UTC)": downtime.get("mail_down"), **({"MX TTL": ttl} if ttl else {}),
               **({"before the domain left": drained} if drained else {}),
               **({"MX in the window": f"{holding[0].value} ({release.window.answer.line()})"}
                  if holding and release.window is not None and release.window.answer is not None else {})}
    report.add(removed.report()).add(renamed.report()).facts("Released", summary)
    return StepResult(report, summary)
