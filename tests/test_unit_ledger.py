"""The ledger: idempotent planning, resumable state, history, crash safety, snapshots."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tenantmove.engine.ledger import Done, Ledger, LedgerError, Planned


def test_planning_twice_adds_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        assert led.plan("30", "user", [Planned("a", "A"), Planned("b", "B")]).new == 2
        again = led.plan("30", "user", [Planned("a", "A"), Planned("b", "B"), Planned("c", "C")])
        assert (again.new, again.changed, again.unchanged) == (1, 0, 2)
        assert [i.source_id for i in led.items("user")] == ["a", "b", "c"]
        assert led.plan("30", "group", [Planned("a")]).new == 1  # the key is (kind, source_id)


def test_rerun_skips_done_and_retries_failed(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        led.plan("30", "user", [Planned(x) for x in "abcd"])
        led.attempt("user", "a")
        led.done("user", "a", "new-a")
        led.attempt("user", "b")
        led.failed("user", "b", "HTTP 503")
        led.manual("user", "c", "the admin creates it")
        assert [i.source_id for i in led.todo("user")] == ["b", "c", "d"]
        b = led.get("user", "b")
        assert b.state == "failed" and b.attempts == 1 and b.error == "HTTP 503"
    with Ledger(tmp_path / "l.sqlite", run_id="r2") as led:  # the next run
        led.attempt("user", "b")
        led.done("user", "b", "new-b")
        assert led.get("user", "b").error is None and led.get("user", "b").attempts == 2
        history = led.history("user", "b")
        assert [(h["run_id"], h["state"]) for h in history] == [("r1", "planned"), ("r1", "failed"), ("r2", "done")]
        counts = led.counts()
        assert dict(zip(counts["state"], counts["items"], strict=True)) == {"done": 2, "planned": 1, "manual": 1}


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
from tenantmove.engine.ledger import Done, Ledger, LedgerError, Planned
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


def test_a_changed_source_item_is_planned_again(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        led.plan("70", "file", [Planned("f1", "a.docx", size=10, hash="H1", version="v1"), Planned("f2", version="v1")])
        led.done("file", "f1", "t1", copied_hash="H1-copied", size=10)
        led.done("file", "f2", "t2")
        assert led.preview("file", [Planned("f1", version="v2"), Planned("f2", version="v1"), Planned("f3")]) == \
            {"f1": "changed", "f2": "done before", "f3": "new"}
        assert led.get("file", "f1").state == "done"  # preview writes nothing
        counts = led.plan("70", "file", [Planned("f1", "a.docx", size=12, hash="H2", version="v2"),
                                         Planned("f2", version="v1")])
        assert (counts.new, counts.changed, counts.unchanged) == (0, 1, 1)
        f1 = led.get("file", "f1")
        assert f1.state == "planned" and f1.version == "v2" and f1.planned_hash == "H2" and f1.size == 12
        assert f1.copied_hash == "H1-copied" and f1.target_id == "t1"  # what was copied is kept apart
        assert led.history("file", "f1")[-1]["note"] == "source changed (version v2)"
        assert led.get("file", "f2").state == "done"


def test_done_many_is_one_transaction_and_deltas_are_kept_per_scope(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", run_id="r1") as led:
        led.plan("60", "message", [Planned(str(i), scope="mbx1") for i in range(50)])
        assert led.done_many("message", [Done(str(i), f"t{i}", copied_hash=f"h{i}") for i in range(50)]) == 50
        assert {i.state for i in led.items("message")} == {"done"} and led.get("message", "7").copied_hash == "h7"
        with pytest.raises(KeyError):
            led.done_many("message", [Done("0"), Done("nobody")])
        assert led.get("message", "0").copied_hash == "h0"  # the refused batch changed nothing
        assert led.delta_link("message", "mbx1") is None
        led.save_delta_link("message", "mbx1", "https://graph/delta?token=1")
        led.save_delta_link("message", "mbx1", "https://graph/delta?token=2")
        led.save_delta_link("message", "mbx2", "https://graph/delta?token=9")
        assert led.delta_link("message", "mbx1").endswith("token=2")
        assert led.delta_link("message", "mbx2").endswith("token=9")


def test_a_ledger_belongs_to_one_pair_of_tenants(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        led.bind_tenant("source", "11111111-aaaa-4aaa-8aaa-111111111111")
        led.bind_tenant("source", "11111111-AAAA-4aaa-8aaa-111111111111")  # the same, whatever the case
        led.bind_tenant("target", "22222222-bbbb-4bbb-8bbb-222222222222")
        with pytest.raises(LedgerError) as refused:
            led.bind_tenant("target", "33333333-cccc-4ccc-8ccc-333333333333")
        assert "state_dir" in refused.value.hint
        assert led.tenants() == {"source": "11111111-aaaa-4aaa-8aaa-111111111111",
                                 "target": "22222222-bbbb-4bbb-8bbb-222222222222"}


def test_a_ledger_written_by_0_1_0_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(str(path))
    old.executescript((Path(__file__).parent / "fixtures" / "ledger_v1.sql").read_text())
    old.close()
    with Ledger(path, run_id="r2") as led:
        assert led.schema == 2
        adele = led.get("user", "u1")
        assert adele.state == "done" and adele.target_id == "t1" and adele.detail == {"upn": "adele@contoso.example"}
        assert led.get("user", "u2").state == "failed" and led.get("user", "u2").error.startswith("403")
        f1 = led.get("file", "f1")  # 0.1.0 overwrote the planned hash with the copied one when done
        assert f1.copied_hash == "BBBBhash" and f1.planned_hash is None and f1.size == 12
        assert [h["state"] for h in led.history("user", "u1")] == ["planned", "done"]
        led.manual("user", "u3", "a state 0.1.0 did not have")
        led.save_delta_link("file", "drive1", "link")
    with Ledger(path) as led:  # and opens again as it is
        assert led.get("user", "u3").state == "manual" and led.delta_link("file", "drive1") == "link"
    assert sqlite3.connect(str(path)).execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_same_tenant_id_created_at_another_time_is_another_tenant(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        assert led.check_tenant("target", "22222222-bbbb-4bbb-8bbb-222222222222") is False  # nothing known yet
        led.bind_tenant("target", "22222222-bbbb-4bbb-8bbb-222222222222", "2026-11-28T01:00:00Z")
        led.bind_tenant("target", "22222222-bbbb-4bbb-8bbb-222222222222", "2026-11-28T01:00:00Z")
        with pytest.raises(LedgerError, match="a fresh sandbox"):
            led.bind_tenant("target", "22222222-bbbb-4bbb-8bbb-222222222222", "2026-11-28T02:00:00Z")
        assert led.tenants() == {"target": "22222222-bbbb-4bbb-8bbb-222222222222"}
