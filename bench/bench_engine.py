"""The engine's bookkeeping: items recorded done one transaction each (the baseline) against in batches, in the
same run, with a workload that does nothing else (what is left is the ledger's cost per item).

    python bench/bench_engine.py [--items 5000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tenantmove.engine import Applied, DeltaLinks, Engine, Ledger, Work, Workload


class Nothing(Workload):
    kind, title = "thing", "things"

    def __init__(self, count: int) -> None:
        self.count = count

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        return (Work(f"t{i}", f"thing {i}") for i in range(self.count))

    def apply(self, work: Work, existing: Any | None) -> Applied:
        return Applied(f"new-{work.key}", "created")


def rate(path: Path, items: int, batch: int) -> float:
    with Ledger(path, "bench") as ledger:
        engine = Engine(ledger, "70", workers=4, commit_batch=batch)
        start = time.perf_counter()
        outcome = engine.run(Nothing(items), dry_run=False)
        seconds = time.perf_counter() - start
        assert outcome.count("created") == items and len(ledger.items("thing", ["done"])) == items
    return items / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = rate(Path(tmp) / "one.sqlite", args.items, 1)
        print(f"engine, one commit per done item: {one:8.0f} items/s   base")
        many = rate(Path(tmp) / "many.sqlite", args.items, 200)
        print(f"engine, done items 200 a commit:  {many:8.0f} items/s   {many / one:.2f}x")
    print(json.dumps({"items_per_s_one_commit_each": round(one), "items_per_s_batched": round(many),
                      "speedup": round(many / one, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
