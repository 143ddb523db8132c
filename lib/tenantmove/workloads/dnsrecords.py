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


def _host(value: str) -> str:
    """The host a record points at: the last word of an MX or SRV value, a CNAME's whole value."""
    return value.split()[-1].rstrip(".").lower() if value.split() else ""


def _ends(*suffixes: str) -> Callable[[str], bool]:
    return lambda value: any(_host(value) == s.lstrip(".") or _host(value).endswith(s) for s in suffixes)


LYNC = _ends(".online.lync.com", ".lync.com")
# The records phase 20 removes, each only when its value is Microsoft 365's (Microsoft's article: a public website
# at a DNS hosting provider needs no change): name, type, what it is for, whether a value is Microsoft 365's
SERVICE_NAMES: list[tuple[str, str, str, Callable[[str], bool]]] = [
    ("{d}", "MX", "mail (Exchange Online)", _ends(".mail.protection.outlook.com", ".mx.microsoft")),
    ("autodiscover.{d}", "CNAME", "Outlook autodiscover", _ends("autodiscover.outlook.com")),
    ("sip.{d}", "CNAME", "Skype/Lync sign-in", LYNC),
    ("lyncdiscover.{d}", "CNAME", "Skype/Lync discovery", LYNC),
    ("_sip._tls.{d}", "SRV", "Skype/Lync SIP", LYNC),
    ("_sipfederationtls._tcp.{d}", "SRV", "Skype/Lync federation", LYNC),
    ("www.{d}", "CNAME", "public website", _ends(".sharepoint.com")),
]
SPF_INCLUDE = "include:spf.protection.outlook.com"
RELEASED_RECORDS = "dns/released-records.csv"  # in the state folder: what the domain served when phase 20 began
REMOVE = "remove"
KEPT = "kept: not Microsoft 365's"
COLUMNS = ["name", "type", "value", "purpose", "action", "note"]


def is_spf(value: str) -> bool:
    return value.lower().startswith("v=spf1")


def records_to_remove(ns: Nameservers, domain: str,
                      verification: set[str] | frozenset[str] = frozenset()) -> tuple[list[Record], pd.DataFrame]:
    """Live lookups at the authoritative servers: every service record the domain serves, each marked ``remove``
    when its value is Microsoft 365's (and the old tenant's own verification TXT: ``verification`` holds the values
    its Graph gives, so a record the new tenant may already have published is never touched), or kept with the
    reason. SPF is never removed: Microsoft's include is the same for every tenant. One lookup per name and
    type."""
    served: dict[tuple[str, str], list[str]] = {}

    def lookup(name: str, rtype: str) -> list[str]:
        if (name, rtype) not in served:
            served[(name, rtype)] = sorted(set().union(*ns.values(name, rtype)))
        return served[(name, rtype)]

    found: list[Record] = []
    rows = []
    for template, rtype, purpose, microsoft in SERVICE_NAMES:
        name = template.format(d=domain)
        for value in lookup(name, rtype):
            note = ""
            if microsoft(value):
                found.append(record(name, rtype, value))
            elif rtype == "MX":
                note = (f"a mail filter or another mail host ({_host(value)}): after phase 30, repoint its delivery at "
                        "the new tenant's MX (phase 30 shows it)")
            elif purpose == "public website":
                note = "hosted elsewhere: the website keeps working, nothing to change (Microsoft's article)"
            rows.append({"name": name, "type": rtype, "value": value, "purpose": purpose,
                         "action": REMOVE if microsoft(value) else KEPT, "note": note})
    for value in lookup(domain, "TXT"):
        if value in verification:
            found.append(record(domain, "TXT", value))
            rows.append({"name": domain, "type": "TXT", "value": value, "action": REMOVE, "note": "",
                         "purpose": "the old tenant's domain verification (MS=)"})
        elif is_spf(value):
            rows.append({"name": domain, "type": "TXT", "value": value, "purpose": "SPF (who may send mail)",
                         "action": "kept: SPF", "note": f"left as it is: Microsoft's {SPF_INCLUDE} is the same for "
                         "every tenant" + ("" if SPF_INCLUDE in value.lower() else
                                           "; it lacks it, so phase 30 offers the edited record")})
    return found, pd.DataFrame(rows, columns=COLUMNS)


def spf_with_microsoft(value: str) -> str:
    """``value`` (an SPF record) with Microsoft 365's include added before its ``all`` (or ``redirect=``), every
    other mechanism kept in its order."""
    terms = value.split()
    if SPF_INCLUDE in (t.lower() for t in terms):
        return value
    at = next((n for n, t in enumerate(terms) if t.lower().lstrip("+-~?") == "all" or t.lower().startswith("redirect=")),
              len(terms))
    return " ".join(terms[:at] + [SPF_INCLUDE] + terms[at:])


def spf_change(ns: Nameservers, domain: str, wanted: list[Record]) -> tuple[list[Record], list[Record], str]:
    """Phase 30's records without a second SPF: a domain has one SPF record or SPF fails. The served SPF is kept
    when it has Microsoft's include; one that lacks it is replaced by the same record with the include added
    (every other mechanism kept); with none served, the tenant's own is published. (present, absent, what)."""
    others = [r for r in wanted if not (r.type == "TXT" and is_spf(r.value))]
    theirs = [r for r in wanted if r.type == "TXT" and is_spf(r.value)]
    served = sorted({v for values in ns.values(domain, "TXT") for v in values if is_spf(v)})
    if not served:
        return others + theirs, [], "no SPF served: the new tenant's is published"
    if len(served) > 1:
        return others, [], (f"{len(served)} SPF records are served (SPF fails with more than one): merge them into "
                            f"one with {SPF_INCLUDE} at your DNS host")
    edited = spf_with_microsoft(served[0])
    if edited == served[0]:
        return others, [], f"the SPF record already has {SPF_INCLUDE}: left as it is"
    return others + [record(domain, "TXT", edited)], [record(domain, "TXT", served[0])], \
        f"the SPF record lacks {SPF_INCLUDE}: replaced by {edited!r} (every other mechanism kept)"


class DnsRecords(Workload):
    """Records to publish (``present``) and to remove (``absent``) at the domain's DNS."""

    kind = "dns-record"
    title = "DNS records"

    def __init__(self, ns: Nameservers, provider: Provider, *, present: list[Record] | None = None,
                 absent: list[Record] | None = None, wait_seconds: float = 900, poll_seconds: float = 10,
                 destructive: bool = False, title: str = "DNS records", progress: Progress | None = None,
                 kind: str = "dns-record") -> None:
        """``kind``: the ledger's name for these records (the way back keeps its own: the same record may be
        published by the cutover and again by the rollback)."""
        self.ns, self.provider, self.kind = ns, provider, kind
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
