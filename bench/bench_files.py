"""OneDrive copy benchmarks against the sandbox, each against its yardstick in the same run:

1. one large file (1 GiB by default) through the streaming copy: the copying process's peak memory against
   its own memory just before the copy (goal: under 300 MiB at the peak), and its throughput;
2. many small files under SharePoint's resource-unit budget with realistic latency: files per second against
   the ceiling that budget allows in the same span (the new tenant's units for the time taken, plus one
   window's worth that can be spent up front, over the units one file costs there: an upload, 2, and setting
   its dates, 2), failures (goal: none) and round trips per file;
3. who may open what on those files (``--shared`` of them shared with a colleague and by an organisation link):
   the permission calls per second against the ceiling the same budget allows at 5 units per call, the units
   the new tenant spent on them, and failures (goal: none).

    python bench/bench_files.py [--large-mib 1024] [--files 1000] [--shared 200] [--latency-ms 30]
                                [--ru-per-minute 6000]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from benchkit import (  # the lib folder on the path, the apps, a signed-in client
    NEW,
    Confirmed,
    app_secrets,
    graph,
    save_seed,
    timed,
)

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.state import DEFAULT_SEED
from tenantmove.services.drives import DriveClient
from tenantmove.services.graph import GraphClient
from tenantmove.services.sharing import PERMISSION_UNITS
from tenantmove.workloads import inventory
from tenantmove.workloads.files import DriveCopy, DriveFiles, DriveFolders
from tenantmove.workloads.onedrive import find_pairs
from tenantmove.workloads.sharing import LinkMap, Sharing, grantees

UPLOAD_AND_DATES_RU = 4  # what one small file costs in the new tenant at the least: PUT (2) + PATCH dates (2)


def seed(folder: Path, large_mib: int, files: int, shared: int = 0) -> Path:
    spec = yaml.safe_load(DEFAULT_SEED.read_text())
    old = spec["tenants"][0]
    old["users"] += [{"upn": f"{n}@contoso.example", "display_name": n, "usage_location": "NL",
                      "licenses": ["O365_BUSINESS_PREMIUM"]} for n in ("bench.large", "bench.small")]
    old["drives"] = [
        {"owner": "bench.large@contoso.example", "files": [{"path": "Video/large.bin", "size": f"{large_mib} MiB"}]},
        {"owner": "bench.small@contoso.example",
         "files": [{"path": f"Folder {i % 10}/small-{i:05d}.txt", "size": 1024 + (i * 37) % 8192} for i in range(files)],
         "shares": [share for i in range(0, files, max(1, files // max(shared, 1)))[:shared] for share in (
             {"path": f"Folder {i % 10}/small-{i:05d}.txt", "with": "bench.large@contoso.example", "role": "read"},
             {"path": f"Folder {i % 10}/small-{i:05d}.txt", "link": "view", "scope": "organization"})]},
    ]
    return save_seed(folder, spec)


def copy(sb: Sandbox, nick: str, ledger_path: Path, workers: int) -> tuple[DriveFiles, float, list[GraphClient]]:
    old_graph, new_graph = graph(sb, "source"), graph(sb, "target")
    old, new = DriveClient(old_graph), DriveClient(new_graph)
    moving = pd.DataFrame([{"source_upn": f"{nick}@contoso.example", "target_upn": f"{nick}@{NEW}"}])
    drives = DriveCopy(old, new, find_pairs(old, new, moving))
    files = DriveFiles(drives)
    with Ledger(ledger_path, "bench") as ledger:
        engine = Engine(ledger, "70_onedrive", folder=ledger_path.parent, workers=workers)
        engine.run(DriveFolders(drives), dry_run=False, gate=Confirmed())
        seconds = timed(engine, files, [old_graph, new_graph])
    return files, seconds, [old_graph, new_graph]


def share(sb: Sandbox, ledger_path: Path, workers: int, tmp: Path) -> tuple[Sharing, float]:
    """The small files' sharing, carried as phase 70 does after the files."""
    old_graph, new_graph = graph(sb, "source"), graph(sb, "target")
    old, new = DriveClient(old_graph), DriveClient(new_graph)
    moving = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": f"{n}@{NEW}"}
                           for n in ("bench.small", "bench.large")])
    who = grantees(inventory.collect(old_graph), inventory.collect(new_graph), moving)
    sharing = Sharing(DriveCopy(old, new, find_pairs(old, new, moving.iloc[:1])), who, LinkMap(tmp / "links.csv"))
    with Ledger(ledger_path, "bench") as ledger:
        seconds = timed(Engine(ledger, "70_onedrive", folder=ledger_path.parent, workers=workers), sharing,
                        [old_graph, new_graph])
    return sharing, seconds


def child(args: argparse.Namespace) -> int:
    """The large copy, in a process of its own so that its peak memory is its own."""
    sb = Sandbox.attach(Path(args.state))
    graph(sb, "source"), graph(sb, "target")  # imports and sign-in done: the memory to compare with
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    files, seconds, _ = copy(sb, "bench.large", Path(args.state) / "large.sqlite", 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with Ledger(Path(args.state) / "large.sqlite") as ledger:
        done = ledger.items("drive-file", ["done"])
    print(json.dumps({"before_mib": before, "peak_mib": peak, "seconds": seconds, "done": len(done),
                      "verdict": done[0].detail.get("verdict") if done else None}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--shared", type=int, default=200, help="of the small files, how many are shared")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--ru-per-minute", type=int, default=6000, help="the new tenant's budget (licence tier)")
    parser.add_argument("--window", type=float, default=5.0, help="the budget's window in seconds (same rate)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args()
    app_secrets()
    if args.child:
        return child(args)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "sandbox"
        with Sandbox(state, seed=seed(Path(tmp), args.large_mib, args.files, args.shared),
                     knobs={"onedrive_provision_seconds": 0}) as sb:
            new = graph(sb, "target")
            for nick in ("bench.large", "bench.small"):
                new.post("users", {"accountEnabled": True, "displayName": nick, "mailNickname": nick.replace(".", ""),
                                   "userPrincipalName": f"{nick}@{NEW}", "usageLocation": "NL",
                                   "passwordProfile": {"password": secrets.token_urlsafe(12) + "aA1!",
                                                       "forceChangePasswordNextSignIn": True}})
                sb.admin("POST", f"files/{NEW}/{nick}@{NEW}", json={"op": "provision", "seconds": 0})

            print(f"1. one file of {args.large_mib} MiB, streamed (a process of its own)")
            proc = subprocess.run([sys.executable, __file__, "--child", "--state", str(state)], capture_output=True,
                                  text=True, check=False)
            if proc.returncode:
                print(proc.stderr[-3000:])
                return 1
            large = json.loads(proc.stdout.strip().splitlines()[-1])
            growth = large["peak_mib"] - large["before_mib"]
            print(f"   peak {large['peak_mib']:.0f} MiB (before the copy {large['before_mib']:.0f} MiB, +{growth:.0f} "
                  f"MiB for {args.large_mib} MiB of data), {args.large_mib / large['seconds']:.0f} MiB/s, "
                  f"verdict: {large['verdict']}")
            figures.update(peak_rss_mib=round(large["peak_mib"], 1), rss_before_copy_mib=round(large["before_mib"], 1),
                           large_file_mib_per_s=round(args.large_mib / large["seconds"], 1),
                           large_file_verified=int(large["done"] == 1 and str(large["verdict"]).startswith("verified")))

            print(f"2. {args.files} small files, {args.latency_ms:g} ms latency, {args.ru_per_minute} resource units a "
                  f"minute per app and tenant (windows of {args.window:g} s), {args.workers} workers")
            sb.set_knobs(latency_ms=args.latency_ms, ru_per_minute=args.ru_per_minute, ru_window_seconds=args.window)
            time.sleep(args.window)  # start on a fresh window
            files, seconds, clients = copy(sb, "bench.small", Path(tmp) / "small.sqlite", args.workers)
            with Ledger(Path(tmp) / "small.sqlite") as ledger:
                done = len(ledger.items("drive-file", ["done"]))
                failed = len(ledger.items("drive-file", ["failed"]))
            requests = sum(c.stats["requests"] for c in clients)
            per_second = args.ru_per_minute / 60
            ceiling = (per_second * seconds + per_second * args.window) / UPLOAD_AND_DATES_RU / seconds
            rate = done / seconds
            print(f"   {done} files in {seconds:.1f} s: {rate:.1f} files/s; the budget's ceiling {ceiling:.1f} files/s "
                  f"({rate / ceiling:.2f} of it); {failed} failed; {requests / max(done, 1):.2f} round trips per file; "
                  f"waited for the budget {sum(c.stats['paced'] for c in clients)} time(s), throttled "
                  f"{sum(c.stats['throttled'] for c in clients)} time(s)")
            figures.update(files_per_s=round(rate, 2), ceiling_files_per_s=round(ceiling, 2),
                           fraction_of_ceiling=round(rate / ceiling, 3), files_failed=failed,
                           round_trips_per_file=round(requests / max(done, 1), 2))

            print(f"3. the sharing of {args.shared} of those files (a colleague and an organisation link each), the "
                  f"same budget, {PERMISSION_UNITS} units per permission call")
            time.sleep(args.window)
            before = sb.admin("GET", "stats")["counts"].get("ru_spent_new", 0)
            sharing, seconds = share(sb, Path(tmp) / "share.sqlite", args.workers, Path(tmp))
            spent = sb.admin("GET", "stats")["counts"].get("ru_spent_new", 0) - before
            with Ledger(Path(tmp) / "share.sqlite") as ledger:
                carried = len(ledger.items("sharing", ["done"]))
                failed = len(ledger.items("sharing", ["failed"]))
            calls = sharing.counted["new"]  # the new tenant's budget binds: its reads, and every write
            call_ceiling = (per_second * seconds + per_second * args.window) / PERMISSION_UNITS / seconds
            print(f"   {carried} shared file(s) carried in {seconds:.1f} s with {calls} permission calls in the new tenant "
                  f"({sharing.counted['old']} in the old): "
                  f"{calls / seconds:.1f} calls/s; the budget's ceiling {call_ceiling:.1f} calls/s "
                  f"({calls / seconds / call_ceiling:.2f} of it); the new tenant spent {spent} units; {failed} failed")
            figures.update(shared_objects=carried, permission_calls=calls,
                           permission_calls_per_s=round(calls / seconds, 2),
                           ceiling_permission_calls_per_s=round(call_ceiling, 2),
                           permission_fraction_of_ceiling=round(calls / seconds / call_ceiling, 3),
                           permission_units_spent_new=spent, sharing_failed=failed)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
