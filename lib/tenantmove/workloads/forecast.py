"""How long the content phases will take, said before the move (phase 00). The forecast takes the old tenant's
items and bytes per mailbox, OneDrive and site from Microsoft 365's usage reports. It applies the service's
published limits as the client applies them, and gives the expected duration of each phase on 1, 2 and 4 worker
processes, with the limit that binds:
- **Exchange**: per app and mailbox, 10,000 requests per 10 minutes (the client keeps a tenth in hand), 4 at once,
  and 150 MB uploaded per 5 minutes. Each item is one import request. A big mailbox takes as long as its own limits
  allow, however many workers there are: mailboxes are served side by side.
- **SharePoint** (sites and OneDrives): resource units per app and tenant, per minute and per 24 hours, by the
  tenant's licences (1,250 a minute and 1,200,000 a day under 1,000 licences, rising to 6,250 and 6,000,000 from
  50,000). A file costs 2 units to upload and 2 to set its dates, and each 10 MiB piece of a big file costs 2
  more. The budget is the app's, not the machine's: more workers do not raise it.
- **The machine**: each worker process has ``workers`` items in flight, each waiting the service's answer time, and
  one Python process drives a few hundred requests a second at most. It also has its network's bandwidth.

Teams messages and OneNote pages are not in the usage reports and are not forecast here."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

MIB = 1024 * 1024
PIECE = 10 * MIB  # the client's upload-session fragment
RU_TIERS = ((1_000, 1_250), (5_000, 2_500), (15_000, 3_750), (50_000, 5_000))  # (licences below, per minute)
RU_TOP = 6_250
RU_DAY_PER_MINUTE = 960  # the 24-hour budget is 960 times the per-minute one (1,200,000 against 1,250)
WORKER_COUNTS = (1, 2, 4)  # 1: the notebook's own thread pool (cluster empty); more: worker processes (Dask)
LABELS = {1: "this notebook", 2: "2 worker processes", 4: "4 worker processes"}
COLUMNS = ["phase", "what", "scopes", "items", "bytes", *LABELS.values(), *(f"{v}, s" for v in LABELS.values()),
           "binds (this notebook)", "binds (4 worker processes)"]


def ru_per_minute(licences: int) -> int:
    """SharePoint's resource units per app and tenant per minute, by the tenant's licences."""
    for below, units in RU_TIERS:
        if licences < below:
            return units
    return RU_TOP


def licences_given(licences: pd.DataFrame) -> int:
    """The licences a tenant's people have (an inventory's licence table, ``consumed``): the count SharePoint's
    budget is taken for, the lower one, so never a tier the tenant may not have."""
    return int(pd.to_numeric(licences["consumed"]).sum()) if not licences.empty else 0


@dataclass(frozen=True)
class Limits:
    """The limits the client applies, and the machine it runs on."""

    mailbox_requests_per_s: float = 9_000 / 600      # Exchange, per app and mailbox, a tenth kept in hand
    mailbox_at_once: int = 4
    mailbox_bytes_per_s: float = 135_000_000 / 300   # 150 MB per 5 minutes, a tenth kept in hand
    sharepoint_units_per_minute: int = RU_TIERS[0][1]
    latency_s: float = 0.3                           # a request's answer time (phase 00 measures it)
    workers: int = 4                                 # items in flight per worker process (the workers parameter)
    scopes_at_once: int = 0                          # worker processes (Dask): mailboxes at once per process
    process_requests_per_s: float = 250.0            # what one Python process drives at most (GIL, TLS)
    bandwidth_bytes_per_s: float = 50 * MIB          # per worker process

    def pool_requests_per_s(self, processes: int) -> float:
        return processes * min(self.workers / max(self.latency_s, 1e-3), self.process_requests_per_s)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    binds: str


def mail(sizes: pd.DataFrame, limits: Limits, processes: int) -> Estimate:
    """Phase 60: every item one import; a mailbox also takes an import session and an export per 20 items. Each
    mailbox stays under its own limits. The pool is either the notebook's threads (items of all mailboxes
    interleaved) or worker processes (``scopes_at_once`` mailboxes each, one after the other, 4 items at once)."""
    if sizes.empty:
        return Estimate(0.0, "nothing to move")
    rounds = [2 + math.ceil(items / limits.mailbox_at_once) for items in sizes["items"]]  # session, export, imports
    per_box = [max(items / limits.mailbox_requests_per_s, size / limits.mailbox_bytes_per_s, r * limits.latency_s)
               for items, size, r in zip(sizes["items"], sizes["bytes"], rounds, strict=True)]
    biggest = max(per_box)
    if limits.scopes_at_once:  # worker processes: a mailbox is a task
        pool = sum(per_box) / (processes * limits.scopes_at_once)
    else:
        requests = sum(i + 1 + math.ceil(i / 20) for i in sizes["items"])
        pool = requests / limits.pool_requests_per_s(processes)
    if biggest >= pool:
        return Estimate(biggest, "Exchange's limits per mailbox (the biggest mailbox)")
    at_once = (f"{limits.scopes_at_once} mailbox(es) at once" if limits.scopes_at_once else
               f"{limits.workers} items at once")
    return Estimate(pool, f"the machine ({processes} process(es) × {at_once})")


def files(sizes: pd.DataFrame, limits: Limits, processes: int) -> Estimate:
    """Phases 50 and 70: every file uploaded and dated; SharePoint's budget is the app's, whatever the workers."""
    if sizes.empty:
        return Estimate(0.0, "nothing to move")
    count, total = int(sizes["items"].sum()), int(sizes["bytes"].sum())
    average = total / count if count else 0
    pieces = count * max(1, math.ceil(average / PIECE)) if average > 4 * MIB else 0
    requests = 2 * count + pieces
    units = 2 * requests
    per_day = limits.sharepoint_units_per_minute * RU_DAY_PER_MINUTE
    by_minute = units / (limits.sharepoint_units_per_minute / 60)
    by_day = units / (per_day / 86_400) if units > per_day else 0.0  # more than a day's budget: the day binds
    options = [(max(by_minute, by_day), "SharePoint's resource units (per app and tenant)"),
               (requests / limits.pool_requests_per_s(processes),
                f"the machine ({processes} process(es) × {limits.workers} items at once)"),
               (total / (limits.bandwidth_bytes_per_s * processes), "the network's bandwidth")]
    seconds, binds = max(options)
    return Estimate(seconds, binds)


def shown(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def forecast(mailboxes: pd.DataFrame, onedrives: pd.DataFrame, sites: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """One row per content phase: what it moves, its expected duration on 1, 2 and 4 worker processes, and what
    binds."""
    rows = []
    processes = replace(limits, scopes_at_once=max(1, limits.workers // limits.mailbox_at_once))
    for phase, what, sizes, model in (("50_team_sites", "site libraries' files", sites, files),
                                      ("60_mailboxes", "mailbox items", mailboxes, mail),
                                      ("70_onedrive", "OneDrive files", onedrives, files)):
        estimates = [model(sizes, limits if n == 1 else processes, n) for n in WORKER_COUNTS]
        rows.append({"phase": phase, "what": what, "scopes": len(sizes),
                     "items": int(sizes["items"].sum()) if not sizes.empty else 0,
                     "bytes": int(sizes["bytes"].sum()) if not sizes.empty else 0,
                     **{LABELS[n]: shown(e.seconds) for n, e in zip(WORKER_COUNTS, estimates, strict=True)},
                     **{f"{LABELS[n]}, s": round(e.seconds, 1) for n, e in zip(WORKER_COUNTS, estimates, strict=True)},
                     "binds (this notebook)": estimates[0].binds, "binds (4 worker processes)": estimates[-1].binds})
    return pd.DataFrame(rows, columns=COLUMNS)
