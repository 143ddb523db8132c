"""The custom domain's DNS as phase 00 found it, before the cutover touched anything: every record the runbook
can see (the service names, SPF and the other apex TXT, DMARC, the DKIM selectors, apex A/AAAA, ``www``, CAA),
each marked whose it is. Phase 90 compares the records that are not Microsoft 365's with what DNS serves then:
the cutover must leave them as they were, so one that changed or vanished is named and the verdict is red."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..services.dnsops import Nameservers, Record, record
from .dnsrecords import SERVICE_NAMES, SPF_INCLUDE, is_spf

SNAPSHOT = "dns/snapshot.csv"  # in the state folder
COLUMNS = ["name", "type", "value", "owner"]
MICROSOFT, YOURS = "Microsoft 365 (moves with the cutover)", "yours (the cutover leaves it as it is)"
DKIM = "DKIM selector (points at the old tenant: repointed after the move)"
VERIFICATION = "the old tenant's domain verification"
LOOKED_AT = [("{d}", t) for t in ("MX", "TXT", "A", "AAAA", "CAA")] + \
    [("www.{d}", t) for t in ("CNAME", "A", "AAAA")] + \
    [(template, rtype) for template, rtype, _, _ in SERVICE_NAMES if template not in ("{d}", "www.{d}")] + \
    [("_dmarc.{d}", "TXT"), ("selector1._domainkey.{d}", "CNAME"), ("selector2._domainkey.{d}", "CNAME")]


def owner(domain: str, name: str, rtype: str, value: str) -> str:
    if name.startswith(("selector1._domainkey.", "selector2._domainkey.")):
        return DKIM
    if rtype == "TXT" and name == domain and value.startswith("MS="):
        return VERIFICATION
    for template, kind, _, microsoft in SERVICE_NAMES:
        if template.format(d=domain) == name and kind == rtype and microsoft(value):
            return MICROSOFT
    return YOURS


def take(ns: Nameservers, domain: str) -> pd.DataFrame:
    """What every authoritative server serves now for the names the runbook looks at (the union of their answers)."""
    rows = []
    for template, rtype in LOOKED_AT:
        name = template.format(d=domain)
        for value in sorted(set().union(*ns.values(name, rtype))):
            rows.append({"name": name, "type": rtype, "value": value, "owner": owner(domain, name, rtype, value)})
    return pd.DataFrame(rows, columns=COLUMNS)


def save(state_dir: Path, table: pd.DataFrame) -> Path:
    path = Path(state_dir) / SNAPSHOT
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def load(state_dir: Path) -> pd.DataFrame | None:
    path = Path(state_dir) / SNAPSHOT
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None


def _comparable(rtype: str, value: str) -> str:
    """An SPF record compares without Microsoft's include (phase 30 may have added it); others as they are."""
    if rtype == "TXT" and is_spf(value):
        return " ".join(t for t in value.split() if t.lower() != SPF_INCLUDE)
    return value


def compare(ns: Nameservers, snapshot: pd.DataFrame) -> list[dict[str, str]]:
    """Each record of yours in ``snapshot`` against what every server serves now: ``kept``, or what happened."""
    out = []
    for (name, rtype), group in snapshot[snapshot["owner"] == YOURS].groupby(["name", "type"], sort=True):
        answers = ns.values(str(name), str(rtype))
        for value in group["value"]:
            want = _comparable(str(rtype), str(value))
            serving = sum(1 for vals in answers if want in {_comparable(str(rtype), v) for v in vals})
            now = sorted(set().union(*answers))
            status = "kept" if serving == len(answers) else (
                f"served by {serving} of {len(answers)} server(s); now: {', '.join(now) or 'nothing'}")
            out.append({"name": str(name), "type": str(rtype), "value": str(value), "status": status})
    return out


def cutover_owned(domain: str, name: str, rtype: str, value: str, holding: str = "") -> bool:
    """A record the cutover may have changed: Microsoft 365's, a tenant's verification TXT, a DKIM selector, the SPF
    record (phase 30 may add Microsoft's include) and the holding MX (``holding``: its host)."""
    if owner(domain, name, rtype, value) != YOURS:
        return True
    if rtype == "TXT" and name == domain and is_spf(value):
        return True
    host = value.split()[-1].rstrip(".").lower() if value.split() else ""
    return rtype == "MX" and bool(holding) and host == holding.rstrip(".").lower()


RESTORE_COLUMNS = ["name", "type", "value", "action", "why"]


def restore_plan(ns: Nameservers, domain: str, snapshot: pd.DataFrame, verification: list[Record],
                 holding: str = "", ttl: int = 3600) -> tuple[list[Record], list[Record], pd.DataFrame]:
    """The way back's DNS: every record the cutover may have changed as phase 00's ``snapshot`` had it (the old
    tenant's verification TXT as its Graph gives it now, ``verification``), each published with ``ttl``; whatever
    of the cutover's DNS serves now and the snapshot lacks (the new tenant's records, the holding MX) removed.
    Records of yours are not touched. (present, absent, table)."""
    wanted = {r.key(): r for r in verification}
    for name, rtype, value in zip(snapshot["name"], snapshot["type"], snapshot["value"], strict=True):
        if cutover_owned(domain, str(name), str(rtype), str(value), holding) and \
                owner(domain, str(name), str(rtype), str(value)) != VERIFICATION:
            rec = record(str(name), str(rtype), str(value))
            wanted[rec.key()] = rec
    present = [replace(r, ttl=ttl) for r in wanted.values()]
    absent: list[Record] = []
    rows = []
    served_keys: set[tuple[str, str, str]] = set()
    for template, rtype in LOOKED_AT:
        name = template.format(d=domain)
        for value in sorted(set().union(*ns.values(name, rtype))):
            rec = record(name, rtype, value)
            served_keys.add(rec.key())
            if rec.key() in wanted:
                rows.append({"name": name, "type": rtype, "value": value, "action": "kept",
                             "why": "served as phase 00 found it"})
            elif cutover_owned(domain, name, rtype, value, holding):
                absent.append(rec)
                rows.append({"name": name, "type": rtype, "value": value, "action": "remove",
                             "why": "the cutover's (the new tenant's, or the holding MX): phase 00 did not find it"})
    for key, rec in wanted.items():
        if key not in served_keys:
            rows.append({"name": rec.name, "type": rec.type, "value": rec.value, "action": "restore",
                         "why": "the old tenant's verification" if rec in verification else "as phase 00 found it"})
    return present, absent, pd.DataFrame(rows, columns=RESTORE_COLUMNS)
