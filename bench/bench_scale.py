"""Beyond one machine's thread pool: mailboxes and OneDrives moved by 1, 2 and 4 worker processes (Dask's
LocalCluster), against Exchange's ceiling for the mailboxes in the run, against SharePoint's budget for the drives,
and against phase 00's forecast, in the same run.

Each worker process takes ``--workers`` items at once (``workers // 4`` mailboxes, each at Exchange's 4 at once),
as the notebook's own thread pool does. The service allows far more than that: every mailbox 4 requests at once.
So the throughput grows with the processes until Exchange's ceiling binds. That ceiling is mailboxes x 4 / the
time per request. The forecast is :func:`tenantmove.workloads.forecast.mail`, with the same limits and the
measured time per request. The coordinator (this process, the only writer of the ledger) is measured for its peak
memory.

The drives are the other case: SharePoint's resource units are per app and tenant, whichever process spends them.
One process reaches that budget already, so more processes cannot move files faster; what they must not do is ask
for more than the budget (a 429). Each run counts the service's 429s, and a last run gives 4 processes the drives
without sharing the budget (every drive out at once, each client keeping the one-process reserve) to show what the
sharing prevents.

    python bench/bench_scale.py [--mailboxes 32] [--items 10] [--files 8] [--latency-ms 20] [--exchange-ms 400]
                                [--workers 4] [--units 100] [--window 1] [--concurrent 256]

The defaults keep this two-core machine's processors out of it: a request's time is mostly the service's own (a
sleeping request costs no processor), so the processes' throughput is what the service and the pool allow.

The last line printed is one JSON object with the figures: items_per_s per worker count (and the thread pool's),
ceiling_items_per_s, forecast_error (the largest, as a fraction of the measured time), coordinator_peak_rss_mib;
files_per_s per worker count, ceiling_files_per_s, throttled per worker count (429s; "4 unshared" the last run);
sandbox_requests_per_s against sandbox_possible_per_s (the sandbox's own ceiling, measured first with
``--concurrent`` requests always waiting) and busiest_run_requests_per_s (what the runs asked of it).
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from benchkit import APPS, NEW, Confirmed, app_secrets, graph, save_seed

from tenantmove.engine import Engine, Ledger
from tenantmove.engine import cluster as clusters
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.state import DEFAULT_SEED, SKU_CATALOG
from tenantmove.services.auth import TenantConfig
from tenantmove.services.drives import DriveClient
from tenantmove.services.mailboxes import MailboxClient
from tenantmove.services.remote import RemoteSignIn
from tenantmove.workloads import forecast
from tenantmove.workloads.files import DriveCopy, DriveFiles, DriveFolders
from tenantmove.workloads.mail import MAILBOX_CONCURRENCY, MailCopy, MailFolders, MailItems, find_mailboxes
from tenantmove.workloads.onedrive import find_pairs

PROCESSES = (1, 2, 4)


class UnsharedSignIn(RemoteSignIn):
    """For the comparison only: every drive out at once, each client keeping what one process keeps."""

    def shared_budget(self, scope_limit: int) -> tuple[int, RemoteSignIn]:
        return 10_000, replace(self, at_once=0)


def capacity(sb: Sandbox, concurrent: int, seconds: float, latency_ms: float) -> tuple[float, float]:
    """The sandbox's own ceiling: (requests answered a second, the most ``concurrent`` requests always waiting at once
    could get at ``latency_ms`` each). A request that sleeps costs the sandbox a thread, not a processor; so unless it
    answers near the second figure, it would be the bottleneck of a benchmark that asks that much."""
    client = graph(sb, "source", 4)
    client.get("organization", {"$select": "id"})  # signed in before the clock starts
    sb.set_knobs(latency_ms=latency_ms)
    start = time.monotonic()
    stop = start + seconds

    def loop(_: int) -> int:
        n = 0
        while time.monotonic() < stop:
            client.get("organization", {"$select": "id"})
            n += 1
        return n

    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        answered = sum(pool.map(loop, range(concurrent)))
    return answered / (time.monotonic() - start), concurrent / (latency_ms / 1000)


def seed(folder: Path, names: list[str], items: int, files: int) -> Path:
    spec = yaml.safe_load(DEFAULT_SEED.read_text())
    old = spec["tenants"][0]
    old["users"] += [{"upn": f"{n}@contoso.example", "display_name": n, "usage_location": "NL",
                      "licenses": ["O365_BUSINESS_PREMIUM"]} for n in names]
    old["mailboxes"] = [{"owner": f"{n}@contoso.example", "messages": items} for n in names]
    old["drives"] = [{"owner": f"{n}@contoso.example", "files": [{"path": f"Documents/note-{i}.txt", "size": 2_048 + i}
                                                                  for i in range(files)]} for n in names]
    for tenant in spec["tenants"]:  # a new mailbox per old one and run (the thread pool's, then each cluster's)
        for sku in tenant.get("skus") or []:
            sku["units"] = max(int(sku["units"]), 2 * len(names) * (len(PROCESSES) + 1))
    return save_seed(folder, spec)


def targets(new_graph: Any, names: list[str], run: str) -> list[str]:
    """A licensed user (so a mailbox) in the new tenant per old mailbox, for one run."""
    sku = SKU_CATALOG["O365_BUSINESS_PREMIUM"]["skuId"]
    out = []
    for name in names:
        upn = f"{name}.{run}@{NEW}"
        new_graph.post("users", {"accountEnabled": True, "displayName": name, "mailNickname": f"{name}{run}".replace(
            ".", ""), "userPrincipalName": upn, "usageLocation": "NL",
            "passwordProfile": {"password": secrets.token_urlsafe(12) + "aA1!", "forceChangePasswordNextSignIn": True}})
        new_graph.post(f"users/{upn}/assignLicense", {"addLicenses": [{"skuId": sku, "disabledPlans": []}],
                                                      "removeLicenses": []})
        out.append(upn)
    return out


def run(sb: Sandbox, tmp: Path, names: list[str], run_name: str, workers: int, processes: int, units: int,
        unshared: bool = False) -> dict[str, tuple[int, float, int]]:
    """One move of every mailbox and drive into fresh new ones: {kind: (items done, seconds, SharePoint units the new
    tenant charged)}, the cluster's start not counted (``units``: SharePoint's budget a window, as the workers are
    told it)."""
    old_graph, new_graph = graph(sb, "source", 64), graph(sb, "target", 64)
    to = targets(new_graph, names, run_name)
    kind = UnsharedSignIn if unshared else RemoteSignIn
    signin = kind(*(TenantConfig(side, APPS[side][0], APPS[side][1], secret_env=APPS[side][2])
                    for side in ("source", "target")), sb.endpoints["authority_host"], sb.endpoints["graph_url"],
                  sb.ca_file, sharepoint_units=units)
    client = clusters.connect(f"local:{processes}", max(1, workers // MAILBOX_CONCURRENCY)) if processes else None
    out = {}
    try:
        if client is not None:
            client.run(lambda: (signin.client("source"), signin.client("target")) and None)  # signed in beforehand
        with Ledger(tmp / f"{run_name}.sqlite", "bench") as ledger:
            def timed_run(folders: Any, items: Any) -> tuple[float, int]:
                """The items' part: from the first hand-out to the last result (listing not counted), and the
                resource units the new tenant charged for it."""
                Engine(ledger, "bench", folder=tmp, workers=workers).run(folders, dry_run=False, gate=Confirmed())
                applied = [0.0]
                spent = sb.stats()["counts"].get("ru_spent_new", 0)
                Engine(ledger, "bench", folder=tmp, workers=workers,
                       cluster=(lambda: (client, signin)) if client is not None else None,
                       progress=lambda label: lambda done, total, seconds: applied.__setitem__(0, seconds)).run(
                    items, dry_run=False, gate=Confirmed())
                return applied[0], sb.stats()["counts"].get("ru_spent_new", 0) - spent

            if not unshared:
                old, new = MailboxClient(old_graph), MailboxClient(new_graph)
                mail = MailCopy(old, new, find_mailboxes(old, new, [(f"{n}@contoso.example", f"{n}@contoso.example",
                                                                     t) for n, t in zip(names, to, strict=True)]))
                mail.load_folders()
                seconds, _ = timed_run(MailFolders(mail), MailItems(mail))
                out["mail"] = len(ledger.items("mail-item", ["done"])), seconds, 0
            for upn in to:
                sb.admin("POST", f"files/{NEW}/{upn}", json={"op": "provision", "seconds": 0})
            old_drives, new_drives = DriveClient(old_graph), DriveClient(new_graph)
            moving = pd.DataFrame({"source_upn": [f"{n}@contoso.example" for n in names], "target_upn": to})
            drives = DriveCopy(old_drives, new_drives, find_pairs(old_drives, new_drives, moving))
            seconds, spent = timed_run(DriveFolders(drives), DriveFiles(drives))
            out["files"] = len(ledger.items("drive-file", ["done"])), seconds, spent
        return out
    finally:
        if client is not None:
            client.close()
            client.cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=32)
    parser.add_argument("--items", type=int, default=10, help="items per mailbox")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the network's time per request")
    parser.add_argument("--exchange-ms", type=float, default=400.0, help="Exchange's own time per request")
    parser.add_argument("--workers", type=int, default=4, help="items at once per process (the workers parameter)")
    parser.add_argument("--files", type=int, default=8, help="files per OneDrive")
    parser.add_argument("--concurrent", type=int, default=256, help="requests at once for the sandbox's own ceiling")
    parser.add_argument("--units", type=int, default=100, help="SharePoint's resource units per app and tenant a window")
    parser.add_argument("--window", type=float, default=1.0, help="SharePoint's window in seconds (60 in the service)")
    args = parser.parse_args()
    app_secrets()
    names = [f"bench.scale{i}" for i in range(args.mailboxes)]
    per_request = (args.latency_ms + args.exchange_ms) / 1000
    ceiling = args.mailboxes * MAILBOX_CONCURRENCY / per_request
    sizes = pd.DataFrame({"scope": names, "items": args.items, "bytes": args.items * 2_000})
    pool = forecast.Limits(latency_s=per_request, workers=args.workers)  # the notebook's threads
    cluster = forecast.Limits(latency_s=per_request, workers=args.workers,
                              scopes_at_once=max(1, args.workers // MAILBOX_CONCURRENCY))
    rates: dict[str, float] = {}
    file_rates: dict[str, float] = {}
    throttled: dict[str, int] = {}
    units_per_file: list[float] = []
    file_lines: list[str] = []
    errors = []
    print(f"{args.mailboxes} mailboxes x {args.items} items, {args.latency_ms:g} ms network + {args.exchange_ms:g} ms "
          f"Exchange per request, {args.workers} items at once per process; Exchange's ceiling {ceiling:.0f} items/s")
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(Path(tmp) / "sandbox", seed=seed(Path(tmp), names, args.items, args.files)) as sb:
        answered, possible = capacity(sb, args.concurrent, 4.0, 250.0)
        asked = 0.0
        sb.set_knobs(latency_ms=args.latency_ms, mailbox_latency_ms=args.exchange_ms,
                     ru_per_minute=round(args.units * 60 / args.window), ru_window_seconds=args.window)
        for processes in (0, *PROCESSES, -4):
            label = str(processes) if processes > 0 else "thread pool" if processes == 0 else "4 unshared"
            before = sb.stats()["counts"]
            moved = run(sb, Path(tmp), names, f"r{processes}".replace("-", "u"), args.workers, abs(processes),
                        args.units, unshared=processes < 0)
            after = sb.stats()["counts"]
            asked = max(asked, (after.get("graph", 0) - before.get("graph", 0)) /
                        sum(seconds for _, seconds, _ in moved.values()))
            throttled[label] = sum(after.get(f"ru_throttled_{t}", 0) - before.get(f"ru_throttled_{t}", 0)
                                   for t in ("old", "new"))
            files, seconds, spent = moved["files"]
            file_rates[label] = round(files / seconds, 1)
            units_per_file.append(spent / max(1, files))
            file_lines.append(f"   {label:>11}: {files} files in {seconds:5.1f} s = {files / seconds:5.1f} files/s, "
                              f"{spent / seconds:5.1f} units/s in the new tenant ({spent / files:.1f} a file); "
                              f"SharePoint answered 429 {throttled[label]} times")
            if "mail" not in moved:
                continue
            done, seconds, _ = moved["mail"]
            rates[label] = round(done / seconds, 1)
            expected = forecast.mail(sizes, cluster if processes else pool, max(1, processes))
            error = abs(expected.seconds - seconds) / seconds
            errors.append(error)
            print(f"   {label:>11}: {done} items in {seconds:5.1f} s = {done / seconds:6.1f} items/s "
                  f"({done / seconds / ceiling:.2f} of the ceiling); forecast {expected.seconds:5.1f} s "
                  f"({error:+.0%} off; binds: {expected.binds})")
    file_ceiling = args.units / args.window / (sum(units_per_file) / len(units_per_file))
    print(f"{len(names)} OneDrives x {args.files} files, SharePoint's budget {args.units} units a {args.window:g} s "
          "window per app and tenant:")
    print("\n".join(file_lines))
    print(f"   SharePoint's budget allows {file_ceiling:.1f} files/s (the new tenant's {args.units} units a "
          f"{args.window:g} s window at {sum(units_per_file) / len(units_per_file):.1f} units a file), whatever the "
          f"processes; shared, they never over-ask it: 429s {throttled}")
    print(f"The sandbox itself answered {answered:.0f} requests/s with {args.concurrent} always waiting 250 ms each "
          f"({answered / possible:.0%} of the {possible:.0f} those could get); the busiest run above asked about "
          f"{asked:.0f} a second: the sandbox is not what binds")
    scale = rates["4"] / rates["1"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"   4 worker processes move {scale:.1f}x what one does (goal: at least 3x until the ceiling binds); the "
          f"coordinator's peak memory {peak:.0f} MiB")
    print(json.dumps({"items_per_s": rates, "ceiling_items_per_s": round(ceiling, 1),
                      "scale_4_over_1": round(scale, 2), "forecast_error": round(max(errors), 3),
                      "coordinator_peak_rss_mib": round(peak, 1), "files_per_s": file_rates,
                      "ceiling_files_per_s": round(file_ceiling, 1), "throttled": throttled,
                      "sandbox_requests_per_s": round(answered), "sandbox_possible_per_s": round(possible),
                      "busiest_run_requests_per_s": round(asked)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
