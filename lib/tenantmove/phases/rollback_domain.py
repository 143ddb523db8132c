"""Phase 25, the way back: run when phase 30 cannot finish (the domain does not verify in the new tenant in time, or
the admin stops the cutover). The new tenant lets the domain go (its users on the domain back on its onmicrosoft
domain, where the next cutover finds them), the old tenant takes it back and verifies it, the users phase 20
renamed get their names back (the ledger knows each), the groups forceDelete moved get their addresses back (an
Exchange step), and DNS serves what phase 00's snapshot holds. Reconciled against phase 00's inventory and snapshot
(and a sender's question to the MX for each person); only once nothing differs is the cutover's record closed as
an attempt rolled back and its items reopened, so that a later cutover starts afresh."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..engine.ledger import REOPENED
from ..errors import TenantmoveError
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services import smtpprobe
from ..services.dnsops import Nameservers, Record, record
from ..services.graph import GraphClient, path
from ..workloads import dnssnapshot, dnsttl, mailwindow
from ..workloads import domain as domains
from ..workloads.dnsrecords import DnsRecords
from ..workloads.inventory import Inventory
from ..workloads.renames import UserRenames, rename_plan
from ..workloads.rollback import RENAMED, GroupAddresses, groups_on, renames_back
from .checks import Check
from .common import StepFailed, StepResult

CUTOVER = ("20_release_domain", "30_add_domain_and_users")
DNS_KIND = "rollback-dns-record"  # its own kind: the cutover publishes the same records under "dns-record"
NEW_USERS_KIND = "rollback-new-user"
OLD_USERS_KIND = "rollback-rename-user"
KINDS = (DNS_KIND, NEW_USERS_KIND, OLD_USERS_KIND, GroupAddresses.kind)


class RollbackRefused(TenantmoveError):
    """There is nothing to roll back, or no record of what to roll back to."""


@dataclass(repr=False)
class RollbackPlan(ShowsItself):
    domain: str
    in_old: str
    in_new: str
    new_renames: pd.DataFrame
    renames: pd.DataFrame
    groups: pd.DataFrame
    dns_table: pd.DataFrame
    cutover_items: pd.DataFrame
    attempt: dict[str, str]
    dns_facts: Report
    ttl: int = 3600
    notes: list[str] = field(default_factory=list)

    def report(self) -> Report:
        report = Report().facts(f"{self.domain} now", {"old tenant": self.in_old, "new tenant": self.in_new,
                                                       **self.attempt})
        if self.attempt.get("mail flows (new MX answers)"):
            report.banner("warn", "Mail has flowed to the new tenant since "
                                  f"{self.attempt['mail flows (new MX answers)']}: what arrived there stays there "
                                  "(phase 60 moves mail old to new, never back); tell the people concerned.")
        for note in self.notes:
            report.banner("warn", note)
        return (report
                .table(self.new_renames, "New tenant: its objects on the domain (users to its onmicrosoft domain, "
                                         "where the next cutover finds and renames them; the rest by forceDelete), "
                                         "then the domain leaves it")
                .table(self.renames, "Old tenant: the domain added and verified again, then the users phase 20 "
                                     "renamed get their names back (from the ledger)")
                .table(self.groups[["displayName", "kind", "mail", "mailNickname"]],
                       "Old tenant: the groups that had an address on the domain get it back (Exchange Online "
                       "PowerShell: Graph cannot write a group's address)")
                .table(self.dns_table, f"DNS as phase 00 found it (TTL {self.ttl} s): the cutover's records "
                                       "removed, the old tenant's restored; your own records are not touched")
                .table(self.cutover_items, "The cutover's items reopened once the way back is reconciled (a later "
                                           "cutover does them again, adopting what is still right)")
                .add(self.dns_facts))


def _cutover_items(phase: Phase) -> pd.DataFrame:
    ledger = phase.ledger()
    rows = [{"phase": p, "kind": i.kind, "items": 1} for p in CUTOVER for i in ledger.items(states=["done"], phase=p)
            if i.version != REOPENED]  # reopened by an earlier way back: the next cutover's to do
    df = pd.DataFrame(rows, columns=["phase", "kind", "items"])
    return df.groupby(["phase", "kind"], as_index=False)["items"].sum() if not df.empty else df


def _state(client: GraphClient, domain: str) -> str:
    found = {d["id"]: d for d in client.get("domains")["value"]}.get(domain)
    return "not there" if found is None else ("verified" if found.get("isVerified") else "added, not verified")


def _ttl(phase: Phase) -> int:
    """The restored records' TTL: still low when the cutover had lowered it, so the next cutover need not wait."""
    return dnsttl.LOW if dnsttl.lowered(phase.domain_state, phase.params.domain, "MX") else 3600


def _snapshot(phase: Phase) -> pd.DataFrame:
    snapshot = dnssnapshot.load(phase.domain_state)
    if snapshot is None:
        raise RollbackRefused(f"there is no DNS snapshot in {phase.domain_state / dnssnapshot.SNAPSHOT}: nothing says "
                              "what the domain's DNS was before the cutover", where=phase.id,
                              hint="restore the state folder from its backup (phase 00 takes the snapshot before "
                                   "the cutover; phase 20 takes it if phase 00 ran before snapshots)")
    return snapshot


def plan(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory) -> RollbackPlan:
    """What the way back will do; refused, before anything changes, when phase 20 never changed anything."""
    domain = phase.params.domain
    if phase.params.also_domains:
        raise RollbackRefused(f"this migration moves {len(phase.params.domains)} custom domains "
                              f"({', '.join(phase.params.domains)}); the way back takes one domain's cutover back",
                              where=f"{phase.id}: also_domains",
                              hint="take the other domains back by hand from their snapshots (state folder, "
                                   "domains/<domain>/dns/snapshot.csv) and the ledger's renames, or finish the "
                                   "cutover (rerun phase 30)")
    in_old, in_new = _state(old, domain), _state(new, domain)
    items = _cutover_items(phase)
    downtime = phase.downtime()
    if in_old == "verified" and items.empty and not downtime.get("mail_down"):
        raise RollbackRefused(f"nothing to roll back: the old tenant holds {domain}, and the ledger shows no change "
                              "of phase 20 or 30 since the last cutover (or the last way back)", where=phase.id,
                              hint="the way back is for a cutover that began (phase 20 ran) and cannot finish")
    snapshot = _snapshot(phase)
    refs = domains.domain_references(new, domain) if in_new != "not there" else \
        pd.DataFrame(columns=["type", "id", "name", "address"])
    new_renames = rename_plan(refs, domain, tgt.initial_domain)
    renames = renames_back(phase.ledger().items(RENAMED, ["done"], phase=CUTOVER[0]), src)
    ns, _ = phase.dns()
    verification = domains.verification_records(old, domain) if in_old != "not there" else []
    holding, ttl = phase.params.holding_mx, _ttl(phase)
    _, _, table = dnssnapshot.restore_plan(ns, domain, snapshot, verification, holding, ttl)
    attempt = {k: v for k, v in downtime.window().items() if v not in ("not yet", "open")}
    notes = [] if holding or in_new == "not there" else [
        f"Between {domain} leaving the new tenant and the people having their addresses back in the old one, no "
        f"tenant holds it and mail to it is refused: set holding_mx to hold it (4xx) for those minutes."]
    for name, frame in (("new-renames", new_renames), ("renames-back", renames), ("dns-restore", table)):
        phase.save_table(name, frame)
    return RollbackPlan(domain, in_old, in_new, new_renames, renames, groups_on(src, domain), table, items, attempt,
                        phase.dns_facts(), ttl, notes)


def _mx_now(ns: Nameservers, domain: str) -> list[Record]:
    return [record(domain, "MX", v) for v in sorted(ns.values(domain, "MX")[0])]


def apply(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory, back: RollbackPlan,
          gate: ConfirmGate) -> StepResult:
    """The holding MX (when there is one), the domain out of the new tenant, into the old one and verified, the
    users and groups back on it, DNS as phase 00 found it. Each step is ledger items or a read of the tenant, so a
    rerun after a kill does only what is left."""
    domain = back.domain
    ns, provider = phase.dns()
    wait, poll = phase.dns_wait()

    def records(title: str, present: list[Record], absent: list[Record]) -> DnsRecords:
        return DnsRecords(ns, provider, present=present, absent=absent, wait_seconds=wait, poll_seconds=poll,
                          destructive=bool(absent), title=title, kind=DNS_KIND,
                          progress=phase.progress(f"waiting for DNS: {title}"))

    leaving = UserRenames(new, back.new_renames, kind=NEW_USERS_KIND, title="new-tenant user names (off the domain)")
    returning = UserRenames(old, back.renames, kind=OLD_USERS_KIND, title="old-tenant user names (back on the domain)")
    addresses = GroupAddresses(old, back.groups, src.initial_domain)
    report = Report()
    if phase.dry_run:
        for workload in (leaving, returning, addresses):
            report.add(phase.run(workload).report())
        report.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return StepResult(report, {"result": "dry run"})
    gate.require()
    summary: dict[str, object] = {}
    holding = phase.params.holding_mx
    if holding and back.in_new != "not there":  # mail waits at the holding host while no tenant holds the domain
        hold = mailwindow.holding_record(domain, holding)
        held = phase.run(records("MX to the holding host", [hold],
                                 [r for r in _mx_now(ns, domain) if r.key() != hold.key()]), gate)
        report.add(held.report())
    if back.in_new != "not there":
        report.add(phase.run(leaving, gate).report())
        summary["new tenant"] = domains.delete_domain(new, domain, tgt.initial_domain, wait, where=phase.id)
    summary["old tenant"] = domains.add_domain(old, domain)
    txt = domains.verification_records(old, domain)
    report.add(phase.run(records("the old tenant's verification TXT", txt, []), gate).report())
    summary["verified"] = domains.verify_domain(old, domain, pause=poll, where=phase.id, held_hint=(
        "the new tenant still holds it: rerun this notebook (it removes the domain from the new tenant first)"))
    for workload in (returning, addresses):
        outcome = phase.run(workload, gate)
        report.add(outcome.report())
        summary.update(outcome.summary())
    present, absent, table = dnssnapshot.restore_plan(ns, domain, _snapshot(phase), txt, holding, back.ttl)
    phase.save_table("dns-restored", table)
    restored = phase.run(records("DNS as phase 00 found it", present, absent), gate)
    report.add(restored.report()).facts("The way back", summary)
    return StepResult(report, {**summary, **restored.summary()})


def reconcile(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory) -> pd.DataFrame:
    """The old tenant against phase 00's inventory and snapshot, read fresh: the domain (held by the old tenant
    only), each person's sign-in name and address, each group's address, the cutover's DNS records, and mail (the
    MX asked, as a sender asks, whether it takes mail for each person)."""
    domain = phase.params.domain
    held = Check("domain")
    in_old, in_new = _state(old, domain), _state(new, domain)
    held.add("old tenant", 1, int(in_old == "verified"), missing=int(in_old != "verified"), detail=in_old)
    held.add("new tenant", 0, int(in_new != "not there"), extra=int(in_new != "not there"), detail=in_new)
    people, mail = Check("user names"), Check("mail")
    ns, _ = phase.dns()
    mx = sorted((v.split() for v in ns.values(domain, "MX")[0]), key=lambda p: int(p[0]))
    host = mx[0][1] if mx else ""
    suffix = "@" + domain.lower()
    users = src.users.fillna({"mail": ""})
    on_domain = users[users["userPrincipalName"].str.lower().str.endswith(suffix)
                      | users["mail"].astype(str).str.lower().str.endswith(suffix)]
    for uid, upn, address in zip(on_domain["id"], on_domain["userPrincipalName"], on_domain["mail"], strict=True):
        now = old.get(path("users", str(uid)), {"$select": "id,userPrincipalName,mail"})
        wrong = [f"{k} is {now.get(k)!r}, was {v!r}" for k, v in (("userPrincipalName", upn), ("mail", address))
                 if str(now.get(k) or "").lower() != str(v or "").lower()]
        people.add(str(upn), 1, 1, mismatched=int(bool(wrong)), detail="; ".join(wrong))
        if address and str(address).lower().endswith(suffix):
            answer = smtpprobe.ask(host, str(address), phase.endpoints.smtp_hosts) if host else \
                smtpprobe.Answer(domain, None, "the domain has no MX")
            mail.add(str(address), 1, int(answer.kind == "accepts"), missing=int(answer.kind == "permanent"),
                     mismatched=int(answer.kind == "temporary"),
                     detail="" if answer.kind == "accepts" else answer.line() + (
                         " (not counted: port 25 may be closed from here)" if answer.kind == "none" else ""))
    groups = Check("group addresses")
    for _, g in groups_on(src, domain).iterrows():
        now = str(old.get(path("groups", str(g["id"])), {"$select": "id,mail"}).get("mail") or "")
        groups.add(str(g["mail"]), 1, 1, mismatched=int(now.lower() != str(g["mail"]).lower()),
                   detail="" if now.lower() == str(g["mail"]).lower() else f"its address is {now}")
    dns = Check("DNS records")
    verification = domains.verification_records(old, domain) if in_old != "not there" else []
    _, _, table = dnssnapshot.restore_plan(ns, domain, _snapshot(phase), verification, phase.params.holding_mx)
    for _, row in table.iterrows():
        dns.add(f"{row['type']} {row['name']} {row['value']}", int(row["action"] != "remove"),
                int(row["action"] != "restore"), missing=int(row["action"] == "restore"),
                extra=int(row["action"] == "remove"), detail="" if row["action"] == "kept" else row["why"])
    frame = pd.concat([c.frame for c in (held, people, groups, dns, mail)], ignore_index=True)
    phase.save_table("reconcile", frame)
    return frame


def finish(phase: Phase, checks: pd.DataFrame) -> StepResult:
    """Only a way back that reconciles closes the attempt: the cutover's window kept as an attempt rolled back, the
    wait after the MX forgotten, the TTLs kept low where the cutover had lowered them, and the items of phases 20
    and 30 (and this phase's own) reopened, so the next cutover and any later way back start afresh."""
    if phase.dry_run:
        return StepResult(Report().banner("warn", "dry run: the cutover stays as it is"), {"result": "dry run"})
    problems = checks[(checks["missing"] + checks["extra"] + checks["mismatched"]) > 0]
    if not problems.empty:
        raise StepFailed(f"the way back is not complete: {len(problems)} difference(s) "
                         f"({', '.join(sorted(set(problems['area'])))})", where=phase.id,
                         hint="a group address is an Exchange step: run the script this run wrote "
                              f"({phase.folder}) in Exchange Online PowerShell; a DNS record at a manual host is "
                              "yours to change; then rerun this notebook (it does only what is left)",
                         report=Report().table(problems, "Differences"))
    ns, provider = phase.dns()
    domain = phase.params.domain
    notes: list[str] = []
    if dnsttl.lowered(phase.domain_state, domain, "MX") and provider.name != "manual":
        notes = dnsttl.lower(provider, dnsttl.observe(ns, domain, phase.domain_state, phase.ttl_scale()), phase.domain_state)
    drained = dnsttl.forget_drain(phase.domain_state)
    attempt = phase.downtime().roll_back(phase.run_id, phase.operator, f"rolled back by {phase.id}")
    ledger = phase.ledger()
    reason = f"the cutover was rolled back by run {phase.run_id}"
    by_kind: dict[str, list[str]] = {}
    for item in [i for p in (*CUTOVER, phase.id) for i in ledger.items(states=["done"], phase=p)
                 if i.version != REOPENED]:
        by_kind.setdefault(item.kind, []).append(item.source_id)
    reopened = {kind: ledger.reopen(kind, ids, reason) for kind, ids in by_kind.items()}
    summary = {"rolled back": "yes: the old tenant holds the domain, its people and groups have their names, DNS "
                              "serves what phase 00 found",
               "mail stopped (rolled back attempt)": (attempt.get("mail_down") or {}).get("at", "-"),
               "items reopened": sum(reopened.values()),
               "wait after the MX forgotten": "yes" if drained else "none was kept",
               **({"TTLs kept low": "; ".join(notes)} if notes else {})}
    report = (Report().banner("ok", f"{domain} is back in the old tenant; a later cutover starts with phase 20")
              .table(pd.DataFrame([{"kind": k, "reopened": v} for k, v in sorted(reopened.items())],
                                  columns=["kind", "reopened"]), "Items reopened")
              .facts("Closed as an attempt rolled back", summary))
    return StepResult(report, summary)
