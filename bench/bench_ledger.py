"""Ledger throughput: batched planning against one commit per row (the baseline), in the same run.

    python bench/bench_ledger.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tenantmove.ledger import Ledger, Planned


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Ledger(Path(tmp) / "baseline.sqlite", batch_size=1)
        start = time.perf_counter()
        base.plan("70", "file", (Planned(f"f{i}", f"file {i}", size=i) for i in range(args.baseline_rows)))
        base_rate = args.baseline_rows / (time.perf_counter() - start)
        print(f"plan, one commit per row:   {base_rate:10.0f} rows/s ({args.baseline_rows} rows)   base")

        led = Ledger(Path(tmp) / "ledger.sqlite")
        start = time.perf_counter()
        led.plan("70", "file", (Planned(f"f{i}", f"file {i}", size=i) for i in range(args.rows)))
        rate = args.rows / (time.perf_counter() - start)
        print(f"plan, batches of {led.batch_size}:    {rate:10.0f} rows/s ({args.rows} rows)   {rate / base_rate:.1f}x")

        start = time.perf_counter()
        assert led.plan("70", "file", (Planned(f"f{i}") for i in range(args.rows))) == 0
        print(f"re-plan (all known):        {args.rows / (time.perf_counter() - start):10.0f} rows/s")

        start = time.perf_counter()
        for i in range(0, args.rows, max(1, args.rows // 2000)):
            led.done("file", f"f{i}", f"t{i}")
        marked = len(range(0, args.rows, max(1, args.rows // 2000)))
        print(f"mark done (indexed lookup): {marked / (time.perf_counter() - start):10.0f} rows/s")
        start = time.perf_counter()
        todo = len(led.todo("file"))
        print(f"todo list of {todo} rows:  {time.perf_counter() - start:10.2f} s")
        size = (Path(tmp) / "ledger.sqlite").stat().st_size
        print(f"file size: {size / args.rows:.0f} bytes per row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
