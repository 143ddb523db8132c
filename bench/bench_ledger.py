"""Ledger throughput: batched planning against one commit per row (the baseline), in the same run.

    python bench/bench_ledger.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tenantmove.engine.ledger import Done, Ledger, Planned


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
        assert led.plan("70", "file", (Planned(f"f{i}") for i in range(args.rows))).new == 0
        replan = args.rows / (time.perf_counter() - start)
        print(f"re-plan (all known):        {replan:10.0f} rows/s")

        start = time.perf_counter()
        for i in range(0, args.rows, max(1, args.rows // 2000)):
            led.done("file", f"f{i}", f"t{i}")
        marked = len(range(0, args.rows, max(1, args.rows // 2000)))
        one_rate = marked / (time.perf_counter() - start)
        print(f"mark done, one per commit:  {one_rate:10.0f} rows/s   base")
        start = time.perf_counter()
        many = led.done_many("file", (Done(f"f{i}", f"t{i}") for i in range(1, min(args.rows, 20001), 2)))
        many_rate = many / (time.perf_counter() - start)
        print(f"mark done, done_many:       {many_rate:10.0f} rows/s   {many_rate / one_rate:.1f}x")
        start = time.perf_counter()
        todo = len(led.todo("file"))
        print(f"todo list of {todo} rows:  {time.perf_counter() - start:10.2f} s")
        size = (Path(tmp) / "ledger.sqlite").stat().st_size
        print(f"file size: {size / args.rows:.0f} bytes per row")
    print(json.dumps({"plan_rows_per_s": round(rate), "plan_baseline_rows_per_s": round(base_rate),
                      "replan_rows_per_s": round(replan), "done_rows_per_s": round(one_rate),
                      "done_many_rows_per_s": round(many_rate), "bytes_per_row": round(size / args.rows)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
