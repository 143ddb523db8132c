"""The ledger: what each phase planned and did, item by item, in SQLite in the migration's state folder.

Every planned item (user, group, DNS record, file, message, ...) is one row keyed by ``(kind, source_id)``:
a rerun plans nothing twice, skips what is done, retries what failed. Every state change is also
appended to ``events`` with the run that made it, so an auditor can see who did what, when.
Writes are transactions; a process killed at any point leaves the last committed state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .audit import utc_now

LEDGER_FILE = "ledger.sqlite"
STATES = ("planned", "done", "failed", "skipped")
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id          INTEGER PRIMARY KEY,
    phase       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    target_id   TEXT,
    name        TEXT,
    size        INTEGER,
    hash        TEXT,
    state       TEXT NOT NULL CHECK (state IN ('planned', 'done', 'failed', 'skipped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    detail      TEXT,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    UNIQUE (kind, source_id)
);
CREATE INDEX IF NOT EXISTS items_kind_state ON items (kind, state);
CREATE INDEX IF NOT EXISTS items_phase ON items (phase);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items (id),
    at          TEXT NOT NULL,
    run_id      TEXT,
    state       TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX IF NOT EXISTS events_item ON events (item);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Planned:
    """An item a phase intends to handle."""

    source_id: str
    name: str = ""
    size: int | None = None
    hash: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Item:
    id: int
    phase: str
    kind: str
    source_id: str
    target_id: str | None
    name: str | None
    size: int | None
    hash: str | None
    state: str
    attempts: int
    error: str | None
    detail: dict[str, Any]
    created: str
    updated: str


def _item(row: sqlite3.Row) -> Item:
    data = dict(row)
    data["detail"] = json.loads(data["detail"]) if data["detail"] else {}
    return Item(**data)


class Ledger:
    """One SQLite file; safe to share between threads of one process (one connection, one lock)."""

    def __init__(self, path: Path, run_id: str = "", batch_size: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', '1')")

    @classmethod
    def in_state_dir(cls, state_dir: Path, run_id: str = "") -> Ledger:
        return cls(Path(state_dir) / LEDGER_FILE, run_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- planning ------------------------------------------------------------------------------
    def plan(self, phase: str, kind: str, items: Iterable[Planned]) -> int:
        """Add items not planned before (by ``(kind, source_id)``); returns how many are new.
        Inserts are committed in batches, so millions of rows plan quickly."""
        added = 0
        batch: list[Planned] = []

        def flush() -> int:
            now = utc_now()
            with self.transaction() as db:
                before = db.total_changes
                watermark = db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
                db.executemany(
                    "INSERT OR IGNORE INTO items (phase, kind, source_id, name, size, hash, state, detail, created, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?)",
                    [(phase, kind, p.source_id, p.name, p.size, p.hash, json.dumps(p.detail) if p.detail else None,
                      now, now) for p in batch])
                new = db.total_changes - before
                db.execute("INSERT INTO events (item, at, run_id, state, note)"
                           " SELECT id, ?, ?, 'planned', 'planned' FROM items WHERE id > ?",
                           (now, self.run_id, watermark))
            return new

        for item in items:
            batch.append(item)
            if len(batch) >= self.batch_size:
                added += flush()
                batch = []
        if batch:
            added += flush()
        return added

    # --- reading -------------------------------------------------------------------------------
    def get(self, kind: str, source_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
        return _item(row) if row else None

    def items(self, kind: str | None = None, states: Iterable[str] | None = None) -> list[Item]:
        sql, args = "SELECT * FROM items WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if states:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        with self._lock:
            return [_item(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def todo(self, kind: str) -> list[Item]:
        """What a (re)run still has to do: planned and failed items."""
        return self.items(kind, ("planned", "failed"))

    def counts(self, phase: str | None = None) -> pd.DataFrame:
        sql = "SELECT phase, kind, state, COUNT(*) AS items FROM items"
        args: list[Any] = []
        if phase:
            sql += " WHERE phase = ?"
            args.append(phase)
        with self._lock:
            rows = [dict(r) for r in self._db.execute(sql + " GROUP BY phase, kind, state ORDER BY phase, kind, state",
                                                       args)]
        return pd.DataFrame(rows, columns=["phase", "kind", "state", "items"])

    def frame(self, kind: str) -> pd.DataFrame:
        rows = [dict(i.__dict__, detail=json.dumps(i.detail) if i.detail else "") for i in self.items(kind)]
        return pd.DataFrame(rows, columns=list(Item.__dataclass_fields__))

    # --- state changes ---------------------------------------------------------------------------
    def _set(self, kind: str, source_id: str, state: str, note: str, **fields: Any) -> None:
        if state not in STATES:
            raise ValueError(state)
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            row = db.execute("SELECT id FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
            if row is None:
                raise KeyError(f"{kind} {source_id} is not in the ledger")
            db.execute(f"UPDATE items SET state = ?, updated = ?{', ' + assignments if fields else ''} WHERE id = ?",
                       (state, utc_now(), *fields.values(), row["id"]))
            db.execute("INSERT INTO events (item, at, run_id, state, note) VALUES (?, ?, ?, ?, ?)",
                       (row["id"], utc_now(), self.run_id, state, note[:2000]))

    def attempt(self, kind: str, source_id: str) -> int:
        """Count an attempt before the work starts (so a crash mid-way still shows it)."""
        with self.transaction() as db:
            db.execute("UPDATE items SET attempts = attempts + 1, updated = ? WHERE kind = ? AND source_id = ?",
                       (utc_now(), kind, source_id))
            row = db.execute("SELECT attempts FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
        if row is None:
            raise KeyError(f"{kind} {source_id} is not in the ledger")
        return int(row["attempts"])

    def done(self, kind: str, source_id: str, target_id: str | None = None, *, hash: str | None = None,
             size: int | None = None, note: str = "done", detail: dict[str, Any] | None = None) -> None:
        fields: dict[str, Any] = {"error": None}
        if target_id is not None:
            fields["target_id"] = target_id
        if hash is not None:
            fields["hash"] = hash
        if size is not None:
            fields["size"] = size
        if detail is not None:
            fields["detail"] = json.dumps(detail)
        self._set(kind, source_id, "done", note, **fields)

    def failed(self, kind: str, source_id: str, error: str) -> None:
        self._set(kind, source_id, "failed", error, error=error[:2000])

    def skipped(self, kind: str, source_id: str, reason: str) -> None:
        self._set(kind, source_id, "skipped", reason, error=None)

    def history(self, kind: str, source_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(
                "SELECT e.at, e.run_id, e.state, e.note FROM events e JOIN items i ON i.id = e.item"
                " WHERE i.kind = ? AND i.source_id = ? ORDER BY e.id", (kind, source_id))]

    # --- evidence --------------------------------------------------------------------------------
    def snapshot(self, dest: Path) -> Path:
        """A consistent copy (SQLite's online backup), e.g. into the run folder at the end of a run."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        with self._lock:
            target = sqlite3.connect(str(dest))
            try:
                self._db.backup(target)
            finally:
                target.close()
        return dest
