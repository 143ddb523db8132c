"""DNS records as a workload: each record to publish or remove is a ledger item. The whole set still
to do goes to the provider as one change (one signed RFC 2136 update, one table for the admin), then
the workload waits until every authoritative server shows it; a record that does not show in time
fails, with the record named and the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..services.dnsops import (
    DnsError,
    Nameservers,
    Provider,
    Record,
    RecordPlan,
    plan_changes,
    record,
    wait_until_applied,
)

Progress = Callable[[int, int, float], None]


# name, type, what it is for, a filter on the value (None: every value)
SERVICE_NAMES: list[tuple[str, str, str, Callable[[str], bool] | None]] = [
    ("{d}", "MX", "mail (Exchange Online)", None),
    ("autodiscover.{d}", "CNAME", "Outlook autodiscover", None),
    ("{d}", "TXT", "SPF (who may send mail)", lambda v: v.lower().startswith("v=spf1")),
    ("sip.{d}", "CNAME", "Skype/Lync sign-in", None),
    ("lyncdiscover.{d}", "CNAME", "Skype/Lync discovery", None),
    ("_sip._tls.{d}", "SRV", "Skype/Lync SIP", None),
    ("_sipfederationtls._tcp.{d}", "SRV", "Skype/Lync federation", None),
    ("www.{d}", "CNAME", "public website", None),
]


def records_to_remove(ns: Nameservers, domain: str,
                      verification: set[str] | frozenset[str] = frozenset()) -> tuple[list[Record], pd.DataFrame]:
    """Live lookups at the authoritative servers: every service record the domain still serves, and the
    old tenant's own verification TXT (``verification``: the values its Graph gives, so a record the new
    tenant may already have published is never touched). One lookup per name and type."""
    entries = SERVICE_NAMES + [("{d}", "TXT", "the old tenant's domain verification (MS=)",
                                lambda v: v in verification)]
    served: dict[tuple[str, str], list[str]] = {}
    found: list[Record] = []
    rows = []
    for template, rtype, purpose, keep in entries:
        name = template.format(d=domain)
        if (name, rtype) not in served:
            served[(name, rtype)] = sorted(set().union(*ns.values(name, rtype)))
        for value in served[(name, rtype)]:
            if keep is None or keep(value):
                found.append(record(name, rtype, value))
                rows.append({"name": name, "type": rtype, "value": value, "purpose": purpose})
    return found, pd.DataFrame(rows, columns=["name", "type", "value", "purpose"])


class DnsRecords(Workload):
    """Records to publish (``present``) and to remove (``absent``) at the domain's DNS."""

    kind = "dns-record"
    title = "DNS records"

    def __init__(self, ns: Nameservers, provider: Provider, *, present: list[Record] | None = None,
                 absent: list[Record] | None = None, wait_seconds: float = 900, poll_seconds: float = 10,
                 destructive: bool = False, title: str = "DNS records", progress: Progress | None = None) -> None:
        self.ns, self.provider = ns, provider
        self.present, self.absent = list(present or []), list(absent or [])
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds
        self.destructive, self.title, self.progress = destructive, title, progress
        self.plan = RecordPlan()
        self.left: set[tuple[str, str, str]] = set()
        self.notes: list[str] = []

    @staticmethod
    def key(op: str, rec: Record) -> str:
        return f"{op} {rec.name} {rec.type} {rec.value}"

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for op, records in (("publish", self.present), ("remove", self.absent)):
            for rec in records:
                yield Work(self.key(op, rec), f"{rec.type} {rec.name}", detail={"op": op, "value": rec.value},
                           data=(op, rec))

    def begin(self, todo: list[Work]) -> None:
        """One change for everything still to do, then wait until DNS shows it."""
        present = [w.data[1] for w in todo if w.data[0] == "publish"]
        absent = [w.data[1] for w in todo if w.data[0] == "remove"]
        self.plan = plan_changes(self.ns, present, absent)
        if self.plan.empty:
            self.notes = ["DNS already shows the plan; nothing to change"]
            return
        self.notes = self.provider.apply(self.plan)
        left = wait_until_applied(self.ns, self.plan, self.wait_seconds, self.poll_seconds, self.progress)
        self.left = {r.key() for r in left}

    def apply(self, work: Work, existing: object) -> Applied:
        op, rec = work.data
        if rec.key() in self.left:
            state = "still served" if op == "remove" else "not served yet"
            raise DnsError(f"{rec.type} {rec.name} {rec.value} is {state} by every authoritative server after "
                           f"{self.wait_seconds:.0f} s", where=f"dns {rec.name}",
                           hint=f"{op} {rec.type} {rec.value} at {rec.name} at your DNS host (or wait for it), "
                                "then rerun this phase")
        planned = rec in (self.plan.add if op == "publish" else self.plan.remove)
        return Applied(None, ("published" if op == "publish" else "removed") if planned else "already in DNS",
                       note=f"{op} {rec.type} {rec.name} {rec.value}")
