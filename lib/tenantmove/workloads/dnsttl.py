"""The TTLs of the records the cutover changes (the MX, autodiscover, the SPF set), so that the world forgets the
old ones quickly: a resolver may keep a record for its TTL, so mail follows a removed or changed MX only that long
after the change. Phase 00 reads them at the authoritative servers, remembers them in the state folder (the first
TTL seen is the one to give back) and lowers those above :data:`LOW` (with the provider, behind its confirmation, or
as the exact change for the admin); phase 20 starts only once the MX's old TTL has run out since it was lowered;
phase 30 gives the records the TTL the admin wants.

``ttl_scale`` is how long a TTL second lasts here: 1 for real DNS, less in the sandbox (its demo waits seconds,
not an hour)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import TenantmoveError
from ..services.dnsops import Nameservers, Provider, Record, record

LOW = 300  # seconds: what the cutover's records are lowered to
STATE_FILE = "dns-ttl.json"
WAIT_AT_MOST = 600.0  # seconds of real time phase 20 waits for an old TTL to run out; longer: it refuses
COLUMNS = ["record", "values", "TTL now", "TTL before the cutover", "low since (UTC)", "old TTL runs out (UTC)",
           "to do"]


class TtlNotRunOut(TenantmoveError):
    """Phase 20 would start while resolvers may still hold the old MX."""


def cutover_sets(ns: Nameservers, domain: str) -> dict[str, list[Record]]:
    """The record sets the cutover changes, as the first authoritative server serves them: the MX set, the
    autodiscover CNAME and the apex TXT set when it holds an SPF record (the whole set: a TTL is the set's)."""
    out: dict[str, list[Record]] = {}
    for name, rtype in ((domain, "MX"), (f"autodiscover.{domain}", "CNAME"), (domain, "TXT")):
        values = sorted(ns.values(name, rtype)[0])
        if rtype == "TXT" and not any(v.lower().startswith("v=spf1") for v in values):
            continue
        if values:
            out[f"{rtype} {name}"] = [record(name, rtype, v) for v in values]
    return out


@dataclass
class TtlPlan:
    """The cutover's record sets with their TTLs, what is remembered of them, and what to lower."""

    table: pd.DataFrame
    sets: dict[str, list[Record]] = field(default_factory=dict)
    to_lower: list[str] = field(default_factory=list)  # keys of the sets above LOW


def _load(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _save(state_dir: Path, data: dict[str, Any]) -> None:
    path = Path(state_dir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _at(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _now() -> str:
    """Now, to the microsecond: a wait computed from a stamp truncated to the second could end up to a second early
    (in the sandbox, where a TTL second lasts 2 ms, that is 500 TTL seconds)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp(when: dt.datetime) -> str:
    """A moment something may start, to the second: rounded up, never early."""
    if when.microsecond:
        when += dt.timedelta(microseconds=1_000_000 - when.microsecond)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_out(seen: dict[str, Any], scale: float) -> str:
    """When the TTL a set had before it was lowered has run out since it was lowered ('' when never lowered)."""
    if not seen.get("low_since"):
        return ""
    return _stamp(_at(seen["low_since"]) + dt.timedelta(seconds=int(seen["original"]) * scale))


def observe(ns: Nameservers, domain: str, state_dir: Path, scale: float = 1.0) -> TtlPlan:
    """Read the TTLs now and remember them: the first TTL seen of each set is its TTL before the cutover; a set seen
    at :data:`LOW` or less after it was seen higher is low since now (unless it was lowered earlier)."""
    data = _load(state_dir)
    sets = cutover_sets(ns, domain)
    now = _now()
    rows, to_lower = [], []
    for key, records in sets.items():
        ttl = ns.ttl(records[0].name, records[0].type) or 0
        seen = data.setdefault(key, {"original": ttl, "first_seen": now, "low_since": ""})
        if ttl <= LOW and int(seen["original"]) > LOW and not seen["low_since"]:
            seen["low_since"], seen["lowered_by"] = now, "seen lowered (by the DNS host)"
        if ttl > LOW:
            to_lower.append(key)
            todo = f"lower to {LOW} s at least {int(seen['original'])} s before phase 20"
        elif seen["low_since"]:
            todo = "lowered: phase 20 may start once the old TTL has run out"
        else:
            todo = f"nothing: {ttl} s is short already"
        rows.append({"record": key, "values": "; ".join(r.value for r in records), "TTL now": ttl,
                     "TTL before the cutover": int(seen["original"]), "low since (UTC)": seen["low_since"],
                     "old TTL runs out (UTC)": runs_out(seen, scale), "to do": todo})
    _save(state_dir, data)
    return TtlPlan(pd.DataFrame(rows, columns=COLUMNS), sets, to_lower)


def lower(provider: Provider, plan: TtlPlan, state_dir: Path) -> list[str]:
    """Lower each set above :data:`LOW` through the provider and remember since when (the manual provider only
    says what to change: nothing is remembered until a later read sees it lowered)."""
    notes: list[str] = []
    data = _load(state_dir)
    for key in plan.to_lower:
        notes += provider.set_ttl(plan.sets[key], LOW)
        if provider.name != "manual":
            data[key].update(low_since=_now(), lowered_by=f"phase 00 ({provider.name})")
    _save(state_dir, data)
    return notes


def mx_ready(ns: Nameservers, domain: str, state_dir: Path, scale: float = 1.0, override: str = "",
             sleep: Callable[[float], None] = time.sleep,
             progress: Callable[[str], None] | None = None) -> str:
    """Phase 20's rule: the MX's TTL is at :data:`LOW` or less, and its old TTL has run out since it was lowered
    (waited for when that is at most :data:`WAIT_AT_MOST` seconds away). Returns what was found ('' when there is no
    MX to remove); raises :class:`TtlNotRunOut` otherwise, unless ``override`` gives the reason to go on (the
    return value says so, for the dossier)."""
    plan = observe(ns, domain, state_dir, scale)
    row = next((r for _, r in plan.table.iterrows() if str(r["record"]).startswith("MX ")), None)
    if row is None:
        return ""
    if int(row["TTL now"]) > LOW:
        problem = f"the MX of {domain} still has a TTL of {row['TTL now']} s"
        hint = (f"lower it to {LOW} s (phase 00 does it with dns_lower_ttl: true and the rfc2136 or lexicon "
                f"provider), then wait {row['TTL before the cutover']} s")
    else:
        left = (_at(row["old TTL runs out (UTC)"]) - dt.datetime.now(dt.UTC)).total_seconds() \
            if row["old TTL runs out (UTC)"] else 0.0
        if left <= 0:
            return f"the MX's TTL is {row['TTL now']} s and its old TTL has run out"
        if left <= WAIT_AT_MOST and not override:
            if progress is not None:
                progress(f"waiting {left:.0f} s until the MX's old TTL has run out")
            sleep(left)
            return f"the MX's TTL is {row['TTL now']} s; waited {left:.0f} s for its old TTL to run out"
        problem = (f"the MX of {domain} was lowered at {row['low since (UTC)']}, but resolvers may keep the old one "
                   f"until {row['old TTL runs out (UTC)']}")
        hint = f"run this phase after {row['old TTL runs out (UTC)']} (UTC)"
    if override:
        return f"started although {problem}: ttl_override says {override!r}"
    raise TtlNotRunOut(f"{problem}: mail sent in the window could follow the old MX", where="dns TTLs",
                       hint=f"{hint}; or set ttl_override to the reason to start anyway (it is recorded in the "
                            "dossier)")


def drain(state_dir: Path, ttl: int | None, scale: float = 1.0, sleep: Callable[[float], None] = time.sleep,
          progress: Callable[[str], None] | None = None) -> str:
    """Phase 20, once the MX is gone from every authoritative server (``ttl``: the TTL it was served with) and before
    the users are renamed and the domain leaves the old tenant: wait that TTL, so that mail following a cached MX
    is still delivered in the old tenant, never refused. The start is remembered in the state folder: a rerun
    after a kill (``ttl`` None, the MX being gone already) waits only what is left."""
    data = _load(state_dir)
    held = data.get("drain")
    if ttl is not None and not held:
        held = data["drain"] = {"since": _now(), "ttl": int(ttl)}
        _save(state_dir, data)
    if not held:
        return ""
    until = _at(held["since"]) + dt.timedelta(seconds=int(held["ttl"]) * scale)
    seconds = max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds())
    if progress is not None and seconds:
        progress(f"waiting {seconds:.0f} s (the MX's TTL) before the users are renamed and the domain leaves")
    sleep(seconds)
    return (f"waited {seconds:.0f} s after the MX was gone (its TTL was {held['ttl']} s) before renaming the users "
            "and deleting the domain")


def restore(ns: Nameservers, provider: Provider, domain: str, ttl: int) -> list[str]:
    """Phase 30: the cutover's record sets served with less than ``ttl`` get ``ttl`` (the new MX and autodiscover
    are published with it; the SPF set kept through the cutover returns to it)."""
    notes: list[str] = []
    for records in cutover_sets(ns, domain).values():
        if (ns.ttl(records[0].name, records[0].type) or ttl) < ttl:
            notes += provider.set_ttl(records, ttl)
    return notes


def forget_drain(state_dir: Path) -> bool:
    """The way back: the wait after the MX was gone belongs to the cutover rolled back; the next phase 20 waits
    afresh. True when there was one."""
    data = _load(state_dir)
    if "drain" not in data:
        return False
    data.setdefault("drains rolled back", []).append(data.pop("drain"))
    _save(state_dir, data)
    return True


def lowered(state_dir: Path, name: str, rtype: str) -> bool:
    """Whether phase 00 (or the DNS host) lowered the set ``rtype name``."""
    return bool(_load(state_dir).get(f"{rtype} {name}", {}).get("low_since"))
