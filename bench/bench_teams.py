"""Teams import benchmark against the sandbox: channel messages imported per second against the ceiling Teams'
documented limits allow for the teams in the run, in the same run.

An app may send at most 4 requests a second to one team (its channels count together) and 50 a second posting
channel messages in one tenant, and each message is one import: the ceiling is min(teams x 4, 50) messages a
second (``teams_rate_scale`` scales both, in the sandbox and in the client alike). Also: round trips per message
(the reads of both sides included) and failures (goal: none).

    python bench/bench_teams.py [--teams 6] [--messages 80] [--latency-ms 20] [--workers 16] [--rate-scale 1]

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
    app_secrets,
    graph,
    save_seed,
    timed,
)

from tenantmove.engine import Engine, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.state import DEFAULT_SEED, SKU_CATALOG
from tenantmove.services.teams import PER_THREAD, POST_CHANNEL_PER_S, TeamsClient
from tenantmove.workloads.teams import Channels, Messages, People, TeamPair, Teams

PEOPLE = ("megan.bowen", "alex.wilber")


def seed(folder: Path, teams: int, messages: int) -> Path:
    spec = yaml.safe_load(DEFAULT_SEED.read_text())
    old = spec["tenants"][0]
    people = [f"{p}@contoso.example" for p in PEOPLE]
    old["groups"] += [{"display_name": f"Bench {i}", "mail_nickname": f"bench{i}", "kind": "unified",
                       "members": people, "owners": people[:1]} for i in range(teams)]
    old["teams"] = [{"group": f"bench{i}", "channels": [{"name": "General", "messages": messages}]} for i in range(teams)]
    old["chats"] = []
    return save_seed(folder, spec)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=6)
    parser.add_argument("--messages", type=int, default=80, help="messages per team (a third of them replies)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the network's time per request")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rate-scale", type=float, default=1.0, help="Teams' limits, scaled (sandbox and client)")
    args = parser.parse_args()
    app_secrets()
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(Path(tmp) / "sandbox", seed=seed(Path(tmp), args.teams, args.messages)) as sb:  # noqa: SIM117
        old_graph, new_graph = graph(sb, "source", 64), graph(sb, "target", 64)
        sku = SKU_CATALOG["O365_BUSINESS_PREMIUM"]["skuId"]
        ids = {}
        for person in PEOPLE:
            made = new_graph.post("users", {"accountEnabled": True, "displayName": person, "mailNickname":
                                            person.replace(".", ""), "userPrincipalName": f"{person}@{NEW}",
                                            "usageLocation": "NL", "passwordProfile": {
                                                "password": secrets.token_urlsafe(12) + "aA1!",
                                                "forceChangePasswordNextSignIn": True}})
            new_graph.post(f"users/{made['id']}/assignLicense", {"addLicenses": [{"skuId": sku, "disabledPlans": []}],
                                                                 "removeLicenses": []})
            ids[old_graph.get(f"users/{person}@contoso.example")["id"].lower()] = made["id"]
        old, new = TeamsClient(old_graph, args.rate_scale), TeamsClient(new_graph, args.rate_scale)
        pairs = []
        for i in range(args.teams):
            group = next(g for g in old_graph.get_all("groups") if g["mailNickname"] == f"bench{i}")
            made = new_graph.post("groups", {"displayName": f"Bench {i}", "mailNickname": f"bench{i}",
                                             "mailEnabled": True, "securityEnabled": False, "groupTypes": ["Unified"]})
            pairs.append(TeamPair(old.team(group["id"]) or {}, f"Bench {i}", made["id"]))
        admin = new_graph.get(f"users/admin@{NEW}")["id"]
        people = People(ids, {v: k for k, v in ids.items()}, admin)
        sb.set_knobs(latency_ms=args.latency_ms, teams_rate_scale=args.rate_scale)
        with Ledger(Path(tmp) / "ledger.sqlite", "bench") as ledger:
            engine = Engine(ledger, "65_teams", folder=Path(tmp) / "run", workers=args.workers)
            timed(engine, Teams(old, new, pairs), [])  # the teams and their channels first, outside the measure
            channels = Channels(old, new, pairs, people)
            timed(engine, channels, [])
            threads = channels.threads({i.source_id: str(i.target_id) for i in ledger.items(channels.kind, ["done"])
                                        if i.target_id})
            messages = Messages(old, new, threads, people, ("contoso.sharepoint.com", "contosonew.sharepoint.com"))
            seconds = timed(engine, messages, [old_graph, new_graph])
            items = ledger.items(messages.kind)
            imported = sum(1 for i in items if i.state == "done")
            failed = sum(1 for i in items if i.state == "failed")
        trips = old_graph.stats["requests"] + new_graph.stats["requests"]
        per_s = imported / seconds if seconds else 0.0
        ceiling = min(args.teams * PER_THREAD, POST_CHANNEL_PER_S) * args.rate_scale
        print(f"{args.teams} teams x {args.messages} messages, {args.latency_ms:g} ms per request, {args.workers} "
              f"workers, Teams' limits x {args.rate_scale:g}")
        print(f"imported {imported} messages in {seconds:.1f} s: {per_s:.2f} messages/s against a ceiling of "
              f"{ceiling:.1f} ({per_s / ceiling:.2f}); {trips / max(1, imported):.2f} round trips per message; "
              f"{failed} failed; the sandbox answered 429 {sb.admin('GET', 'stats')['counts'].get('teams throttled', 0)}"
              " time(s)")
        print(json.dumps({"messages_per_s": round(per_s, 2), "ceiling_messages_per_s": round(ceiling, 2),
                          "fraction_of_ceiling": round(per_s / ceiling, 3), "round_trips_per_message":
                          round(trips / max(1, imported), 2), "messages": imported, "failed": failed}))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
