"""Mailbox move benchmark against the sandbox: items per second against the ceiling Exchange's limits allow
for the mailboxes in the run, in the same run.

Each mailbox takes at most 4 requests at once per app, each taking the service's time (the sandbox's
network latency plus Exchange's own time per request), and 10,000 requests per 10 minutes: the ceiling is
mailboxes x min(4 / time per request, 10,000 / 600) items per second (one import per item; exports, 20
items to a request, hit the old mailboxes, which have their own limits). Also: failures (goal: none),
round trips per item, and export round trips per item (goal: at most 0.1).

    python bench/bench_mail.py [--mailboxes 4] [--items 300] [--latency-ms 30] [--exchange-ms 150] [--workers 16]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from pathlib import Path

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
from tenantmove.sandbox.state import DEFAULT_SEED, SKU_CATALOG
from tenantmove.services.mailboxes import MailboxClient
from tenantmove.workloads.mail import MailCopy, MailFolders, MailItems, find_mailboxes

CONCURRENT, REQUESTS, WINDOW = 4, 10_000, 600.0


def seed(folder: Path, mailboxes: int, items: int) -> Path:
    spec = yaml.safe_load(DEFAULT_SEED.read_text())
    old = spec["tenants"][0]
    names = [f"bench.mail{i}" for i in range(mailboxes)]
    old["users"] += [{"upn": f"{n}@contoso.example", "display_name": n, "usage_location": "NL",
                      "licenses": ["O365_BUSINESS_PREMIUM"]} for n in names]
    old["mailboxes"] = [{"owner": f"{n}@contoso.example", "folders": ["Projects/2026"], "messages": items}
                        for n in names]
    return save_seed(folder, spec)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--items", type=int, default=300, help="items per mailbox")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="the network's time per request")
    parser.add_argument("--exchange-ms", type=float, default=150.0, help="Exchange's own time per request")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    app_secrets()
    names = [f"bench.mail{i}" for i in range(args.mailboxes)]
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(Path(tmp) / "sandbox", seed=seed(Path(tmp), args.mailboxes, args.items)) as sb:
        old_graph, new_graph = graph(sb, "source", 64), graph(sb, "target", 64)
        sku = SKU_CATALOG["O365_BUSINESS_PREMIUM"]["skuId"]
        for name in names:
            new_graph.post("users", {"accountEnabled": True, "displayName": name, "mailNickname": name.replace(".", ""),
                                     "userPrincipalName": f"{name}@{NEW}", "usageLocation": "NL",
                                     "passwordProfile": {"password": secrets.token_urlsafe(12) + "aA1!",
                                                         "forceChangePasswordNextSignIn": True}})
            new_graph.post(f"users/{name}@{NEW}/assignLicense", {"addLicenses": [{"skuId": sku, "disabledPlans": []}],
                                                                 "removeLicenses": []})
        old, new = MailboxClient(old_graph), MailboxClient(new_graph)
        copy = MailCopy(old, new, find_mailboxes(old, new, [(f"{n}@contoso.example", f"{n}@contoso.example",
                                                              f"{n}@{NEW}") for n in names]))
        copy.load_folders()
        sb.set_knobs(latency_ms=args.latency_ms, mailbox_latency_ms=args.exchange_ms)
        print(f"{args.mailboxes} mailboxes x {args.items} items, {args.latency_ms:g} ms network + "
              f"{args.exchange_ms:g} ms Exchange per request, {args.workers} workers")
        with Ledger(Path(tmp) / "ledger.sqlite", "bench") as ledger:
            engine = Engine(ledger, "60_mailboxes", folder=Path(tmp), workers=args.workers)
            engine.run(MailFolders(copy), dry_run=False, gate=Confirmed())
            items = MailItems(copy)
            before = sb.stats()["counts"]
            seconds = timed(engine, items, [old_graph, new_graph])
            done = len(ledger.items("mail-item", ["done"]))
            failed = len(ledger.items("mail-item", ["failed"]))
        after = sb.stats()["counts"]
        export_calls = after.get("mail_export_calls", 0) - before.get("mail_export_calls", 0)
        requests = sum(c.stats["requests"] for c in (old_graph, new_graph))
        per_request = (args.latency_ms + args.exchange_ms) / 1000
        # the 10-minute budget binds only once a mailbox takes more than 10,000 requests
        per_mailbox = CONCURRENT / per_request if args.items <= REQUESTS else \
            min(CONCURRENT / per_request, REQUESTS / WINDOW)
        ceiling = args.mailboxes * per_mailbox
        rate = done / seconds
        export_round_trips = export_calls / max(done, 1)
        print(f"   {done} items in {seconds:.1f} s: {rate:.1f} items/s; Exchange's ceiling for {args.mailboxes} "
              f"mailboxes {ceiling:.1f} items/s ({rate / ceiling:.2f} of it); {failed} failed; "
              f"{requests / max(done, 1):.2f} round trips per item (listing included), {export_round_trips:.3f} of "
              f"them exports ({export_calls} export calls); throttled {new_graph.stats['throttled']} time(s)")
        figures = {"items_per_s": round(rate, 2), "ceiling_items_per_s": round(ceiling, 2),
                   "fraction_of_ceiling": round(rate / ceiling, 3), "items_failed": failed,
                   "round_trips_per_item": round(requests / max(done, 1), 3),
                   "export_round_trips_per_item": round(export_round_trips, 3)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
