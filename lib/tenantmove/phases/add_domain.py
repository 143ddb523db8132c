"""Phase 30: the new tenant takes the domain (add, TXT, verify, service records), then the users,
groups, distribution lists (manual: Exchange) and memberships."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..engine import Outcome
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads import dnssnapshot
from ..workloads import domain as domains
from ..workloads.distribution import DistributionLists
from ..workloads.dkim import DkimSigning
from ..workloads.dnsrecords import DnsRecords, spf_change
from ..workloads.groups import Groups, Members
from ..workloads.inventory import Inventory
from ..workloads.users import Users, prestage_upn
from .common import ONEDRIVES_LATER, StepResult, request_onedrives


@dataclass(repr=False)
class AddPlan(ShowsItself):
    domain: str
    state: str
    services: list[str]
    expected: pd.DataFrame
    moving: pd.DataFrame
    groups: pd.DataFrame
    dns_facts: Report

    def report(self) -> Report:
        return (Report().facts(f"{self.domain} in the new tenant", {"now": self.state,
                                                                    "services to enable": ", ".join(self.services)})
                .table(self.expected, "Service records to publish after verification (as the old tenant had them)")
                .table(self.moving[["source_upn", "target_upn", "usage_location", "licences", "groups"]],
                       "Users to create or update (usage location before licences)")
                .table(self.groups.drop(columns=["id"]),
                       "Groups to recreate (distribution lists: a script for Exchange Online PowerShell)")
                .add(self.dns_facts))



def plan(phase: Phase, new: GraphClient, src: Inventory, moving: pd.DataFrame) -> AddPlan:
    domain = phase.params.domain
    names = {d["id"]: d for d in new.get("domains")["value"]}
    state = "verified" if names.get(domain, {}).get("isVerified") else ("added, not verified" if domain in names
                                                                         else "not added yet")
    src_domain = src.domains[src.domains["domain"] == domain]
    services = [s.strip() for s in (src_domain.iloc[0]["services"] if not src_domain.empty else "Email").split(",")
                if s.strip()] or ["Email"]
    expected = src.dns_records[src.dns_records["domain"] == domain]
    return AddPlan(domain, state, services, expected, moving, src.groups, phase.dns_facts())


def apply(phase: Phase, new: GraphClient, src: Inventory, tgt: Inventory, moving: pd.DataFrame, add: AddPlan,
          gate: ConfirmGate) -> StepResult:
    domain = phase.params.domain
    users = Users(new, moving, src, tgt, phase.password_vault(), upn_for=lambda r: r["target_upn"],
                  also_look_for=lambda r: [prestage_upn(r["target_upn"], tgt.initial_domain)])
    groups = Groups(new, src)
    lists = DistributionLists(new, src, moving, domain, tgt.initial_domain)
    report = Report()
    if phase.params.dry_run:
        for workload in (users, groups, lists):
            report.add(phase.run(workload).report())
        report.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return StepResult(report, {"result": "dry run"})
    gate.require()
    ns, provider = phase.dns()
    wait, poll = phase.dns_wait()
    downtime = phase.downtime()
    added = domains.add_domain(new, domain)
    txt = domains.verification_records(new, domain) if added != "verified already" else []
    phase.run(DnsRecords(ns, provider, present=txt, wait_seconds=wait, poll_seconds=poll,
                         title="verification TXT records", progress=phase.progress("waiting for DNS: verification TXT")), gate)
    verified = domains.verify_domain(new, domain)
    services, replaced, spf = spf_change(ns, domain, domains.service_records(new, domain, add.services))
    report.text(f"SPF: {spf}.")
    published = phase.run(DnsRecords(ns, provider, present=services, absent=replaced, wait_seconds=wait,
                                     poll_seconds=poll, destructive=bool(replaced), title="service records",
                                     progress=phase.progress("waiting for DNS: service records")), gate)
    snapshot = dnssnapshot.load(phase.state_dir)
    had_dkim = snapshot is not None and bool((snapshot["owner"] == dnssnapshot.DKIM).any())
    dkim = phase.run(DkimSigning(ns, domain, tgt.initial_domain, had_dkim), gate)
    mx = [r for r in services if r.type == "MX"]
    if mx:  # nothing is left unpublished, so every authoritative server answers with the new MX
        downtime.mark("mail_up", phase.run_id, phase.operator, f"MX {mx[0].value} answers")
    made_users, made_groups = phase.run(users, gate), phase.run(groups, gate)
    outcomes: list[Outcome] = [published, dkim, made_users, made_groups, phase.run(lists, gate)]
    members = Members(new, src, made_groups.targets(), made_users.targets())
    outcomes.append(phase.run(members, gate))
    onedrives = request_onedrives(phase, new, moving, tgt)
    if onedrives is not None:
        outcomes.append(onedrives)
    else:
        report.text(ONEDRIVES_LATER)
    for outcome in outcomes[1:]:
        report.add(outcome.report())
    window = downtime.window()
    report.facts("Mail downtime window", window)
    changed = added == "added" or verified == "verified" or any(o.changed for o in outcomes)
    if not changed:
        report.banner("ok", "nothing changed: the domain, the DNS records, the users, groups and members were all "
                            "done before")
    created = made_users.count("created")
    if created:
        report.text(f"Temporary passwords of the {created} new user(s) are in `{users.vault.path}` "
                    "(readable only by you, encrypted with your vault key; `python -m tenantmove passwords` writes "
                    "them out); users must change them at first sign-in. They are never shown here.")
    summary = {"domain": f"{added}, {verified}", "service records": len(services)}
    for outcome in outcomes:
        summary.update(outcome.summary())
    summary["members not moved (group is manual, or member not mapped)"] = len(src.memberships) - len(members.wanted())
    return StepResult(report, {**summary, **window})
