"""Benchmarks of the Graph client against the sandbox, each compared with a baseline in the same run
(the machine is noisy, so only same-run ratios mean anything).

    python bench/bench_graph.py [--requests 200] [--latency-ms 20] [--scale 10]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tenantmove.sandbox import Sandbox
from tenantmove.services.auth import SignIn, TenantConfig
from tenantmove.services.graph import BatchRequest, GraphClient

APP = "3e1a4c2b-7d6f-4a8e-9b0c-5f1e2d3c4b01"


def client(sb: Sandbox) -> GraphClient:
    config = TenantConfig("source", "contoso.onmicrosoft.com", APP, secret_env="TENANTMOVE_SOURCE_SECRET")
    signin = SignIn(config, authority_host=sb.endpoints["authority_host"], verify=sb.ca_file)
    c = GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file)
    c.get("organization")  # sign in outside the timed part
    return c


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


FIGURES: dict[str, float] = {}


def row(name: str, seconds: float, items: int, requests: int, baseline: float | None) -> None:
    ratio = f"{baseline / seconds:6.2f}x" if baseline else "  base "
    FIGURES[name.split(" (")[0].replace(" ", "_").replace(",", "") + "_items_per_s"] = round(items / seconds, 1)
    print(f"  {name:<38} {seconds:7.3f} s  {items / seconds:8.1f} items/s  {requests:5d} requests  {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("TENANTMOVE_SOURCE_SECRET", secrets.token_urlsafe(16))
    os.environ.setdefault("TENANTMOVE_TARGET_SECRET", secrets.token_urlsafe(16))
    n = args.requests
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp), scale=args.scale) as sb:
        print(f"sandbox scale {args.scale}, {n} requests per case, Python {sys.version.split()[0]}")

        print("\n1. connections (no added latency): new TLS connection per request vs keep-alive")
        c = client(sb)
        base, _ = timed(lambda: sum(1 for _ in range(n) if c.request("GET", "users", params={"$top": "1"},
                                                                       headers={"Connection": "close"})))
        row("new connection per request", base, n, n, None)
        c = client(sb)
        t, _ = timed(lambda: sum(1 for _ in range(n) if c.get("users", {"$top": "1"})))
        row("keep-alive session", t, n, n, base)

        sb.set_knobs(latency_ms=args.latency_ms)
        print(f"\n2. concurrency ({args.latency_ms:g} ms latency per request): 1 thread vs 8")
        c = client(sb)
        base, _ = timed(lambda: sum(1 for _ in range(n) if c.get("users", {"$top": "1"})))
        row("1 thread", base, n, c.stats["requests"] - 1, None)
        c = client(sb)
        with ThreadPoolExecutor(8) as pool:
            t, _ = timed(lambda: sum(1 for _ in pool.map(lambda _: c.get("users", {"$top": "1"}), range(n))))
        row("8 threads, one shared client", t, n, c.stats["requests"] - 1, base)

        print(f"\n3. group members ({args.latency_ms:g} ms latency): one request per group vs $batch of 20")
        c = client(sb)
        groups = c.get_all("groups", {"$select": "id", "$top": "999"})
        before = c.stats["requests"]
        base, _ = timed(lambda: sum(len(c.get(f"groups/{g['id']}/members", {"$select": "id"})["value"]) for g in groups))
        row(f"{len(groups)} GETs", base, len(groups), c.stats["requests"] - before, None)
        before = c.stats["requests"]
        batch = [BatchRequest(g["id"], "GET", f"/groups/{g['id']}/members?$select=id") for g in groups]
        t, _ = timed(lambda: sum(len(r.body["value"]) for r in c.batch(batch).values()))
        row(f"$batch ({-(-len(groups) // 20)} calls)", t, len(groups), c.stats["requests"] - before, base)

        stats = sb.stats()
        print(f"\nsandbox: {stats['counts'].get('graph', 0)} Graph requests, {stats['connections']} TLS connections, "
              f"{stats['tokens_issued']} tokens issued")
    print(json.dumps(FIGURES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
