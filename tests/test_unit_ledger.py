"""The ledger: idempotent planning, resumable state, history, crash safety, snapshots."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tenantmove.ledger import Ledger, Planned


def test_planning_twice_adds_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        assert led.plan("30", "user", [Planned("a", "A"), Planned("b", "B")]) == 2
        assert led.plan("30", "user", [Planned("a", "A"), Planned("b", "B"), Planned("c", "C")]) == 1
        assert [i.source_id for i in led.items("user")] == ["a", "b", "c"]
        assert led.plan("30", "group", [Planned("a")]) == 1  # the key is (kind, source_id)


def test_rerun_skips_done_and_retries_failed(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        led.plan("30", "user", [Planned(x) for x in "abcd"])
        led.attempt("user", "a")
        led.done("user", "a", "new-a")
        led.attempt("user", "b")
        led.failed("user", "b", "HTTP 503")
        led.skipped("user", "c", "excluded in the mapping")
        assert [i.source_id for i in led.todo("user")] == ["b", "d"]
        b = led.get("user", "b")
        assert b.state == "failed" and b.attempts == 1 and b.error == "HTTP 503"
    with Ledger(tmp_path / "l.sqlite", run_id="r2") as led:  # the next run
        led.attempt("user", "b")
        led.done("user", "b", "new-b")
        assert led.get("user", "b").error is None and led.get("user", "b").attempts == 2
        history = led.history("user", "b")
        assert [(h["run_id"], h["state"]) for h in history] == [("r1", "planned"), ("r1", "failed"), ("r2", "done")]
        counts = led.counts()
        assert dict(zip(counts["state"], counts["items"], strict=True)) == {"done": 2, "planned": 1, "skipped": 1}


def test_unknown_item_and_state_are_errors(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        with pytest.raises(KeyError):
            led.done("user", "nobody")
        led.plan("30", "user", [Planned("a")])
        with pytest.raises(ValueError):
            led._set("user", "a", "exploded", "x")


def test_a_process_killed_mid_transaction_loses_only_the_open_transaction(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    code = f"""
import os
from tenantmove.ledger import Ledger, Planned
led = Ledger({str(path)!r}, run_id="killed")
led.plan("30", "user", [Planned(str(i)) for i in range(100)])
led.done("user", "1", "t1")
with led.transaction() as db:
    db.execute("UPDATE items SET state = 'done', target_id = 'half' WHERE kind = 'user'")
    os._exit(9)  # killed between the write and the commit
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 9, proc.stderr
    with Ledger(path) as led:
        assert len(led.items("user")) == 100
        assert [i.source_id for i in led.items("user", ["done"])] == ["1"]
        assert not [i for i in led.items("user") if i.target_id == "half"]
    assert sqlite3.connect(str(path)).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_snapshot_is_a_consistent_copy(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        led.plan("30", "user", [Planned(str(i)) for i in range(12000)])  # more than one batch
        led.done("user", "5", "t5")
        copy = led.snapshot(tmp_path / "run" / "ledger.sqlite")
    db = sqlite3.connect(str(copy))
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 12000
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 12001
    assert db.execute("SELECT target_id FROM items WHERE source_id = '5'").fetchone()[0] == "t5"
