"""The cutover's mail window, benchmarked as a sender sees it: phases 20 and 30 run against the sandbox (their own
plan and apply) while its outside mail server writes to a moving person, once per option:

- ``no change``: the MX keeps its hour-long TTL (phase 20 started through ``ttl_override``), no holding MX;
- ``lowered TTLs``: phase 00 lowers the MX, autodiscover and SPF TTLs to 300 s; phase 20 waits until the old hour
  has run out;
- ``holding MX``: lowered TTLs, and the MX points at the admin's holding host (451) during the window;

each for a domain with an address record of its own (a website at the apex) and for a mail-only domain (neither
MX nor address in the window). DNS TTLs are realistic (3600 s, 300 s) and run on the sandbox's clock (a TTL
second lasts 2 ms), the sender retries on Postfix's schedule on the same clock, Graph answers with ``--latency-ms``,
and the admin takes ``--window`` service minutes between phases 20 and 30 (the new domain's verification).

Figures, in service time (real seconds / the clock's scale): the window from "mail stopped" to "new MX answers",
phase 20's length, letters sent, bounced and delivered, the longest delay; the baseline in the same run is the
``no change`` option. Goal: 0 bounced with a holding MX, or with lowered TTLs on a domain with an address.

    python bench/bench_cutover.py [--latency-ms 30] [--window 40] [--every 0.25]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from benchkit import app_secrets  # the lib folder on the path, the apps' secrets

from tenantmove.phases.rehearsal import Option, cutover, prepare
from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.outside import HOLDING_HOST
from tenantmove.sandbox.process import TTL_SCALE

DOMAIN, MEGAN = "contoso.example", "megan.bowen@contoso.example"
OPTIONS = [Option("no change, website", mx_ttl=3600), Option("no change, mail-only", mx_ttl=3600, mail_only=True),
           Option("lowered TTLs, website", lower=True), Option("lowered TTLs, mail-only", lower=True, mail_only=True),
           Option("holding MX, mail-only", lower=True, holding_mx=HOLDING_HOST, mail_only=True)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=30.0, help="Graph's time per request")
    parser.add_argument("--window", type=float, default=40.0, help="service minutes between phases 20 and 30")
    parser.add_argument("--every", type=float, default=0.25, help="real seconds between two letters")
    args = parser.parse_args()
    app_secrets()
    os.environ.setdefault("TENANTMOVE_VAULT_KEY", "YmVuY2gtY3V0b3Zlci12YXVsdC1rZXktMzItYnl0ZXM=")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "sandbox") as sb:
        for n, option in enumerate(OPTIONS):
            sb.admin("POST", "reset", json={"scale": 1})
            sb.set_knobs(latency_ms=args.latency_ms, force_delete_seconds=0.2)
            work = Path(tmp) / f"option{n}"
            with contextlib.redirect_stdout(io.StringIO()):  # the phases' own reports: not the benchmark's
                prepare(sb.state_dir, work, DOMAIN, option)
                result = cutover(sb.state_dir, work, DOMAIN, option, [MEGAN], every_seconds=args.every,
                                 window_seconds=args.window * 60 * TTL_SCALE)
            figures[option.name] = {
                "window_service_min": round((result["window (s)"] or 0) / TTL_SCALE / 60, 1),
                "phase20_service_min": round(result["phase 20 (s)"] / TTL_SCALE / 60, 1),
                "sent": result["letters sent"], "bounced": result["bounced"], "delivered": result["delivered"],
                "longest_delay_service_min": round(result["longest delay (s)"] / TTL_SCALE / 60, 1)}
            row = figures[option.name]
            print(f"{option.name:26} window {row['window_service_min']:6.1f} min  phase 20 "
                  f"{row['phase20_service_min']:6.1f} min  sent {row['sent']:3}  bounced {row['bounced']:3}  "
                  f"longest delay {row['longest_delay_service_min']:6.1f} min", flush=True)
    baseline = figures["no change, mail-only"]["bounced"]
    print(f"baseline (no change, mail-only): {baseline} bounced; holding MX: "
          f"{figures['holding MX, mail-only']['bounced']} bounced")
    print(json.dumps({"options": figures, "scale": TTL_SCALE, "latency_ms": args.latency_ms,
                      "window_service_min": args.window}))
    return 0 if figures["holding MX, mail-only"]["bounced"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
